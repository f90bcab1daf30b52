"""Card skills: name the playing cards in an image, then score the hand."""

from ._formats import CardHand, Number
from ._skill import Image, skill


@skill(max_tokens=18)
def read_cards(image: Image) -> CardHand:
    """Name the cards in the image."""


@skill(max_tokens=3)
def score_blackjack(hand: CardHand) -> Number:
    """Give the blackjack value of the hand."""

"""Argument helpers shared by the commands."""


def csv(text: str) -> list[str]:
    """A comma-separated list, blanks dropped."""
    return [part.strip() for part in text.split(",") if part.strip()]

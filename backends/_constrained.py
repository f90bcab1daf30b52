"""Constrained decoding helpers: token bytes from the tokenizer's own decoding, and token budgets.

outlines' own conversion (``TransformerTokenizer.convert_token_to_string``) adds a space to every
``▁``-prefixed token of SentencePiece-style tokenizers, so a lone ``▁`` becomes two spaces and a
regex with a single space (``RC GS``, ``… Answer: 7``) cannot be followed. Here each token's bytes
come from the tokenizer itself: byte-level BPE through its byte alphabet, byte-fallback tokens
(``<0x20>``) as their byte, anything else by decoding it after a fixed anchor token (so decoders
that strip a leading space, as Llama 2's does, cannot hide it). The result is checked on every
printable ASCII character before it is used.
"""

from __future__ import annotations

import functools
import json
import re
import string
from collections.abc import Iterable
from typing import Any

_BYTE_FALLBACK = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class TokenizerMismatch(ValueError):
    """Token bytes derived for constrained decoding disagree with the tokenizer's decoding."""


@functools.cache
def _byte_level_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-in character of each byte, inverted (character -> byte)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(char): byte for byte, char in zip(printable, chars, strict=True)}


def _decoder_types(tokenizer: Any) -> set[str]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return set()
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "type" in node:
                found.add(str(node["type"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(backend.to_str()).get("decoder"))
    return found


def token_bytes(tokenizer: Any, token_ids: Iterable[int]) -> dict[int, bytes]:
    """The bytes each token adds to decoded text, for ``token_ids`` (special tokens excluded by
    the caller)."""
    ids = list(token_ids)
    tokens = tokenizer.convert_ids_to_tokens(ids)
    byte_level = "ByteLevel" in _decoder_types(tokenizer)
    alphabet = _byte_level_alphabet()
    anchor = tokenizer.encode("a", add_special_tokens=False)[-1:]
    prefix = tokenizer.decode(anchor, clean_up_tokenization_spaces=False)
    result: dict[int, bytes] = {}
    for token_id, token in zip(ids, tokens, strict=True):
        if token is None:
            continue
        fallback = _BYTE_FALLBACK.fullmatch(token)
        if fallback:
            result[token_id] = bytes([int(fallback.group(1), 16)])
        elif byte_level and all(char in alphabet for char in token):
            result[token_id] = bytes(alphabet[char] for char in token)
        else:
            text = tokenizer.decode([*anchor, token_id], clean_up_tokenization_spaces=False)
            if text.startswith(prefix) and "\ufffd" not in text:
                result[token_id] = text[len(prefix):].encode()
    return result


def check_token_bytes(tokenizer: Any, table: dict[int, bytes]) -> None:
    """Every printable ASCII character (and short strings with spaces) must come out of the table as
    the tokenizer decodes it; raises ``TokenizerMismatch`` naming the first that does not."""
    probes = [*string.printable, "RC GS", "7H KS", "Answer: 12", "3+4-2"]
    specials = set(tokenizer.all_special_ids)
    for probe in probes:
        ids = tokenizer.encode(probe, add_special_tokens=False)
        if any(token_id in specials for token_id in ids):
            continue  # not in the vocabulary (<unk>): a constraint cannot ask for it either
        ours = b"".join(table.get(token_id, b"\x00?") for token_id in ids).decode("utf-8", "replace")
        theirs = tokenizer.decode(ids, clean_up_tokenization_spaces=False)
        # A decoder may strip the leading space a SentencePiece tokenizer prepends (Llama 2).
        if ours != theirs and ours.removeprefix(" ") != theirs:
            raise TokenizerMismatch(
                f"constrained decoding would see {ours!r} where the tokenizer decodes {theirs!r} "
                f"(tokens {tokenizer.convert_ids_to_tokens(ids)}); its token strings cannot be "
                "derived, run with constrained=False"
            )


def longest_token_path(index: Any, eos_id: int) -> int | None:
    """Most tokens any accepted output takes under an outlines-core ``Index`` (EOS excluded), or
    ``None`` when the constraint admits outputs of any length (a loop in its automaton)."""
    transitions: dict[int, dict[int, int]] = index.get_transitions()
    longest: dict[int, int] = {}
    on_path: set[int] = set()

    def visit(state: int) -> int | None:
        if state in longest:
            return longest[state]
        on_path.add(state)
        best = 0
        for next_state in {n for token, n in transitions.get(state, {}).items() if token != eos_id}:
            if next_state in on_path:
                return None
            below = visit(next_state)
            if below is None:
                return None
            best = max(best, below + 1)
        on_path.discard(state)
        longest[state] = best
        return best

    import sys

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        return visit(index.get_initial_state())
    finally:
        sys.setrecursionlimit(limit)

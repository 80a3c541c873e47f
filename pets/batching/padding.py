"""Padding modes: each query's padded length in the token tensor.

- `macro`: the longest query of the batch (the paper's setting);
- `mini`:  the longest query of its mini-batch (PetS's minibatch_lens);
- `none`:  its own length (packed tokens, no padding in the GEMMs; the default).
"""
from __future__ import annotations

from typing import Callable

from pets.errors import InvalidQueryError

PaddingFn = Callable[[list[int], list[int]], list[int]]


def _macro(lengths: list[int], group_of: list[int]) -> list[int]:
    return [max(lengths)] * len(lengths)


def _mini(lengths: list[int], group_of: list[int]) -> list[int]:
    longest: dict[int, int] = {}
    for n, g in zip(lengths, group_of):
        longest[g] = max(longest.get(g, 0), n)
    return [longest[g] for g in group_of]


def _none(lengths: list[int], group_of: list[int]) -> list[int]:
    return list(lengths)


PADDING_MODES: dict[str, PaddingFn] = {"macro": _macro, "mini": _mini, "none": _none}
DEFAULT_PADDING = "none"


def padded_lengths(lengths: list[int], group_of: list[int], padding: str) -> list[int]:
    """Padded length of each query; `group_of[i]` is query i's mini-batch index."""
    try:
        return PADDING_MODES[padding](lengths, group_of)
    except KeyError:
        raise InvalidQueryError(
            f"unknown padding mode {padding!r}; choose one of {sorted(PADDING_MODES)}"
        ) from None

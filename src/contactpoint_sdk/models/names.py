"""How names are folded for comparison: one definition for search and matching.

Search (ACC-4) and identity matching (SUP-7) must fold a name the same way, or
a child found by one would be missed by the other.
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold_name"]

#: Names already folded (the answer depends on nothing but the exact string,
#: and the same names recur across thousands of records); emptied when full.
_FOLDED: dict[str, str] = {}
_FOLDED_SIZE = 1 << 15


def fold_name(name: str) -> str:
    """A name folded for comparison: case and accents folded, letters only.

    ``"O'Neill"``, ``"o neill"`` and ``"Ó Néill"`` give ``"oneill"``.
    """
    if type(name) is not str:  # (only an exact str is remembered)
        return _fold(name)
    folded = _FOLDED.get(name)
    if folded is None:
        folded = _fold(name)
        if len(_FOLDED) >= _FOLDED_SIZE:
            _FOLDED.clear()
        _FOLDED[name] = folded
    return folded


def _fold(name: str) -> str:
    """The folding itself: NFKD of the case-folded name, its letters only
    (``str.isalpha`` of each character, in one C call: ``filter``; a name
    that is all letters already is kept as it is)."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    if decomposed.isalpha():
        return decomposed
    return "".join(filter(str.isalpha, decomposed))

"""How names are folded for comparison: one definition for search and matching.

Search (ACC-4) and identity matching (SUP-7) must fold a name the same way, or
a child found by one would be missed by the other.
"""

from __future__ import annotations

import unicodedata

__all__ = ["fold_name"]


def fold_name(name: str) -> str:
    """A name folded for comparison: case and accents folded, letters only.

    ``"O'Neill"``, ``"o neill"`` and ``"Ó Néill"`` give ``"oneill"``.
    """
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha())

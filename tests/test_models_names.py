"""fold_name (ACC-4 search, SUP-7 matching): remembering and the C-level filter
change nothing: the same folded name as the plain definition, for any text."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactpoint_sdk.models import names
from contactpoint_sdk.models.names import fold_name


def _reference(name: str) -> str:
    """The definition as it was first written."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in decomposed if ch.isalpha())


@settings(max_examples=500)
@given(st.text() | st.sampled_from(["O'Neill", "o neill", "Ó Néill", "Zoë", "ß", "ﬁ", "Ⅻ", ""]))
def test_acc_4_sup_7_fold_name_is_the_plain_definition(name: str) -> None:
    assert fold_name(name) == _reference(name)
    assert fold_name(name) == _reference(name)  # remembered: the same
    names._FOLDED.clear()
    assert fold_name(name) == _reference(name)


def test_acc_4_the_documented_examples() -> None:
    assert {fold_name(n) for n in ("O'Neill", "o neill", "Ó Néill")} == {"oneill"}


def test_the_memo_is_bounded() -> None:
    for i in range(names._FOLDED_SIZE + 10):
        fold_name(f"name{i}")
    assert len(names._FOLDED) <= names._FOLDED_SIZE


@pytest.mark.parametrize("value", [None, 3, ["a"]])
def test_what_is_not_text_fails_as_before(value: object) -> None:
    with pytest.raises(AttributeError) as ours:
        fold_name(value)  # type: ignore[arg-type]
    with pytest.raises(AttributeError) as theirs:
        _reference(value)  # type: ignore[arg-type]
    assert str(ours.value) == str(theirs.value)

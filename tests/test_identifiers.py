"""REC-1: the directory's own identifier and the source identifiers.

Worked examples from shared/spec/FORMATS.md, each refusal with its code, and
hypothesis properties for the check characters.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactpoint_sdk.errors import ValidationError
from contactpoint_sdk.models.identifiers import (
    DIRECTORY_ID_ALPHABET,
    UPN_CHECK_ALPHABET,
    DirectoryId,
    NhsNumber,
    SchoolReference,
    Uln,
    Upn,
    directory_id_check_character,
    nhs_check_digit,
    uln_check_digit,
    upn_check_letter,
)

DIGITS = string.digits


def refusal(excinfo: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    """(code, message) of the single REC-1 problem in a refusal."""
    error = excinfo.value
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert problem.path == ""
    assert problem.rule == "REC-1"
    assert error.code == problem.code
    return problem.code, problem.message


# --- UPN -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "temporary"),
    [("B801200005001", False), ("H801200001001", False), ("G80120000101A", True)],
)
def test_rec_1_upn_worked_examples_are_valid(text: str, temporary: bool) -> None:
    upn = Upn(text)
    assert str(upn) == text
    assert upn.is_temporary is temporary
    assert Upn.is_valid(text)
    assert upn_check_letter(text[1:]) == text[0]


def test_rec_1_upn_worked_example_sum_93_gives_b() -> None:
    body = "801200005001"
    total = sum(int(c) * w for c, w in zip(body, range(2, 14), strict=True))
    assert total == 93
    assert upn_check_letter(body) == UPN_CHECK_ALPHABET[93 % 23] == "B"


def test_rec_1_upn_temporary_final_letter_counts_as_its_alphabet_index() -> None:
    # 'A' is index 0 and 'B' index 1: the sums differ by 13.
    g = UPN_CHECK_ALPHABET.index(upn_check_letter("80120000101A"))
    h = UPN_CHECK_ALPHABET.index(upn_check_letter("80120000101B"))
    assert (h - g) % 23 == 13


def test_rec_1_upn_is_normalised_by_stripping_and_upper_casing() -> None:
    assert Upn("  b801200005001\n") == Upn("B801200005001")
    assert str(Upn("g80120000101a")) == "G80120000101A"
    assert hash(Upn("b801200005001")) == hash(Upn("B801200005001"))
    assert Upn("B801200005001") != Upn("H801200001001")


def test_rec_1_upn_wrong_check_letter_names_the_position_not_the_value() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Upn("C801200005001")
    code, message = refusal(excinfo)
    assert code == "upn_check_letter"
    assert "character 1" in message
    # no part of the identifier, nor the letter it should have: messages reach logs
    assert "'B'" not in message
    assert "'C'" not in message
    assert "801200005001" not in message


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        ("B80120000500", "upn_length", "13 characters"),
        ("B8012000050011", "upn_length", "13 characters"),
        ("", "upn_length", "got 0"),
        ("B8O1200005001", "upn_la_code", "characters 2–4"),
        ("BX01200005001", "upn_la_code", "local authority code"),
        ("B80120000A001", "upn_not_numeric", "characters 5–12"),
        ("B801200005O01", "upn_not_numeric", "characters 5–12"),
        ("B80120000500I", "upn_character_13", "character 13"),
        ("B80120000500-", "upn_character_13", "character 13"),
        ("8012000050012", "upn_check_letter", "character 1"),
    ],
)
def test_rec_1_upn_refusals_are_worded_by_position(text: str, code: str, words: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Upn(text)
    got_code, message = refusal(excinfo)
    assert got_code == code
    assert words in message
    assert not Upn.is_valid(text)


def test_rec_1_upn_refuses_non_ascii_digits() -> None:
    # str.isdigit() is True for these; a UPN is ASCII only.
    with pytest.raises(ValidationError):
        Upn("B80120000500١")
    with pytest.raises(ValidationError):
        Upn("B8²1200005001")


def test_rec_1_upn_refuses_non_text() -> None:
    with pytest.raises(ValidationError):
        Upn(801200005001)  # type: ignore[arg-type]


def test_rec_1_upn_check_letter_refuses_a_malformed_body() -> None:
    with pytest.raises(ValidationError):
        upn_check_letter("80120000500")
    with pytest.raises(ValidationError):
        upn_check_letter("8012000050O1")
    with pytest.raises(ValidationError):
        upn_check_letter("80120000500S")


upn_bodies = st.builds(
    lambda head, last: head + last,
    st.text(DIGITS, min_size=11, max_size=11),
    st.sampled_from(DIGITS + UPN_CHECK_ALPHABET),
)


@given(upn_bodies)
def test_rec_1_upn_computed_check_letter_validates_and_round_trips(body: str) -> None:
    upn = Upn(upn_check_letter(body) + body)
    assert Upn(str(upn)) == upn
    assert Upn(str(upn).lower()) == upn
    assert upn.is_temporary is body[-1].isalpha()


@given(upn_bodies, st.sampled_from(UPN_CHECK_ALPHABET))
def test_rec_1_upn_every_other_check_letter_is_refused(body: str, letter: str) -> None:
    right = upn_check_letter(body)
    if letter == right:
        assert Upn.is_valid(letter + body)
        return
    with pytest.raises(ValidationError) as excinfo:
        Upn(letter + body)
    assert refusal(excinfo)[0] == "upn_check_letter"


@given(upn_bodies, st.integers(0, 10), st.integers(1, 9))
def test_rec_1_upn_any_single_digit_change_is_caught(body: str, position: int, delta: int) -> None:
    upn = upn_check_letter(body) + body
    changed = str((int(body[position]) + delta) % 10)
    mutated = upn[: position + 1] + changed + upn[position + 2 :]
    assert mutated != upn
    assert not Upn.is_valid(mutated)


# --- ULN -------------------------------------------------------------------------


def test_rec_1_uln_worked_example_1000000043() -> None:
    assert uln_check_digit("100000004") == "3"
    assert str(Uln(" 1000000043 ")) == "1000000043"
    assert Uln.is_valid("1000000043")


def test_rec_1_uln_placeholder_is_refused_with_its_own_code() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Uln("9999999999")
    code, message = refusal(excinfo)
    assert code == "uln_placeholder"
    assert "identifies no one" in message
    assert "omit" in message
    assert Uln.PLACEHOLDER == "9999999999"


def test_rec_1_uln_wrong_check_digit_names_the_position_not_the_value() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Uln("1000000044")
    code, message = refusal(excinfo)
    assert code == "uln_check_digit"
    assert "character 10" in message
    assert "'3'" not in message
    assert "'4'" not in message


def test_rec_1_uln_body_with_no_check_digit_is_refused() -> None:
    # A body whose weighted sum is a multiple of 11 has no check digit (r = 0).
    zero_body = next(
        f"{n:09d}" for n in range(100000000, 100010000) if uln_check_digit(f"{n:09d}") is None
    )
    total = sum(int(c) * w for c, w in zip(zero_body, range(10, 1, -1), strict=True))
    assert total % 11 == 0
    for last in DIGITS:
        with pytest.raises(ValidationError) as excinfo:
            Uln(zero_body + last)
        code, message = refusal(excinfo)
        assert code == "uln_check_digit"
        assert "no ULN begins with these nine digits" in message


@pytest.mark.parametrize("text", ["100000004", "10000000430", "10000O0043", "", "1000 000043"])
def test_rec_1_uln_wrong_shape_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Uln(text)
    code, message = refusal(excinfo)
    assert code == "uln_format"
    assert "10 digits" in message


@given(st.text(DIGITS, min_size=9, max_size=9))
def test_rec_1_uln_computed_check_digit_validates(body: str) -> None:
    check = uln_check_digit(body)
    if check is None:
        assert not any(Uln.is_valid(body + d) for d in DIGITS)
        return
    uln = Uln(body + check)
    assert Uln(str(uln)) == uln
    assert [d for d in DIGITS if Uln.is_valid(body + d)] == [check]


# --- NHS number ------------------------------------------------------------------


def test_rec_1_nhs_number_worked_example_9434765919() -> None:
    assert nhs_check_digit("943476591") == "9"
    number = NhsNumber("9434765919")
    assert str(number) == "9434765919"
    assert number.formatted == "943 476 5919"
    assert not number.is_test_range


@pytest.mark.parametrize("text", ["943 476 5919", "943-476-5919", " 9434765919 ", "943 476-5919"])
def test_rec_1_nhs_number_accepts_spaces_and_hyphens(text: str) -> None:
    assert NhsNumber(text) == NhsNumber("9434765919")
    assert NhsNumber.is_valid(text)


def test_rec_1_nhs_number_wrong_check_digit_names_the_position_not_the_value() -> None:
    with pytest.raises(ValidationError) as excinfo:
        NhsNumber("9434765918")
    code, message = refusal(excinfo)
    assert code == "nhs_number_check_digit"
    assert "character 10" in message
    assert "'9'" not in message
    assert "'8'" not in message


def test_rec_1_nhs_number_check_10_means_invalid() -> None:
    body = next(
        f"{n:09d}" for n in range(943476000, 943477000) if nhs_check_digit(f"{n:09d}") is None
    )
    for last in DIGITS:
        with pytest.raises(ValidationError) as excinfo:
            NhsNumber(body + last)
        assert refusal(excinfo)[0] == "nhs_number_check_digit"


def test_rec_1_nhs_number_check_11_becomes_0() -> None:
    body = next(
        f"{n:09d}"
        for n in range(943476000, 943477000)
        if sum(int(c) * w for c, w in zip(f"{n:09d}", range(10, 1, -1), strict=True)) % 11 == 0
    )
    assert nhs_check_digit(body) == "0"
    assert NhsNumber.is_valid(body + "0")


@pytest.mark.parametrize("text", ["943476591", "94347659199", "943.476.5919", "", "943476591X"])
def test_rec_1_nhs_number_wrong_shape_is_refused(text: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        NhsNumber(text)
    assert refusal(excinfo)[0] == "nhs_number_format"


@given(st.text(DIGITS, min_size=9, max_size=9))
def test_rec_1_nhs_number_computed_check_digit_validates(body: str) -> None:
    check = nhs_check_digit(body)
    if check is None:
        assert not any(NhsNumber.is_valid(body + d) for d in DIGITS)
        return
    number = NhsNumber(body + check)
    assert NhsNumber(str(number)) == number
    assert NhsNumber(number.formatted) == number
    assert number.is_test_range is body.startswith("999")


def test_rec_1_nhs_number_test_range_is_recognised() -> None:
    body = next(f"999{n:06d}" for n in range(1000) if nhs_check_digit(f"999{n:06d}") is not None)
    check = nhs_check_digit(body)
    assert check is not None
    assert NhsNumber(body + check).is_test_range


# --- School reference ------------------------------------------------------------


def test_rec_1_school_reference_canonical_form_and_parse() -> None:
    ref = SchoolReference("8012000", "A1234")
    assert str(ref) == "8012000/A1234"
    assert SchoolReference.parse("8012000/A1234") == ref
    assert SchoolReference.parse(" 801/2000/a1234 ") == ref
    assert SchoolReference("801/2000", " a1234 ") == ref
    assert SchoolReference.is_valid("8012000/A1234")


def test_rec_1_school_reference_may_contain_slashes() -> None:
    ref = SchoolReference.parse("8012000/2019/A-12")
    assert ref.establishment == "8012000"
    assert ref.reference == "2019/A-12"
    assert SchoolReference.parse(str(ref)) == ref


@pytest.mark.parametrize("establishment", ["801200", "80120001", "801200X", "", "801/200"])
def test_rec_1_school_reference_needs_a_7_digit_laestab(establishment: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        SchoolReference(establishment, "A1234")
    code, message = refusal(excinfo)
    assert code == "school_reference_establishment"
    assert "LAESTAB" in message


@pytest.mark.parametrize("reference", ["", "A" * 21, "A 1234", "A_1234", "Ä1234", "A.1"])
def test_rec_1_school_reference_format_is_refused(reference: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        SchoolReference("8012000", reference)
    assert refusal(excinfo)[0] == "school_reference_format"


def test_rec_1_school_reference_parse_needs_a_separator() -> None:
    with pytest.raises(ValidationError) as excinfo:
        SchoolReference.parse("8012000A1234")
    code, message = refusal(excinfo)
    assert code == "school_reference_parse"
    assert "8012000/A1234" in message
    assert not SchoolReference.is_valid("8012000A1234")


@given(
    st.text(DIGITS, min_size=7, max_size=7),
    st.text(string.ascii_letters + DIGITS + "-/", min_size=1, max_size=20),
)
def test_rec_1_school_reference_round_trips(establishment: str, reference: str) -> None:
    ref = SchoolReference(establishment, reference)
    assert SchoolReference.parse(str(ref)) == ref
    assert ref.reference == reference.upper()


# --- Directory identifier --------------------------------------------------------


def test_rec_1_directory_id_alphabet_is_crockford_without_z() -> None:
    assert len(DIRECTORY_ID_ALPHABET) == len(set(DIRECTORY_ID_ALPHABET)) == 31
    assert not set("ILOUZ") & set(DIRECTORY_ID_ALPHABET)


def test_rec_1_directory_id_weights_are_distinct_because_3_is_a_primitive_root() -> None:
    assert sorted(pow(3, i, 31) for i in range(30)) == list(range(1, 31))


def test_rec_1_directory_id_canonical_form_is_three_groups_of_four() -> None:
    ident = DirectoryId("7KQ4M2XD9HT2")
    assert str(ident) == "7KQ4-M2XD-9HT2"
    assert ident.compact == "7KQ4M2XD9HT2"
    assert directory_id_check_character("7KQ4M2XD9HT") == "2"


@pytest.mark.parametrize(
    "typed",
    ["7kq4-m2xd-9ht2", " 7KQ4 M2XD 9HT2 ", "7KQ4--M2XD-9HT2", "7kq4m2xd9ht2"],
)
def test_rec_1_directory_id_parsing_is_forgiving(typed: str) -> None:
    assert DirectoryId(typed) == DirectoryId("7KQ4-M2XD-9HT2")


def test_rec_1_directory_id_reads_i_and_l_as_1_and_o_as_0() -> None:
    ident = DirectoryId.from_int(31)  # body ends "...10": 1 * 31 + 0
    assert ident.compact[9:11] == "10"
    typed_i = ident.compact[:9] + "IO" + ident.compact[11]
    typed_l = ident.compact[:9] + "lo" + ident.compact[11]
    assert DirectoryId(typed_i) == ident
    assert DirectoryId(typed_l) == ident


@pytest.mark.parametrize("bad", ["U", "Z", "u", "*", "é"])
def test_rec_1_directory_id_refuses_symbols_outside_the_alphabet(bad: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        DirectoryId("7KQ4-M2XD-9HT" + bad)
    code, message = refusal(excinfo)
    assert code == "directory_id_symbol"
    assert repr(bad) in message


@pytest.mark.parametrize("text", ["7KQ4-M2XD-9HT", "7KQ4-M2XD-9HT22", ""])
def test_rec_1_directory_id_refuses_wrong_length(text: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        DirectoryId(text)
    assert refusal(excinfo)[0] == "directory_id_length"


def test_rec_1_directory_id_wrong_check_character_is_probably_mistyped() -> None:
    with pytest.raises(ValidationError) as excinfo:
        DirectoryId("7KQ4-M2XD-9HT3")
    code, message = refusal(excinfo)
    assert code == "directory_id_check_character"
    assert message.startswith("wrong check character")
    assert "probably mistyped" in message
    assert "'2'" not in message  # the right character is not handed out


def _random_ids(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [DirectoryId.new(rng).compact for _ in range(count)]


def test_rec_1_directory_id_every_single_substitution_is_refused() -> None:
    for compact in _random_ids(200, seed=1):
        assert DirectoryId.is_valid(compact)
        for position, original in enumerate(compact):
            for symbol in DIRECTORY_ID_ALPHABET:
                if symbol != original:
                    mutated = compact[:position] + symbol + compact[position + 1 :]
                    assert not DirectoryId.is_valid(mutated), (compact, position, symbol)


def test_rec_1_directory_id_every_adjacent_transposition_is_refused() -> None:
    checked = 0
    for compact in _random_ids(200, seed=2):
        for position in range(len(compact) - 1):
            a, b = compact[position], compact[position + 1]
            if a == b:
                continue
            mutated = compact[:position] + b + a + compact[position + 2 :]
            assert not DirectoryId.is_valid(mutated), (compact, position)
            checked += 1
    assert checked > 2000


def test_rec_1_directory_id_every_transposition_is_refused() -> None:
    for compact in _random_ids(200, seed=3):
        for i in range(12):
            for j in range(i + 1, 12):
                if compact[i] != compact[j]:
                    chars = list(compact)
                    chars[i], chars[j] = chars[j], chars[i]
                    assert not DirectoryId.is_valid("".join(chars))


def test_rec_1_directory_id_new_uses_the_given_rng_deterministically() -> None:
    assert DirectoryId.new(random.Random(7)) == DirectoryId.new(random.Random(7))
    fresh = {DirectoryId.new() for _ in range(50)}
    assert len(fresh) == 50


def test_rec_1_directory_id_from_int_bounds() -> None:
    assert str(DirectoryId.from_int(0)) == "0000-0000-0000"
    assert DirectoryId.from_int(31**11 - 1).to_int() == 31**11 - 1
    for n in (-1, 31**11):
        with pytest.raises(ValidationError) as excinfo:
            DirectoryId.from_int(n)
        assert refusal(excinfo)[0] == "directory_id_out_of_range"
    with pytest.raises(ValidationError):
        DirectoryId.from_int(True)


@given(st.integers(0, 31**11 - 1))
def test_rec_1_directory_id_from_int_round_trips(n: int) -> None:
    ident = DirectoryId.from_int(n)
    assert ident.to_int() == n
    assert DirectoryId(str(ident)) == ident
    assert DirectoryId(ident.compact.lower()) == ident
    assert directory_id_check_character(ident.compact[:11]) == ident.compact[11]


@given(st.text(DIRECTORY_ID_ALPHABET, min_size=11, max_size=11))
def test_rec_1_directory_id_computed_check_character_validates(body: str) -> None:
    ident = DirectoryId(body + directory_id_check_character(body))
    assert ident.compact[:11] == body


def test_rec_1_directory_id_check_character_refuses_non_canonical_body() -> None:
    with pytest.raises(ValidationError):
        directory_id_check_character("7KQ4M2XD9HU")
    with pytest.raises(ValidationError):
        directory_id_check_character("7KQ4M2XD9H")


# --- Any text: nothing but ValidationError -----------------------------------------

likely_text = st.one_of(
    st.text(),
    st.text(string.ascii_letters + DIGITS + " -/", max_size=16),
    st.text(DIGITS + " -", min_size=9, max_size=14),
)


def _attempt(make: Callable[[str], object], text: str) -> tuple[object, ValidationError | None]:
    """``make(text)`` and the ValidationError it raised, if any (anything else propagates)."""
    try:
        return make(text), None
    except ValidationError as error:
        return None, error


@given(likely_text)
def test_rec_1_constructors_raise_only_validation_error(text: str) -> None:
    for cls in (Upn, Uln, NhsNumber, DirectoryId):
        value, error = _attempt(cls, text)
        if error is not None:
            assert error.rule == "REC-1"
            assert len(error.problems) == 1
            assert not cls.is_valid(text)
        else:
            assert cls.is_valid(text)
            assert cls(str(value)) == value
    ref, error = _attempt(SchoolReference.parse, text)
    if error is not None:
        assert error.rule == "REC-1"
        assert not SchoolReference.is_valid(text)
    else:
        assert SchoolReference.parse(str(ref)) == ref

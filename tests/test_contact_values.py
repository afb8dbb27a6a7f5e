"""REC-2, REC-3: contact values (postcode, phone number, email address).

Postcode formats from shared/spec/FORMATS.md; each refusal with its code;
hypothesis properties over generated postcodes and numbers.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from contactpoint_sdk.errors import ValidationError
from contactpoint_sdk.models.contact import EmailAddress, PhoneNumber, Postcode

LETTERS = string.ascii_uppercase
DIGITS = string.digits
INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # A-Z without C I K M O V
EXCLUDED_INWARD = "CIKMOV"
FORMATS = ("A9 9AA", "A99 9AA", "A9A 9AA", "AA9 9AA", "AA99 9AA", "AA9A 9AA")


def refusal(excinfo: pytest.ExceptionInfo[ValidationError]) -> tuple[str, str]:
    """(code, message) of the single problem in a refusal, which has no rule."""
    error = excinfo.value
    assert len(error.problems) == 1
    problem = error.problems[0]
    assert problem.path == ""
    assert problem.rule is None
    assert error.code == problem.code
    return problem.code, problem.message


def matches_a_format(text: str) -> bool:
    """An independent oracle: does ``text`` fit one template of FORMATS.md?"""
    if text == "GIR 0AA":
        return True
    for template in FORMATS:
        if len(template) != len(text):
            continue
        inward_start = len(template) - 3
        ok = True
        for index, (kind, char) in enumerate(zip(template, text, strict=True)):
            if kind == " ":
                ok = char == " "
            elif kind == "9":
                ok = char in DIGITS
            elif index > inward_start:
                ok = char in INWARD_LETTERS
            else:
                ok = char in LETTERS
            if not ok:
                break
        if ok:
            return True
    return False


# --- Postcode --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical", "outward", "inward", "area"),
    [
        ("M1 1AE", "M1 1AE", "M1", "1AE", "M"),
        ("B33 8TH", "B33 8TH", "B33", "8TH", "B"),
        ("W1A 0AX", "W1A 0AX", "W1A", "0AX", "W"),
        ("CR2 6XH", "CR2 6XH", "CR2", "6XH", "CR"),
        ("DN55 1PT", "DN55 1PT", "DN55", "1PT", "DN"),
        ("EC1A 1BB", "EC1A 1BB", "EC1A", "1BB", "EC"),
        ("GIR 0AA", "GIR 0AA", "GIR", "0AA", "GIR"),
        ("sw1a1aa", "SW1A 1AA", "SW1A", "1AA", "SW"),
        ("  sw1a   1aa ", "SW1A 1AA", "SW1A", "1AA", "SW"),
        ("BF1 3AA", "BF1 3AA", "BF1", "3AA", "BF"),
    ],
)
def test_rec_2_postcode_accepts_the_bs7666_formats(
    text: str, canonical: str, outward: str, inward: str, area: str
) -> None:
    postcode = Postcode(text)
    assert str(postcode) == canonical
    assert (postcode.outward, postcode.inward, postcode.area) == (outward, inward, area)
    assert Postcode.is_valid(text)
    assert Postcode(canonical) == postcode
    assert hash(Postcode(canonical)) == hash(postcode)


@pytest.mark.parametrize("text", ["ZZ99 3CZ", "zz993vz", "ZZ99 3WZ", "ZZ99 1AA"])
def test_rec_2_postcode_refuses_nhs_pseudo_postcodes(text: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Postcode(text)
    code, message = refusal(excinfo)
    assert code == "postcode_pseudo"
    assert "omit the postcode" in message
    assert not Postcode.is_valid(text)


@pytest.mark.parametrize("text", ["BFPO 61", "bfpo61", "BFPO 1234", "BFPO"])
def test_rec_2_postcode_refuses_bfpo_numbers_and_asks_for_the_bf1_postcode(text: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Postcode(text)
    code, message = refusal(excinfo)
    assert code == "postcode_bfpo"
    assert "BF1 postcode" in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("SW1A 1AC", "inward code"),  # C is never an inward letter
        ("SW1A 1IA", "inward code"),
        ("SW1A AAA", "inward code"),
        ("9W1A 1AA", "outward code"),
        ("SWA1 1AA", "outward code"),
        ("S1AA 1AA", "outward code"),
        ("GIR 1AA", "outward code"),
        ("SW1 A", "5 to 7 characters"),
        ("SW1AA 1AA", "5 to 7 characters"),
        ("", "5 to 7 characters"),
        ("ASCN 1ZZ", "outward code"),
        ("SW1A 1AÁ", "inward code"),
    ],
)
def test_rec_2_postcode_refuses_what_breaks_the_format(text: str, words: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        Postcode(text)
    code, message = refusal(excinfo)
    assert code == "postcode_invalid"
    assert words in message
    assert text.strip() not in message or not text.strip()  # the value is not echoed


@pytest.mark.parametrize(
    "text",
    ["SW1A 1AAX", "XSW1A 1AA", "GIR 0AAX", "XGIR 0AA", "SW1A 1AA SW1A 1AA", "GIR 0AA M1 1AE"],
)
def test_rec_2_postcode_is_a_full_match_not_half_anchored(text: str) -> None:
    assert not Postcode.is_valid(text)
    with pytest.raises(ValidationError):
        Postcode(text)


def test_rec_2_postcode_refuses_non_text() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Postcode(12345)  # type: ignore[arg-type]
    assert refusal(excinfo)[0] == "postcode_invalid"


letter = st.sampled_from(LETTERS)
digit = st.sampled_from(DIGITS)
inward_letter = st.sampled_from(INWARD_LETTERS)


@st.composite
def postcodes(draw: st.DrawFn) -> str:
    template = draw(st.sampled_from(FORMATS))
    out = []
    for index, kind in enumerate(template):
        if kind == " ":
            out.append(" ")
        elif kind == "9":
            out.append(draw(digit))
        elif index >= len(template) - 2:
            out.append(draw(inward_letter))
        else:
            out.append(draw(letter))
    text = "".join(out)
    assume(not text.startswith("ZZ99"))
    return text


@given(postcodes())
def test_rec_2_postcode_generated_from_the_six_formats_are_accepted(text: str) -> None:
    postcode = Postcode(text)
    assert str(postcode) == text
    assert Postcode(text.lower().replace(" ", "")) == postcode
    assert Postcode(str(postcode)) == postcode
    assert postcode.outward + " " + postcode.inward == text
    assert postcode.area.isalpha()
    assert postcode.outward.startswith(postcode.area)


@given(postcodes(), st.integers(1, 2), st.sampled_from(EXCLUDED_INWARD))
def test_rec_2_postcode_excluded_inward_letter_is_refused(
    text: str, position: int, bad: str
) -> None:
    index = len(text) - 3 + position
    mutated = text[:index] + bad + text[index + 1 :]
    with pytest.raises(ValidationError) as excinfo:
        Postcode(mutated)
    assert refusal(excinfo)[0] == "postcode_invalid"


@given(postcodes(), letter)
def test_rec_2_postcode_letter_for_inward_digit_is_refused(text: str, bad: str) -> None:
    index = len(text) - 3
    assert not Postcode.is_valid(text[:index] + bad + text[index + 1 :])


@given(postcodes(), digit)
def test_rec_2_postcode_digit_for_first_letter_is_refused(text: str, bad: str) -> None:
    assert not Postcode.is_valid(bad + text[1:])


@given(postcodes(), st.text(DIGITS, min_size=2, max_size=2))
def test_rec_2_postcode_three_digits_in_a_row_are_refused(text: str, extra: str) -> None:
    outward, inward = text.split(" ")
    assert not Postcode.is_valid(f"{outward}{extra} {inward}")


@given(postcodes(), st.integers(0, 7), st.sampled_from("!-.,/'Éß"))
def test_rec_2_postcode_punctuation_or_non_ascii_is_refused(
    text: str, position: int, bad: str
) -> None:
    position = min(position, len(text))
    assert not Postcode.is_valid(text[:position] + bad + text[position:])


@given(st.text(LETTERS + DIGITS + " ", min_size=5, max_size=9))
def test_rec_2_postcode_agrees_with_the_format_templates(text: str) -> None:
    compact = text.replace(" ", "")
    canonical = f"{compact[:-3]} {compact[-3:]}"
    expected = (
        5 <= len(compact) <= 7
        and matches_a_format(canonical)
        and not compact.startswith(("ZZ99", "BFPO"))
    )
    assert Postcode.is_valid(text) is expected


# --- Phone number ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "e164", "national"),
    [
        ("01632 960123", "+441632960123", "01632 960123"),
        ("07700 900123", "+447700900123", "07700 900123"),
        ("+44 1632 960123", "+441632960123", "01632 960123"),
        ("+44 (0)1632 960123", "+441632960123", "01632 960123"),
        ("0044 7700 900123", "+447700900123", "07700 900123"),
        ("(01632) 960-123", "+441632960123", "01632 960123"),
        ("+44-7700-900123", "+447700900123", "07700 900123"),
        ("020 7946 0123", "+442079460123", "020 7946 0123"),
        ("0113 496 0123", "+441134960123", "0113 496 0123"),
        ("0121 496 0123", "+441214960123", "0121 496 0123"),
        ("0300 123 4567", "+443001234567", "0300 123 4567"),
        ("016977 3456", "+44169773456", "01697 73456"),
    ],
)
def test_rec_2_phone_number_normalises_to_e164(text: str, e164: str, national: str) -> None:
    phone = PhoneNumber(text)
    assert str(phone) == e164
    assert phone.national == national
    assert PhoneNumber(phone.national) == phone
    assert PhoneNumber(e164) == phone
    assert PhoneNumber.is_valid(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("+33 1 23 45 67 89", "+44"),
        ("001 555 0100 123", "+44"),
        ("1632 960123", "starts with 0"),
        ("01632 9601", "9 or 10 digits"),
        ("01632 9601234", "9 or 10 digits"),
        ("01632 960123 ext 4", "only digits"),
        ("0163A 960123", "only digits"),
        ("01632.960123", "only digits"),
        ("+44", "9 or 10 digits"),
        ("", "starts with 0"),
        ("01632 ９60123", "only digits"),
    ],
)
def test_rec_2_phone_number_refusals(text: str, words: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        PhoneNumber(text)
    code, message = refusal(excinfo)
    assert code == "phone_invalid"
    assert words in message
    assert not PhoneNumber.is_valid(text)


def test_rec_2_phone_number_drama_ranges_are_recognised() -> None:
    assert PhoneNumber("01632 960000").is_drama_range
    assert PhoneNumber("01632 960999").is_drama_range
    assert PhoneNumber("07700 900456").is_drama_range
    assert not PhoneNumber("01632 961000").is_drama_range
    assert not PhoneNumber("07700 901000").is_drama_range


national_numbers = st.builds(
    lambda first, rest: first + rest,
    st.sampled_from("123456789"),
    st.text(DIGITS, min_size=8, max_size=9),
)


@given(national_numbers)
def test_rec_2_phone_number_any_uk_length_round_trips(digits: str) -> None:
    phone = PhoneNumber("0" + digits)
    assert str(phone) == "+44" + digits
    assert PhoneNumber(str(phone)) == phone
    assert PhoneNumber(phone.national) == phone
    assert PhoneNumber("+44 (0)" + digits) == phone
    assert phone.national.replace(" ", "") == "0" + digits


# --- Email address ---------------------------------------------------------------


def test_rec_2_email_lower_cases_the_domain_only() -> None:
    email = EmailAddress("  Parent.Name@Example.ORG.uk ")
    assert str(email) == "Parent.Name@example.org.uk"
    assert email.local_part == "Parent.Name"
    assert email.domain == "example.org.uk"
    assert EmailAddress("Parent.Name@example.org.uk") == email
    assert EmailAddress("parent.name@example.org.uk") != email


def test_rec_2_email_length_limits_are_inclusive() -> None:
    assert EmailAddress.is_valid("a" * 64 + "@example.org")
    assert not EmailAddress.is_valid("a" * 65 + "@example.org")
    domain = "d" * (254 - 2 - 4) + ".org"
    assert EmailAddress.is_valid("a@" + domain)
    assert not EmailAddress.is_valid("ab@" + domain)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("parent.example.org", "exactly one @"),
        ("a@@example.org", "exactly one @"),
        ("a@b@example.org", "exactly one @"),
        ("@example.org", "before the @"),
        ("parent@localhost", "at least one dot"),
        ("parent@example..org", "no empty parts"),
        ("parent@.example.org", "no empty parts"),
        ("parent@example.org.", "no empty parts"),
        ("a parent@example.org", "spaces"),
        ("parent@exa mple.org", "spaces"),
        ("parent\t@example.org", "control characters"),
        ("parent\u00a0x@example.org", "spaces"),
        ("", "empty"),
        ("a" * 65 + "@example.org", "at most 64"),
        ("a@" + "d" * 250 + ".org", "at most 254"),
    ],
)
def test_rec_2_email_refusals(text: str, words: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        EmailAddress(text)
    code, message = refusal(excinfo)
    assert code == "email_invalid"
    assert words in message
    assert not EmailAddress.is_valid(text)


# --- Any text: nothing but ValidationError -----------------------------------------

likely_text = st.one_of(
    st.text(),
    st.text(LETTERS + string.ascii_lowercase + DIGITS + " +-()@.", max_size=20),
)


@given(likely_text)
def test_rec_2_constructors_raise_only_validation_error(text: str) -> None:
    for cls in (Postcode, PhoneNumber, EmailAddress):
        error: ValidationError | None = None
        try:
            value = cls(text)
        except ValidationError as caught:
            error = caught
        if error is not None:
            assert len(error.problems) == 1
            assert error.rule is None
            assert not cls.is_valid(text)
        else:
            assert cls.is_valid(text)
            assert cls(str(value)) == value


def test_rec_2_zz9_outward_code_is_a_format_not_a_pseudo_postcode() -> None:
    """Found by hypothesis: "ZZ9 9AA" compacts to "ZZ99AA" but its outward code is
    ZZ9; only the outward code ZZ99 marks an NHS pseudo-postcode."""
    assert str(Postcode("zz9 9aa")) == "ZZ9 9AA"
    with pytest.raises(ValidationError) as caught:
        Postcode("zz99 3cz")
    assert caught.value.code == "postcode_pseudo"

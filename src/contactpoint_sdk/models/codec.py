"""The one wire codec: JSON-ready dicts <-> models, on a single cattrs converter.

Strict in every direction a supplier could go wrong:

- an unknown key anywhere is refused with its path
  (``parents[1].notes: unknown field (REC-6)``): the record has no place for
  case information, so the wire has none either;
- wrong types are refused, not coerced (``"12"`` is not an int, a string is
  not a list, ``1`` is not ``true``);
- missing required fields, unknown enum values and impossible dates are refused;
- a child's date of birth may not be in the future or more than 25 years ago
  (REC-1, RET-2), judged on the UK date the caller's clock gives.

Every problem in a document is reported together in one
:class:`~contactpoint_sdk.errors.ValidationError`. Nothing but that error
escapes :meth:`WireCodec.decode`, whatever the input.

Encoding omits fields that hold their default (``None``, ``()``, ``false``),
so documents stay small; decoding restores them, so a round trip is exact.
"""

from __future__ import annotations

import contextvars
import enum
import re
import typing
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from contactpoint_sdk.clock import Clock, SystemClock
from contactpoint_sdk.errors import Problem, ValidationError
from contactpoint_sdk.models.contact import EmailAddress, PhoneNumber, Postcode
from contactpoint_sdk.models.identifiers import DirectoryId, NhsNumber, Uln, Upn
from contactpoint_sdk.models.operations import OPERATION_TAGS, AnyOperation
from contactpoint_sdk.models.record import ChildRecord, LocalAuthorityCarer, ParentCarer
from contactpoint_sdk.models.views import VIEW_TAGS, AnyChildView

__all__ = ["MAX_AGE_YEARS", "WireCodec", "default_codec"]

T = TypeVar("T")

#: The oldest a record's subject can be: the 25th birthday ends every extension (RET-2).
MAX_AGE_YEARS = 25

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_today: contextvars.ContextVar[date | None] = contextvars.ContextVar("today", default=None)

#: Wire tag of each member of the parents/carers union.
_CARER_TAGS: dict[type, str] = {ParentCarer: "person", LocalAuthorityCarer: "local_authority"}


class _WrongType(TypeError):
    """A value of the wrong JSON type; becomes a ``wrong_type`` problem."""


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> None:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise _WrongType(f"expected {what}, got {_json_type(value)}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _structure_str(value: Any, _: type) -> str:
    _expect(value, str, "a string")
    return typing.cast(str, value)


def _structure_bool(value: Any, _: type) -> bool:
    _expect(value, bool, "true or false")
    return typing.cast(bool, value)


def _structure_int(value: Any, _: type) -> int:
    _expect(value, int, "a whole number")
    return typing.cast(int, value)


def _structure_date(value: Any, _: type) -> date:
    _expect(value, str, "a date (YYYY-MM-DD)")
    if not _DATE_RE.fullmatch(value):
        raise ValidationError.single(
            f"{value!r} is not a date in the form YYYY-MM-DD", code="date_invalid"
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError.single(f"{value!r} is not a real date", code="date_invalid") from None


def _structure_datetime(value: Any, _: type) -> datetime:
    _expect(value, str, "a date and time (ISO 8601 with a UTC offset)")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError.single(
            f"{value!r} is not an ISO 8601 date and time", code="datetime_invalid"
        ) from None
    if moment.tzinfo is None:
        raise ValidationError.single(
            f"{value!r} has no UTC offset; give one (for example Z or +01:00)",
            code="datetime_invalid",
        )
    return moment


def _structure_enum(value: Any, cls: type[enum.Enum]) -> enum.Enum:
    _expect(value, str, "a string")
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in cls)
        raise ValidationError.single(
            f"unknown value {value!r}; expected one of {allowed}", code="unknown_value"
        ) from None


def _age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _structure_date_of_birth(value: Any, cls: type) -> date:
    """A child's date of birth: a real date, not in the future, and not more
    than 25 years ago (REC-1; RET-2 ends every extension at the 25th birthday)."""
    born = _structure_date(value, cls)
    today = _today.get()
    if today is not None:
        if born > today:
            raise ValidationError.single(
                f"date of birth {born.isoformat()} is in the future",
                code="date_of_birth_in_future",
                rule="REC-1",
            )
        if _age_on(born, today) >= MAX_AGE_YEARS:
            raise ValidationError.single(
                f"date of birth {born.isoformat()} is {MAX_AGE_YEARS} or more years ago: "
                "no record is kept past the 25th birthday",
                code="date_of_birth_too_old",
                rule="RET-2",
            )
    return born


def _tuple_hook_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """Lists only (a string or object is not a list), each item checked, errors by index."""
    (item_type, _) = typing.get_args(tp)
    item_hook = converter.get_structure_hook(item_type)

    def structure(value: Any, _: Any) -> tuple[Any, ...]:
        _expect(value, list, "a list")
        out = []
        errors: list[Exception] = []
        for i, item in enumerate(value):
            try:
                out.append(item_hook(item, item_type))
            except Exception as exc:
                exc.__notes__ = [
                    *getattr(exc, "__notes__", []),
                    IterableValidationNote(f"@ index {i}", i, item_type),
                ]
                errors.append(exc)
        if errors:
            raise IterableValidationError("while structuring a list", errors, tp)
        return tuple(out)

    return structure


def _is_variadic_tuple(tp: Any) -> bool:
    args = typing.get_args(tp)
    return typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis


def _problems(exc: BaseException, path: str = "") -> list[Problem]:
    """Turn whatever the converter raised into problems with wire paths."""
    if isinstance(exc, ValidationError):
        return [p.at(path) for p in exc.problems]
    if isinstance(exc, ForbiddenExtraKeysError):
        return [
            Problem(
                path=_join(path, key),
                message="unknown field",
                code="unknown_field",
                rule="REC-6",
            )
            for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, ClassValidationError | IterableValidationError):
        found: list[Problem] = []
        for sub in exc.exceptions:
            found.extend(_problems(sub, _join(path, _note_step(sub))))
        return found
    if isinstance(exc, KeyError) and _note_step(exc):
        return [Problem(path=path, message="required field is missing", code="missing_field")]
    if isinstance(exc, _WrongType):
        return [Problem(path=path, message=str(exc), code="wrong_type")]
    if isinstance(exc, TypeError | ValueError | AttributeError | KeyError):
        return [Problem(path=path, message=_plain(exc), code="invalid_value")]
    raise exc


def _plain(exc: BaseException) -> str:
    text = str(exc).strip("'\"")
    return text or type(exc).__name__


def _note_step(exc: BaseException) -> str:
    """The path step that cattrs noted on a sub-exception."""
    for note in reversed(getattr(exc, "__notes__", [])):
        if isinstance(note, IterableValidationNote):
            return f"[{note.index}]"
        name = getattr(note, "name", None)
        if isinstance(name, str):
            return name
    return ""


def _join(path: str, step: str) -> str:
    if not step:
        return path
    if not path or step.startswith("["):
        return f"{path}{step}"
    return f"{path}.{step}"


#: Per-class field hooks that need more than the field's type.
_FIELD_OVERRIDES: dict[type, dict[str, Callable[[Any, type], Any]]] = {
    ChildRecord: {"date_of_birth": _structure_date_of_birth},
}


class WireCodec:
    """JSON-ready dicts <-> models. One instance serves any number of threads.

    ``clock`` gives the UK date that birth dates are judged against; pass a
    :class:`~contactpoint_sdk.clock.MovableClock` to move it.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        self.converter = self._build()

    def encode(self, obj: Any) -> Any:
        """The JSON-ready form of a model (dicts, lists, strings, numbers, booleans).

        A view carries its ``"view"`` tag, so it decodes as ``AnyChildView``.
        """
        if type(obj) in VIEW_TAGS:
            return self.converter.unstructure(obj, unstructure_as=AnyChildView)
        if type(obj) in OPERATION_TAGS:
            return self.converter.unstructure(obj, unstructure_as=AnyOperation)
        return self.converter.unstructure(obj)

    def decode(self, data: Any, cls: type[T], *, today: date | None = None) -> T:
        """Build ``cls`` from ``data``, or raise one ValidationError listing every problem.

        ``today`` overrides the codec's clock for date-of-birth checks.
        """
        token = _today.set(today or self._clock.today())
        try:
            return self.converter.structure(data, cls)
        except ValidationError as exc:
            raise ValidationError(exc.problems) from None
        except Exception as exc:
            raise ValidationError(_problems(exc) or _fallback(exc)) from None
        finally:
            _today.reset(token)

    def decode_operation(self, data: Any, *, today: date | None = None) -> AnyOperation:
        """A supply operation of any kind, chosen by its ``"op"`` tag."""
        result: AnyOperation = self.decode(data, AnyOperation, today=today)  # type: ignore[arg-type]
        return result

    def decode_view(self, data: Any) -> AnyChildView:
        """A child view of any kind, chosen by its ``"view"`` tag."""
        result: AnyChildView = self.decode(data, AnyChildView)  # type: ignore[arg-type]
        return result

    @staticmethod
    def _object_hook_factory(target: type, conv: cattrs.Converter) -> Callable[[Any, Any], Any]:
        """Strict structuring of an attrs class: an object, no unknown keys."""
        overrides: dict[str, Any] = {
            name: override(struct_hook=hook)
            for name, hook in _FIELD_OVERRIDES.get(target, {}).items()
        }
        inner: Callable[[Any, Any], Any] = make_dict_structure_fn(
            target,
            conv,
            _cattrs_forbid_extra_keys=True,
            _cattrs_detailed_validation=True,
            **overrides,
        )

        def structure(value: Any, tp: Any) -> Any:
            _expect(value, dict, "an object")
            return inner(value, tp)

        return structure

    def _build(self) -> cattrs.Converter:
        conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        conv.register_structure_hook(str, _structure_str)
        conv.register_structure_hook(bool, _structure_bool)
        conv.register_structure_hook(int, _structure_int)
        conv.register_structure_hook(date, _structure_date)
        conv.register_unstructure_hook(date, date.isoformat)
        conv.register_structure_hook(datetime, _structure_datetime)
        conv.register_unstructure_hook(datetime, datetime.isoformat)
        conv.register_structure_hook_func(
            lambda t: isinstance(t, type) and issubclass(t, enum.Enum), _structure_enum
        )
        for value_type in (Upn, Uln, NhsNumber, DirectoryId, Postcode, PhoneNumber, EmailAddress):
            conv.register_structure_hook(value_type, _value_type_hook(value_type))
            conv.register_unstructure_hook(value_type, str)
        conv.register_structure_hook_factory(_is_variadic_tuple, _tuple_hook_factory)

        def omit_defaults(cls: type) -> Callable[[Any], dict[str, Any]]:
            return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True)

        conv.register_unstructure_hook_factory(attrs.has, omit_defaults)
        _tagged_union(conv, ParentCarer | LocalAuthorityCarer, "type", _CARER_TAGS)
        _tagged_union(conv, AnyChildView, "view", VIEW_TAGS)
        _tagged_union(conv, AnyOperation, "op", OPERATION_TAGS)
        conv.register_structure_hook_factory(attrs.has, self._object_hook_factory)
        return conv


def _tagged_union(conv: cattrs.Converter, union: Any, tag_name: str, tags: dict[type, str]) -> None:
    """A union on the wire as an object whose ``tag_name`` member names its type.

    The tag comes first when encoding; decoding removes it before the strict
    structuring of the member, and refuses a missing or unknown tag.
    """
    by_tag = {tag: cls for cls, tag in tags.items()}
    allowed = ", ".join(repr(t) for t in by_tag)

    def structure(value: Any, _: Any) -> Any:
        _expect(value, dict, "an object")
        if tag_name not in value:
            raise ValidationError.single(
                f"required field is missing (one of {allowed})",
                code="missing_field",
                path=tag_name,
            )
        tag = value[tag_name]
        cls = by_tag.get(tag) if isinstance(tag, str) else None
        if cls is None:
            raise ValidationError.single(
                f"unknown value {tag!r}; expected one of {allowed}",
                code="unknown_value",
                path=tag_name,
            )
        rest = {k: v for k, v in value.items() if k != tag_name}
        return conv.structure(rest, cls)

    def unstructure(value: Any) -> dict[str, Any]:
        return {tag_name: tags[type(value)], **conv.unstructure(value, unstructure_as=type(value))}

    conv.register_structure_hook(union, structure)
    conv.register_unstructure_hook(union, unstructure)


def _value_type_hook(cls: Callable[[str], T]) -> Callable[[Any, Any], T]:
    def structure(value: Any, _: Any) -> T:
        _expect(value, str, "a string")
        return cls(value)

    return structure


def _fallback(exc: BaseException) -> list[Problem]:
    return [Problem(path="", message=_plain(exc), code="invalid_value")]


#: A codec on the system clock, for callers that do not move time.
default_codec = WireCodec()

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

**JSON text.** :func:`json_bytes` and :func:`json_value` turn the codec's
JSON-ready documents into compact UTF-8 JSON and back. They use orjson (a
compiled JSON library, some 4 times faster than the standard library's
``json.dumps`` and ``json.loads`` on a batch) and give exactly what the
standard library gives: the same bytes, the same values, the same errors.
Anything orjson refuses (an integer past 64 bits, a lone surrogate, a non-string
key, ``NaN``, a float too large, any type but ``dict``, ``list``, ``tuple``,
``str``, ``int``, ``bool`` and ``None``) is handed to the standard library,
which answers as it always did.
"""

from __future__ import annotations

import contextvars
import enum
import json
import operator
import re
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from types import NoneType
from typing import Any, TypeVar

import attrs
import cattrs
import orjson
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)
from cattrs.fns import identity
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from contactpoint_sdk.clock import Clock, SystemClock
from contactpoint_sdk.errors import Problem, ValidationError
from contactpoint_sdk.models import contact as _contact
from contactpoint_sdk.models import identifiers as _identifiers
from contactpoint_sdk.models._fast_codec import (
    FastDecoders,
    FastEncoders,
    optional_unstructure_hook,
)
from contactpoint_sdk.models.contact import EmailAddress, PhoneNumber, Postcode
from contactpoint_sdk.models.identifiers import DirectoryId, NhsNumber, Uln, Upn
from contactpoint_sdk.models.operations import DECODE_CHECKS as _OPERATION_CHECKS
from contactpoint_sdk.models.operations import OPERATION_TAGS, AnyOperation
from contactpoint_sdk.models.record import DECODE_CHECKS as _RECORD_CHECKS
from contactpoint_sdk.models.record import ChildRecord, LocalAuthorityCarer, ParentCarer
from contactpoint_sdk.models.views import VIEW_TAGS, AnyChildView

__all__ = [
    "MAX_AGE_YEARS",
    "WireCodec",
    "default_codec",
    "json_bytes",
    "json_text",
    "json_text_value",
    "json_value",
]

T = TypeVar("T")

#: The oldest a record's subject can be: the 25th birthday ends every extension (RET-2).
MAX_AGE_YEARS = 25

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_today: contextvars.ContextVar[date | None] = contextvars.ContextVar("today", default=None)

#: Wire tag of each member of the parents/carers union.
_CARER_TAGS: dict[type, str] = {ParentCarer: "person", LocalAuthorityCarer: "local_authority"}

#: The unions on the wire: each an object whose tag member names its type.
_TAGGED_UNIONS: dict[Any, tuple[str, dict[type, str]]] = {
    ParentCarer | LocalAuthorityCarer: ("type", _CARER_TAGS),
    AnyChildView: ("view", VIEW_TAGS),
    AnyOperation: ("op", OPERATION_TAGS),
}

_VALUE_TYPES = (Upn, Uln, NhsNumber, DirectoryId, Postcode, PhoneNumber, EmailAddress)

#: The models' modules: their classes are structured by the generated decoders first.
_MODELS = "contactpoint_sdk.models."

#: Each value type's fast test: its converter is ``fast(value) or checked(value)``
#: (``identifiers._to_upn`` ...), so a generated decoder asks the fast one first.
_FAST_VALUES: dict[type, Callable[[object], str | None]] = {
    Upn: _identifiers._fast_upn,
    Uln: _identifiers._fast_uln,
    NhsNumber: _identifiers._fast_nhs,
    DirectoryId: _identifiers._fast_directory_id,
    Postcode: _contact._fast_postcode,
    PhoneNumber: _contact._fast_phone,
    EmailAddress: _contact._fast_email,
}

#: Conditions under which a class's ``__attrs_post_init__`` finds nothing.
_DECODE_CHECKS = {**_RECORD_CHECKS, **_OPERATION_CHECKS}


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


def _checked_str(value: Any, _: type) -> str:
    _expect(value, str, "a string")
    return typing.cast(str, value)


def _checked_bool(value: Any, _: type) -> bool:
    _expect(value, bool, "true or false")
    return typing.cast(bool, value)


def _checked_int(value: Any, _: type) -> int:
    _expect(value, int, "a whole number")
    return typing.cast(int, value)


def _checked_date(value: Any, _: type) -> date:
    _expect(value, str, "a date (YYYY-MM-DD)")
    if not _DATE_RE.fullmatch(value):
        raise ValidationError.single(
            f"{value!r} is not a date in the form YYYY-MM-DD", code="date_invalid"
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError.single(f"{value!r} is not a real date", code="date_invalid") from None


# --- Fast paths ------------------------------------------------------------------
# Each hook below handles the common case with the cheapest exact test (``type(v)
# is str`` rather than ``isinstance``, a table lookup rather than a call) and
# returns just what the checked hook above it would; anything else, valid or
# not, goes to the checked hook, so every refusal is exactly as before.

#: How many parsed values a memo keeps before it starts afresh.
_MEMO_SIZE = 1 << 14


def _structure_str(value: Any, tp: type) -> str:
    if type(value) is str:  # an exact str passes the check
        return value
    return _checked_str(value, tp)


def _structure_bool(value: Any, tp: type) -> bool:
    if value is True or value is False:  # bool has no subclasses
        return value
    return _checked_bool(value, tp)


def _structure_int(value: Any, tp: type) -> int:
    if type(value) is int:  # an exact int, never a bool, passes the check
        return value
    return _checked_int(value, tp)


_dates: dict[str, date] = {}


def _structure_date(value: Any, tp: type) -> date:
    """Dates already read are remembered: the answer depends only on the exact
    string, and a date is immutable."""
    if type(value) is not str:
        return _checked_date(value, tp)
    found = _dates.get(value)
    if found is None:
        found = _checked_date(value, tp)
        if len(_dates) >= _MEMO_SIZE:
            _dates.clear()
        _dates[value] = found
    return found


def _enum_hook_factory(cls: type[enum.Enum]) -> Callable[[Any, Any], enum.Enum]:
    """An enum's hook: a dict lookup for an exact str (``cls(value)`` finds a
    member by that same value), else :func:`_structure_enum`."""
    members = {member.value: member for member in cls}

    def structure(value: Any, _: Any) -> enum.Enum:
        if type(value) is str:
            found = members.get(value)
            if found is not None:
                return found
        return _structure_enum(value, cls)

    return structure


def _fast_tuple_hook_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """A list whose every item structures, as a tuple; else :func:`_tuple_hook_factory`'s
    hook, which goes through the items again to report each problem by index."""
    (item_type, _) = typing.get_args(tp)
    item_hook = converter.get_structure_hook(item_type)
    checked = _tuple_hook_factory(tp, converter)

    def structure(value: Any, _: Any) -> tuple[Any, ...]:
        if type(value) is list:
            try:
                return tuple([item_hook(item, item_type) for item in value])
            except Exception:  # noqa: S110 - the checked hook reports it
                pass
        result: tuple[Any, ...] = checked(value, tp)
        return result

    return structure


def _optional_hook_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any, Any], Any]:
    """``X | None``: None, or X's own hook, as cattrs' built-in hook, which looks
    X's hook up again on every call."""
    (inner_type,) = [arg for arg in typing.get_args(tp) if arg is not NoneType]
    inner_hook = converter.get_structure_hook(inner_type)

    def structure(value: Any, _: Any) -> Any:
        return None if value is None else inner_hook(value, inner_type)

    return structure


def _tuple_unstructure_factory(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    """A tuple as a list, each item by its own hook, as cattrs' own hook (which
    gives ``list(items)`` when the item hook is the identity), but built with a
    list comprehension rather than from a generator."""
    (item_type, _) = typing.get_args(tp)
    item_hook = converter.get_unstructure_hook(item_type, cache_result=False)
    if item_hook is identity:
        return list

    def unstructure(value: Any) -> list[Any]:
        return [item_hook(item) for item in value]

    unstructure.items_of = item_hook  # type: ignore[attr-defined] # (for generated functions)
    return unstructure


def _is_optional(tp: Any) -> bool:
    """``X | None`` with one X (as cattrs' ``is_optional``)."""
    args = typing.get_args(tp)
    is_union = isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union
    return is_union and len(args) == 2 and NoneType in args


#: An enum's wire form is its value; cattrs' own hook reads it through ``.value``.
_enum_value = operator.attrgetter("_value_")
#: ``str(x)`` of every value type (Upn, Postcode, ...) is its ``value``.
_value_of = operator.attrgetter("value")
#: Hooks a generated encoding function writes out in place of a call.
_INLINE: dict[Any, str] = {identity: "{}", _enum_value: "{}._value_", _value_of: "{}.value"}


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
    born = _checked_date(value, cls)
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

    #: Use the fast paths (the hooks under "Fast paths", the generated encoding
    #: functions). They give the same results as the plain hooks; the tests
    #: compare the two on a subclass that sets this False.
    _fast_paths: typing.ClassVar[bool] = True

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock: Clock = clock or SystemClock()
        #: The strict hook of each model class and union, where the converter's
        #: own hook tries the generated decoder first (see ``_fast_first``).
        self._strict_hooks: dict[Any, Callable[[Any, Any], Any]] = {}
        self.converter = self._build()
        self._fast = (
            FastDecoders(
                self.converter,
                strict=self._strict_hook,
                value_types=_FAST_VALUES,
                field_hooks=_FIELD_OVERRIDES,
                unions=_TAGGED_UNIONS,
                checks=_DECODE_CHECKS,
                memos={date: _dates},
                # (recurring: an organisation's, a household's; not a child's identifiers)
                remember=frozenset({Postcode, PhoneNumber, EmailAddress}),
            )
            if self._fast_paths
            else None
        )

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
            fast = None if self._fast is None else self._fast.decoder(cls)
            if fast is None:
                return self.converter.structure(data, cls)
            try:  # fast path: well-formed data, the same result (see FastDecoders)
                result: T = fast(data)
            except Exception:  # noqa: S110 - the strict hook below reports it
                pass
            else:
                return result
            # what converter.structure(data, cls) does, without the fast path again
            strict: T = self._strict_hook(cls)(data, cls)
            return strict
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

    def _strict_hook(self, tp: Any) -> Callable[[Any, Any], Any]:
        """The converter's hook for ``tp`` without the generated decoder in front."""
        hook = self.converter.get_structure_hook(tp)
        return self._strict_hooks.get(tp, hook)

    def _fast_first(self, tp: Any, strict: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        """The converter's hook for a model class or union: its generated decoder,
        and where that gives up, ``strict``: the same value, or the strict hook's
        own exception (so ``converter.structure``, which the directory reads its
        stored records with, is as fast as :meth:`decode`)."""
        self._strict_hooks[tp] = strict

        def structure(value: Any, of: Any) -> Any:
            decoders = self._fast
            decoder = None if decoders is None else decoders.decoder(tp)
            if decoder is not None:
                try:
                    return decoder(value)
                except Exception:  # noqa: S110 - the strict hook decides
                    pass
            return strict(value, of)

        return structure

    def _model_hook_factory(
        self, target: type, conv: cattrs.Converter
    ) -> Callable[[Any, Any], Any]:
        """:meth:`_object_hook_factory`, behind the generated decoder for a model class."""
        strict = self._object_hook_factory(target, conv)
        if not getattr(target, "__module__", "").startswith(_MODELS):
            return strict
        return self._fast_first(target, strict)

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
            if type(value) is not dict:  # fast path: an exact dict passes the check
                _expect(value, dict, "an object")
            return inner(value, tp)

        return structure

    def _build(self) -> cattrs.Converter:
        conv = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
        fast = self._fast_paths
        conv.register_structure_hook(str, _structure_str if fast else _checked_str)
        conv.register_structure_hook(bool, _structure_bool if fast else _checked_bool)
        conv.register_structure_hook(int, _structure_int if fast else _checked_int)
        conv.register_structure_hook(date, _structure_date if fast else _checked_date)
        conv.register_unstructure_hook(date, date.isoformat)
        conv.register_structure_hook(datetime, _structure_datetime)
        conv.register_unstructure_hook(datetime, datetime.isoformat)
        for value_type in _VALUE_TYPES:
            conv.register_structure_hook(value_type, _value_type_hook(value_type))
            conv.register_unstructure_hook(value_type, _value_of if fast else str)
        conv.register_structure_hook_factory(_is_variadic_tuple, _tuple_hook_factory)
        if fast:
            conv.register_structure_hook_factory(_is_enum, _enum_hook_factory)
            conv.register_unstructure_hook_factory(_is_enum, lambda _: _enum_value)
            conv.register_structure_hook_factory(_is_variadic_tuple, _fast_tuple_hook_factory)
            conv.register_unstructure_hook_factory(_is_variadic_tuple, _tuple_unstructure_factory)
            conv.register_structure_hook_factory(_is_optional, _optional_hook_factory)
            conv.register_unstructure_hook_factory(_is_optional, optional_unstructure_hook)
        else:
            conv.register_structure_hook_func(_is_enum, _structure_enum)

        def omit_defaults(cls: type) -> Callable[[Any], dict[str, Any]]:
            return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True)

        encoders = FastEncoders(conv, _INLINE) if fast else None
        conv.register_unstructure_hook_factory(
            attrs.has, omit_defaults if encoders is None else encoders.for_class
        )
        for union, (tag_name, tags) in _TAGGED_UNIONS.items():
            _tagged_union(
                conv,
                union,
                tag_name,
                tags,
                encoders=encoders,
                fast_first=self._fast_first if fast else None,
            )
        conv.register_structure_hook_factory(
            attrs.has, self._model_hook_factory if fast else self._object_hook_factory
        )
        return conv


def _tagged_union(
    conv: cattrs.Converter,
    union: Any,
    tag_name: str,
    tags: dict[type, str],
    *,
    encoders: FastEncoders | None = None,
    fast_first: Callable[[Any, Callable[[Any, Any], Any]], Callable[[Any, Any], Any]] | None = None,
) -> None:
    """A union on the wire as an object whose ``tag_name`` member names its type.

    The tag comes first when encoding; decoding removes it before the strict
    structuring of the member, and refuses a missing or unknown tag. With
    ``encoders`` (the fast paths), encoding is a generated function that gives
    what ``unstructure`` below gives (made on first use); ``fast_first`` puts
    the generated decoder in front of ``structure`` below.
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

    unstructure.tagged_union = (tag_name, tags)  # type: ignore[attr-defined] # (for generated functions)
    conv.register_structure_hook(
        union, structure if fast_first is None else fast_first(union, structure)
    )
    if encoders is None:
        conv.register_unstructure_hook(union, unstructure)
    else:
        made = encoders  # (for the closure: not None)
        conv.register_unstructure_hook_factory(
            lambda tp: tp == union, lambda _: made.for_union(unstructure, tag_name, tags)
        )


def _is_enum(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, enum.Enum)


def _value_type_hook(cls: Callable[[str], T]) -> Callable[[Any, Any], T]:
    def structure(value: Any, _: Any) -> T:
        if type(value) is not str:  # fast path: an exact str passes the check
            _expect(value, str, "a string")
        return cls(value)

    return structure


def _fallback(exc: BaseException) -> list[Problem]:
    return [Problem(path="", message=_plain(exc), code="invalid_value")]


#: A codec on the system clock, for callers that do not move time.
default_codec = WireCodec()


# --- JSON text -----------------------------------------------------------------------

#: orjson options that send every value it would otherwise convert on its own
#: (subclasses of str, int, dict and list, datetimes, dataclasses) to
#: ``default``, which refuses them, so they fall back to the standard library.
_ORJSON_PASSTHROUGH = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _orjson_refuses(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def json_bytes(data: Any) -> bytes:
    """Compact UTF-8 JSON of a JSON-ready document (what :meth:`WireCodec.encode`
    returns): the very bytes of ``json.dumps(data, separators=(",", ":"),
    ensure_ascii=False).encode()``, and the same error for what that refuses.

    orjson writes the same text for dicts (keys in order), lists, tuples,
    strings (the same short escapes for the quote, the backslash and
    backspace, form feed, newline, return and tab; other control characters
    as lower-case ``u00xx`` escapes; everything else as UTF-8), integers,
    booleans and ``None``. What it refuses goes to the standard library, which
    answers as it always did: integers past 64 bits, lone surrogates,
    non-string keys, and every other type (sent to ``default`` by the
    pass-through options). Floats are the one type both accept but write
    differently (``1e+16`` against ``1e16``; ``NaN`` against ``null``): the
    codec's documents never hold one, as no model has a float field, so this
    is for float-free documents only.
    """
    try:
        return orjson.dumps(data, default=_orjson_refuses, option=_ORJSON_PASSTHROUGH)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def json_text(data: Any) -> str:
    """:func:`json_bytes` as ``str``: the very text of ``json.dumps(data,
    separators=(",", ":"), ensure_ascii=False)``, and the same error."""
    try:
        return orjson.dumps(data, default=_orjson_refuses, option=_ORJSON_PASSTHROUGH).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


#: Nineteen digits in a row: where an integer past 64 bits could be, which
#: orjson would read as a float (the standard library reads it exactly).
_LONG_DIGITS = re.compile(rb"[0-9]{19}")

#: Each ASCII digit to "0", every other byte to itself: the translation of a
#: text has nineteen "0"s in a row exactly where the text has nineteen digits
#: in a row (no other byte becomes "0"). A translation and a substring search
#: are two linear C passes; the regex tries each digit as a start (some ten
#: times slower on a batch, whose identifiers and phone numbers are long runs).
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_ZEROS = b"0" * 19


def _has_long_digits(payload: bytes | bytearray) -> bool:
    """``_LONG_DIGITS.search(payload) is not None``, faster (see above)."""
    if type(payload) is not bytes:  # (a bytearray, a memoryview: as always)
        return _LONG_DIGITS.search(payload) is not None
    return _NINETEEN_ZEROS in payload.translate(_DIGITS_TO_ZERO)


def json_value(payload: bytes) -> Any:
    """The value of UTF-8 JSON text: what ``json.loads(payload.decode("utf-8"))``
    gives, and the same error (``UnicodeDecodeError`` or
    ``json.JSONDecodeError``) for what that refuses.

    orjson reads the same values where it accepts the text (a repeated key keeps
    its last value, as the standard library's does; floats are read to the
    same nearest double). Where it refuses (lone surrogate escapes, ``NaN`` and
    ``Infinity``, numbers past a float's range, nesting past 1024 levels, a
    byte-order mark, invalid UTF-8), and wherever nineteen digits stand in a
    row (an integer past 64 bits, which orjson would read as a float), the
    standard library reads the text as it always did.
    """
    if not _has_long_digits(payload):
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            pass
    return json.loads(payload.decode("utf-8"))


_LONG_DIGITS_TEXT = re.compile(r"[0-9]{19}")


def _has_long_text_digits(text: str) -> bool:
    """``_LONG_DIGITS_TEXT.search(text) is not None``, faster: the same test on
    the text's UTF-8 (where the bytes of ASCII digits are those digits, and no
    other character's bytes are ASCII; lone surrogates passed through)."""
    if type(text) is not str:
        return _LONG_DIGITS_TEXT.search(text) is not None
    return _has_long_digits(text.encode("utf-8", "surrogatepass"))


def json_text_value(text: str) -> Any:
    """The value of JSON text already decoded to ``str``: what
    ``json.loads(text)`` gives, and the same error for what that refuses
    (:func:`json_value`'s rules: orjson where it reads the text, the standard
    library wherever it refuses or nineteen digits stand in a row)."""
    if not _has_long_text_digits(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)

"""Generated functions for the wire codec's fast paths: cattrs' results, fewer calls.

Encoding. :class:`~contactpoint_sdk.models.codec.WireCodec` encodes an attrs
class to the dict of its fields, leaving out those that hold their default.
cattrs' ``make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True)``
generates such a function; :func:`omit_defaults_unstructure_fn` generates one
that returns the same dict, with its keys in the same order (the fields
without a default in declaration order, then those that differ from their
default, in declaration order), but calls fewer Python functions:

- a field whose default is ``None`` and whose type is ``X | None`` is tested
  with ``is not None`` and then encoded with ``X``'s own hook. cattrs tests
  ``!= None``, which for a value of type ``X`` (an attrs instance, a string,
  a date, an enum member) is the same test but runs ``X.__ne__``, and its
  ``X | None`` hook then does exactly that for a value that is not ``None``;
- a default made by calling an attrs class with no arguments (such as
  ``attrs.Factory(ContactDetails)``) is made once: cattrs makes it again for
  every object, but it is built from the class's own defaults, so it
  compares equal every time, and it is only ever compared with;
- a hook that returns its argument, or reads one attribute of it, is written
  out in place (see ``inline``).

Decoding. :class:`FastDecoders` generates, per class, a function that builds
the object from well-formed data with the checks written out in place, and
raises at anything else; the codec then runs its strict cattrs converter on
the same data, which reports every problem as before. See its docstring.

Only the plain fields the record model uses are handled (every field in
``__init__``, no attrs converter, no alias, a resolved type); a class with any
other kind of field gets cattrs' own function. ``tests/test_fast_paths.py``
checks that both directions agree with the codec's plain hooks on records,
operations, views and junk.
"""

from __future__ import annotations

import enum
import linecache
import threading
import types
import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn

__all__ = ["FallBack", "FastDecoders", "omit_defaults_unstructure_fn", "optional_unstructure_hook"]

Inline = dict[Any, str]


def optional_unstructure_hook(tp: Any, converter: cattrs.Converter) -> Callable[[Any], Any]:
    """The encoding hook of ``X | None``: None, or X's hook, as cattrs' own. It
    keeps X's hook as ``optional_of``, for generated functions to call directly."""
    (inner_type,) = [arg for arg in tp.__args__ if arg is not type(None)]
    inner = converter.get_unstructure_hook(inner_type)

    def unstructure(value: Any) -> Any:
        return None if value is None else inner(value)

    unstructure.optional_of = inner  # type: ignore[attr-defined]
    return unstructure


def _plain(field: attrs.Attribute[Any]) -> bool:
    return (
        field.init
        and field.converter is None
        and field.alias == field.name
        and field.type is not None
        and not isinstance(field.type, str)
    )


def omit_defaults_unstructure_fn(
    cls: type, converter: cattrs.Converter, inline: Inline
) -> Callable[[Any], dict[str, Any]]:
    """The encoding function for attrs class ``cls`` (see the module's docstring).

    ``inline`` maps hooks to how to write them out, ``{}`` standing for the
    value: ``{identity: "{}", attrgetter("value"): "{}.value"}``.
    """
    attrs.resolve_types(cls)
    fields = attrs.fields(cls)
    if not all(_plain(f) for f in fields):
        return make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True)

    names: dict[str, Any] = {}
    always: list[str] = []
    when: list[str] = []

    def invoke(hook: Any, value: str, tag: str) -> str:
        template = inline.get(hook) if _hashable(hook) else None
        if template is not None:
            return template.format(value)
        names[f"_h_{tag}"] = hook
        return f"_h_{tag}({value})"

    for field in fields:
        name, default = field.name, field.default
        hook = converter.get_unstructure_hook(field.type, cache_result=False)
        if default is attrs.NOTHING:
            always.append(f"        {name!r}: {invoke(hook, f'o.{name}', name)},")
            continue
        inner = getattr(hook, "optional_of", None)
        if default is None and inner is not None:
            when.append(f"    v = o.{name}")
            when.append("    if v is not None:")
            when.append(f"        res[{name!r}] = {invoke(inner, 'v', name)}")
            continue
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            if default.takes_self or not attrs.has(default.factory):
                return make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True)
            default = default.factory()
        names[f"_d_{name}"] = default
        when.append(f"    if o.{name} != _d_{name}:")
        when.append(f"        res[{name!r}] = {invoke(hook, f'o.{name}', name)}")

    lines = [f"def encode_{cls.__name__}(o):", "    res = {", *always, "    }", *when]
    lines.append("    return res")
    function: Callable[[Any], dict[str, Any]] = _compile(
        lines, f"encode {cls.__module__}.{cls.__qualname__}", names
    )
    return function


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


# --- Decoding ----------------------------------------------------------------------


class FallBack(Exception):
    """Raised by a fast decoder for anything but the common case."""


#: Statements that check ``v`` is a JSON type and leave it as it is.
_SCALAR_CHECKS: dict[Any, str] = {
    str: "if type(v) is not str: raise _F",
    bool: "if v is not True and v is not False: raise _F",
    int: "if type(v) is not int: raise _F",
}


class FastDecoders:
    """Generated decoding functions: the strict converter's result, fewer calls.

    ``decoder(tp)`` is a function of one argument that builds ``tp`` from
    JSON-ready data exactly as ``converter.structure(data, tp)`` does when the
    data is well formed, and raises (anything) otherwise; the caller then runs
    the strict converter, which reports the problems. So a fast decoder never
    decides a refusal; it only has to give the same result on the data it
    accepts, and it accepts a subset of what the converter does:

    - an attrs class from an exact ``dict`` whose keys are all field names,
      every field without a default present, calling the class with the same
      keyword arguments the converter's generated function passes (only the
      fields present);
    - ``str``, ``bool`` and ``int`` only as exactly those types, as the
      converter's hooks accept them; an enum by a dict lookup of its members
      by value, as ``cls(value)`` does; a value type (``Upn``...) from an exact
      ``str``, by its constructor; ``X | None`` as None or as ``X``; a tuple
      from an exact ``list``, item by item; a tagged union by its tag, as the
      converter's union hook;
    - any other type (and any field with its own hook in ``field_hooks``) by
      the converter's own hook for it.
    """

    def __init__(
        self,
        converter: cattrs.Converter,
        *,
        value_types: tuple[type, ...],
        field_hooks: dict[type, dict[str, Callable[[Any, Any], Any]]],
        unions: dict[Any, tuple[str, dict[type, str]]],
    ) -> None:
        self._converter = converter
        self._value_types = value_types
        self._field_hooks = field_hooks
        self._unions = unions
        self._made: dict[Any, Callable[[Any], Any]] = {}
        self._making: set[Any] = set()
        self._lock = threading.RLock()  # one thread builds at a time; reading needs none

    def decoder(self, tp: Any) -> Callable[[Any], Any] | None:
        """The fast decoder for ``tp``: an attrs class or a tagged union, else None."""
        found = self._made.get(tp)
        if found is None:
            if not (attrs.has(tp) or tp in self._unions):
                return None
            with self._lock:
                found = self._made.get(tp)
                if found is None:
                    found = self._made[tp] = self._make(tp)
        return found

    def _strict(self, tp: Any) -> Callable[[Any], Any]:
        hook = self._converter.get_structure_hook(tp)
        return lambda value: hook(value, tp)

    def _make(self, tp: Any) -> Callable[[Any], Any]:
        if tp in self._making:  # a type that contains itself: no fast path inside
            return self._strict(tp)
        self._making.add(tp)
        try:
            if tp in self._unions:
                return self._make_union(tp)
            return self._make_class(tp)
        finally:
            self._making.discard(tp)

    def _make_union(self, union: Any) -> Callable[[Any], Any]:
        tag_name, tags = self._unions[union]
        by_tag = {tag: self.decoder(cls) or self._strict(cls) for cls, tag in tags.items()}

        def decode(value: Any) -> Any:
            if type(value) is not dict:
                raise FallBack
            member = by_tag[value[tag_name]]  # a missing or unknown tag: KeyError
            rest = value.copy()
            del rest[tag_name]
            return member(rest)

        return decode

    def _make_class(self, cls: type) -> Callable[[Any], Any]:
        attrs.resolve_types(cls)
        fields = attrs.fields(cls)
        if not all(_plain(f) for f in fields):
            return self._strict(cls)
        names: dict[str, Any] = {
            "_F": FallBack,
            "_cls": cls,
            "_allowed": frozenset(f.name for f in fields),
        }
        own_hooks = self._field_hooks.get(cls, {})
        lines = [
            f"def decode_{cls.__name__}(o):",
            "    if type(o) is not dict or not o.keys() <= _allowed: raise _F",
            "    res = {}",
        ]
        for field in fields:
            name = field.name
            if name in own_hooks:
                names[f"_h_{name}"], names[f"_t_{name}"] = own_hooks[name], field.type
                steps = [f"v = _h_{name}(v, _t_{name})"]
            else:
                steps = self._steps(field.type, name, names)
            body = [f"v = o[{name!r}]", *steps, f"res[{name!r}] = v"]
            if field.default is attrs.NOTHING:
                lines.extend(f"    {line}" for line in body)
            else:
                lines.append(f"    if {name!r} in o:")
                lines.extend(f"        {line}" for line in body)
        lines.append("    return _cls(**res)")
        decode: Callable[[Any], Any] = _compile(
            lines, f"decode {cls.__module__}.{cls.__qualname__}", names
        )
        return decode

    def _steps(self, tp: Any, tag: str, names: dict[str, Any]) -> list[str]:
        """Statements that turn ``v`` (the data) into the value of type ``tp``."""
        check = _SCALAR_CHECKS.get(tp) if isinstance(tp, type) else None
        if check is not None:
            return [check]
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            names[f"_m_{tag}"] = {member.value: member for member in tp}
            return [_SCALAR_CHECKS[str], f"v = _m_{tag}[v]"]
        if tp in self._value_types:
            names[f"_c_{tag}"] = tp
            return [_SCALAR_CHECKS[str], f"v = _c_{tag}(v)"]
        if attrs.has(tp) or tp in self._unions:
            names[f"_d_{tag}"] = self.decoder(tp)
            return [f"v = _d_{tag}(v)"]
        args = typing.get_args(tp)
        if _is_union(tp) and len(args) == 2 and type(None) in args:
            (inner,) = [arg for arg in args if arg is not type(None)]
            return ["if v is not None:", *(f"    {s}" for s in self._steps(inner, tag, names))]
        if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
            item = args[0]
            if item is str:
                names["_strs"] = _strs
                return ["v = _strs(v)"]
            names[f"_i_{tag}"] = self.decoder(item) or self._strict(item)
            return [
                "if type(v) is not list: raise _F",
                f"v = tuple([_i_{tag}(i) for i in v])",
            ]
        names[f"_h_{tag}"], names[f"_t_{tag}"] = self._converter.get_structure_hook(tp), tp
        return [f"v = _h_{tag}(v, _t_{tag})"]


def _strs(value: Any) -> tuple[str, ...]:
    """A list of exact strs as a tuple."""
    if type(value) is not list:
        raise FallBack
    for item in value:
        if type(item) is not str:
            raise FallBack
    return tuple(value)


def _is_union(tp: Any) -> bool:
    return isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union


def _compile(lines: list[str], what: str, names: dict[str, Any]) -> Any:
    source = "\n".join(lines) + "\n"
    filename = f"<contactpoint generated {what}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), names)  # noqa: S102 - our own generated code
    return names[lines[0][4 : lines[0].index("(")]]

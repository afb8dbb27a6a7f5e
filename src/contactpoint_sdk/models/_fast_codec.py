"""Generated functions for the wire codec's fast paths: cattrs' results, fewer calls.

Encoding. :class:`~contactpoint_sdk.models.codec.WireCodec` encodes an attrs
class to the dict of its fields, leaving out those that hold their default.
cattrs' ``make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True)``
generates such a function; :class:`FastEncoders` generates one per class that
returns the same dict, with its keys in the same order (the fields without a
default in declaration order, then those that differ from their default, in
declaration order), but calls far fewer Python functions:

- the encoding of every nested object is written out in line, down to the
  leaves: an attrs class the converter encodes with a function generated here,
  a tuple (``[hook(item) for item in value]``, as a loop), a tagged union
  (``{tag: tags[type(value)], **hook_of_type(value)}``, as a test of the
  type for each member) and ``X | None``; so encoding a whole record is one
  call, not one per object;
- a field whose default is ``None`` and whose type is ``X | None`` is tested
  with ``is not None`` and then encoded with ``X``'s own hook. cattrs tests
  ``!= None``, which for a value of type ``X`` (an attrs instance, a string,
  a date, an enum member) is the same test but runs ``X.__ne__``, and its
  ``X | None`` hook then does exactly that for a value that is not ``None``;
- a default made by calling an attrs class with no arguments (such as
  ``attrs.Factory(ContactDetails)``) is made once: cattrs makes it again for
  every object, but it is built from the class's own defaults, so it
  compares equal every time, and it is only ever compared with. The
  comparison is written out too: attrs' ``__ne__`` is "not the same class, or
  some field differs", and a field whose default is ``None`` differs when it
  ``is not None`` (as above);
- a hook that returns its argument, or reads one attribute of it, is written
  out in place (see ``inline``).

Decoding. :class:`FastDecoders` generates, per class or tagged union, one
function that builds the object from well-formed data with every check
written out in line and raises at anything else; the codec then runs its
strict cattrs converter on the same data, which reports every problem as
before. See its docstring.

Only the plain fields the record model uses are handled (every field in
``__init__``, no alias, a resolved type); a class with any other kind of
field gets cattrs' own function. ``tests/test_fast_paths.py`` and
``tests/test_perf_codec_inline.py`` check that both directions agree with
the codec's plain hooks on records, operations, views and junk.
"""

from __future__ import annotations

import enum
import linecache
import threading
import types
import typing
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn

from contactpoint_sdk.models._decode_checks import Binder, Checks, Text, checks_source

__all__ = [
    "FallBack",
    "FastDecoders",
    "FastEncoders",
    "omit_defaults_unstructure_fn",
    "optional_unstructure_hook",
]

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


def _plain(field: attrs.Attribute[Any], *, converter_ok: bool = False) -> bool:
    return (
        field.init
        and (converter_ok or field.converter is None)
        and field.alias == field.name
        and field.type is not None
        and not isinstance(field.type, str)
    )


class _Source:
    """The text of one generated function, the names it uses, fresh local names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.bind = Binder({"_F": FallBack, "_new": object.__new__})
        self._count = 0

    def var(self, stem: str) -> str:
        self._count += 1
        return f"{stem}{self._count}"

    def add(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def compile(self, name: str, what: str) -> Any:
        return _compile(self.lines, what, self.bind.names, name)


#: Compiled generated code by its text: every codec generates the same text
#: for the same classes, and only the names it is run with differ.
_CODE: dict[str, types.CodeType] = {}
_CODE_LOCK = threading.Lock()


def _compile(lines: list[str], what: str, names: dict[str, Any], name: str) -> Any:
    source = "\n".join(lines) + "\n"
    filename = f"<contactpoint generated {what}>"
    with _CODE_LOCK:
        code = _CODE.get(source)
        if code is None:
            code = _CODE[source] = compile(source, filename, "exec")
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(code, names)  # noqa: S102 - our own generated code
    return names[name]


# --- Encoding ----------------------------------------------------------------------


def omit_defaults_unstructure_fn(
    cls: type, converter: cattrs.Converter, inline: Inline
) -> Callable[[Any], dict[str, Any]]:
    """The encoding function for attrs class ``cls`` (see the module's docstring).

    ``inline`` maps hooks to how to write them out, ``{}`` standing for the
    value: ``{identity: "{}", attrgetter("value"): "{}.value"}``. A
    :class:`FastEncoders` made for the converter is better: it makes each
    class's function once.
    """
    return FastEncoders(converter, inline).for_class(cls)


#: Every function FastEncoders made, and the class it encodes.
_ENCODES: weakref.WeakKeyDictionary[Any, type] = weakref.WeakKeyDictionary()


class FastEncoders:
    """The encoding functions of one converter (see the module's docstring).

    Register :meth:`for_class` as the converter's unstructure hook factory
    for attrs classes. A class's function is made once, on first use.
    """

    def __init__(self, converter: cattrs.Converter, inline: Inline) -> None:
        self._converter = converter
        self._inline = inline
        self._made: dict[type, Callable[[Any], dict[str, Any]]] = {}
        self._unions: dict[tuple[int, str], Callable[[Any], dict[str, Any]]] = {}
        self._keep: list[Any] = []
        self._making: list[type] = []
        self._lock = threading.RLock()

    def for_class(self, cls: type) -> Callable[[Any], dict[str, Any]]:
        """The function that encodes an instance of ``cls`` (exactly ``cls``)."""
        found = self._made.get(cls)
        if found is None:
            with self._lock:
                found = self._made.get(cls)
                if found is None:
                    found = self._made[cls] = self._make(cls)
        return found

    def for_union(
        self, fallback: Callable[[Any], Any], tag_name: str, tags: Mapping[type, str]
    ) -> Callable[[Any], dict[str, Any]]:
        """The encoding function of a tagged union whose plain hook is ``fallback``
        (``{tag_name: tags[type(v)], **conv.unstructure(v, unstructure_as=type(v))}``):
        each member in line, anything else by ``fallback``."""
        key = (id(fallback), tag_name)
        found = self._unions.get(key)
        if found is not None:
            return found
        with self._lock:
            src = _Source()
            src.add(0, "def encode_union(v):")
            result = self._union(src, fallback, (tag_name, tags), "v", 1)
            src.add(1, f"return {result}")
            names = "_".join(sorted(tags.values()))
            function: Callable[[Any], dict[str, Any]] = src.compile(
                "encode_union", f"encode union {tag_name} {names}"
            )
            function.tagged_union = (tag_name, tags)  # type: ignore[attr-defined]
            self._unions[key] = function
            self._keep.append(fallback)  # (its id stays its own)
        return function

    def _make(self, cls: type) -> Callable[[Any], dict[str, Any]]:
        if not self._encodable(cls) or cls in self._making:
            return make_dict_unstructure_fn(cls, self._converter, _cattrs_omit_if_default=True)
        self._making.append(cls)
        try:
            src = _Source()
            src.add(0, f"def encode_{cls.__name__}(o):")
            result = self._class(src, cls, "o", 1, None)
            src.add(1, f"return {result}")
            function: Callable[[Any], dict[str, Any]] = src.compile(
                f"encode_{cls.__name__}", f"encode {cls.__module__}.{cls.__qualname__}"
            )
        finally:
            self._making.remove(cls)
        _ENCODES[function] = cls
        return function

    @staticmethod
    def _encodable(kind: type) -> bool:
        attrs.resolve_types(kind)
        for field in attrs.fields(kind):
            if not _plain(field, converter_ok=field.default is attrs.NOTHING):
                return False
            default = field.default
            if isinstance(default, attrs.Factory) and (  # type: ignore[arg-type]
                default.takes_self or not attrs.has(default.factory)
            ):
                return False
        return True

    def _hook(self, tp: Any) -> Any:
        return self._converter.get_unstructure_hook(tp)

    def _class(
        self, src: _Source, cls: type, obj: str, indent: int, first: tuple[str, str] | None
    ) -> str:
        """Statements that build the dict of the object in local ``obj``; the
        local that holds it. ``first``: a key and value to put first (a tag)."""
        fields = attrs.fields(cls)
        items = [] if first is None else [f"{first[0]!r}: {first[1]!r}"]
        for field in fields:
            if field.default is attrs.NOTHING:
                value = self._value(src, self._hook(field.type), f"{obj}.{field.name}", indent)
                items.append(f"{field.name!r}: {value}")
        result = src.var("r")
        src.add(indent, f"{result} = {{{', '.join(items)}}}")
        for field in fields:
            name, default = field.name, field.default
            if default is attrs.NOTHING:
                continue
            hook = self._hook(field.type)
            inner = getattr(hook, "optional_of", None)
            if default is None and inner is not None:
                value = src.var("v")
                src.add(indent, f"{value} = {obj}.{name}")
                src.add(indent, f"if {value} is not None:")
                encoded = self._value(src, inner, value, indent + 1)
                src.add(indent + 1, f"{result}[{name!r}] = {encoded}")
                continue
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            value = src.var("v")
            src.add(indent, f"{value} = {obj}.{name}")
            src.add(indent, f"if {self._differs(src, value, default)}:")
            encoded = self._value(src, hook, value, indent + 1)
            src.add(indent + 1, f"{result}[{name!r}] = {encoded}")
        return result

    @staticmethod
    def _differs(src: _Source, value: str, default: Any) -> str:
        """``value != default``, written out for a default attrs instance whose
        fields all default to ``None``, ``()`` or a bool (see the module's docstring)."""
        cls = type(default)
        if attrs.has(cls) and _attrs_eq(cls):
            parts = [f"type({value}) is not {src.bind('_C', cls)}"]
            for field in attrs.fields(cls):
                held = getattr(default, field.name)
                if held is None:
                    parts.append(f"{value}.{field.name} is not None")
                elif held == () or held is True or held is False:
                    parts.append(f"{value}.{field.name} != {held!r}")
                else:
                    break
            else:
                return " or ".join(parts)
        return f"{value} != {src.bind('_d', default)}"

    def _value(self, src: _Source, hook: Any, value: str, indent: int) -> str:
        """An expression (after statements added at ``indent``) for ``hook(value)``."""
        template = self._inline.get(hook) if _hashable(hook) else None
        if template is not None:
            return template.format(value)
        if hook is list:
            return f"list({value})"
        cls = _ENCODES.get(hook) if _weakrefable(hook) else None
        if cls is not None and self._made.get(cls) is hook and cls not in self._making:
            self._making.append(cls)
            try:
                obj = src.var("o")
                src.add(indent, f"{obj} = {value}")
                return self._class(src, cls, obj, indent, None)
            finally:
                self._making.remove(cls)
        items_of = getattr(hook, "items_of", None)
        if items_of is not None:
            out, item = src.var("l"), src.var("i")
            src.add(indent, f"{out} = []")
            src.add(indent, f"for {item} in {value}:")
            encoded = self._value(src, items_of, item, indent + 1)
            src.add(indent + 1, f"{out}.append({encoded})")
            return out
        tagged = getattr(hook, "tagged_union", None)
        if tagged is not None:
            return self._union(src, hook, tagged, value, indent)
        inner = getattr(hook, "optional_of", None)
        if inner is not None:
            held, out = src.var("v"), src.var("x")
            src.add(indent, f"{held} = {value}")
            src.add(indent, f"if {held} is None:")
            src.add(indent + 1, f"{out} = None")
            src.add(indent, "else:")
            src.add(indent + 1, f"{out} = {self._value(src, inner, held, indent + 1)}")
            return out
        return f"{src.bind('_h', hook)}({value})"

    def _union(
        self,
        src: _Source,
        hook: Any,
        tagged: tuple[str, Mapping[type, str]],
        value: str,
        indent: int,
    ) -> str:
        """``{tag_name: tags[type(v)], **conv.unstructure(v, unstructure_as=type(v))}``:
        each member whose function is made here in line, the rest by ``hook``."""
        tag_name, tags = tagged
        held, kind, out = src.var("v"), src.var("t"), src.var("u")
        src.add(indent, f"{held} = {value}")
        src.add(indent, f"{kind} = type({held})")
        keyword = "if"
        for cls, tag in tags.items():
            member = self._hook(cls)
            if (
                _ENCODES.get(member) is not cls
                or self._made.get(cls) is not member
                or cls in self._making
                or tag_name in attrs.fields_dict(cls)
            ):
                continue
            src.add(indent, f"{keyword} {kind} is {src.bind('_U', cls)}:")
            keyword = "elif"
            self._making.append(cls)
            try:
                result = self._class(src, cls, held, indent + 1, (tag_name, tag))
            finally:
                self._making.remove(cls)
            src.add(indent + 1, f"{out} = {result}")
        if keyword == "if":
            return f"{src.bind('_h', hook)}({value})"
        src.add(indent, "else:")
        src.add(indent + 1, f"{out} = {src.bind('_h', hook)}({held})")
        return out


def _attrs_eq(cls: type) -> bool:
    """``cls`` compares with attrs' own ``__eq__`` and ``__ne__``, on every field."""
    eq, ne = cls.__dict__.get("__eq__"), cls.__dict__.get("__ne__")
    return (
        _attrs_made(eq)
        and _attrs_made(ne)
        and all(f.eq and f.eq_key is None for f in attrs.fields(cls))
    )


def _attrs_made(function: Any) -> bool:
    code = getattr(function, "__code__", None)
    return code is not None and (
        code.co_filename.startswith("<attrs generated") or function.__module__ == "attr._make"
    )


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _weakrefable(value: Any) -> bool:
    return isinstance(value, types.FunctionType)


# --- Decoding ----------------------------------------------------------------------


class FallBack(Exception):
    """Raised by a fast decoder for anything but the common case."""


#: Statements that check ``{v}`` is a JSON type and leave it as it is.
_SCALAR_CHECKS: dict[Any, str] = {
    str: "if type({v}) is not str: raise _F",
    bool: "if {v} is not True and {v} is not False: raise _F",
    int: "if type({v}) is not int: raise _F",
}


#: How many converted values each value type's memo keeps before it starts afresh.
_MEMO_SIZE = 1 << 14

#: Each remembered converter's answers, by the exact ``str`` it was given.
_VALUE_MEMOS: dict[Any, dict[str, Any]] = {}


def _value_memo(converter: Any) -> dict[str, Any]:
    with _CODE_LOCK:
        return _VALUE_MEMOS.setdefault(converter, {})


def _remember_in(memo: dict[str, Any]) -> Callable[[str, Any], None]:
    def remember(key: str, value: Any) -> None:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[key] = value

    return remember


def _slot_setters(cls: type) -> dict[str, Any] | None:
    """Each field's slot setter, when ``cls(**kw)`` does nothing but set each
    field to its value (converted by the field's converter), run the fields'
    validators and then ``__attrs_post_init__``: attrs' own ``__init__`` of a
    slotted class, with no ``__attrs_pre_init__`` and no cached hash. Else None.

    Setting a slot through its descriptor is what that ``__init__`` does
    (``object.__setattr__`` of a slotted class sets the slot).
    """
    if "__slots__" not in cls.__dict__ or hasattr(cls, "__attrs_pre_init__"):
        return None
    code = getattr(cls.__dict__.get("__init__"), "__code__", None)
    if code is None or not code.co_filename.startswith("<attrs generated"):
        return None
    for klass in cls.__mro__:
        if "_attrs_cached_hash" in getattr(klass, "__slots__", ()):
            return None
    setters: dict[str, Any] = {}
    for field in attrs.fields(cls):
        descriptor = next(
            (k.__dict__[field.name] for k in cls.__mro__ if field.name in k.__dict__), None
        )
        if type(descriptor) is not types.MemberDescriptorType:
            return None
        setters[field.name] = descriptor.__set__
    return setters


class FastDecoders:
    """Generated decoding functions: the strict converter's result, fewer calls.

    ``decoder(tp)`` is a function of one argument that builds ``tp`` from
    JSON-ready data exactly as ``converter.structure(data, tp)`` does when the
    data is well formed, and raises (anything) otherwise; the caller then runs
    the strict converter, which reports the problems. So a fast decoder never
    decides a refusal; it only has to give the same result on the data it
    accepts, and it accepts a subset of what the converter does:

    - an attrs class from an exact ``dict`` whose keys are all field names,
      every field without a default present, each field structured as below,
      a missing one given its default (a factory called, as ``__init__``
      does), the field's converter applied; then the object is made as its
      ``__init__`` makes it (:func:`_slot_setters`: each slot set, each
      validator run, then ``__attrs_post_init__``), except that where
      ``checks`` gives the class's conditions (``record.DECODE_CHECKS``) and
      they all hold on the values, ``__attrs_post_init__`` is not run: they
      hold only when it would find nothing. A class whose ``__init__`` is not
      attrs' plain one is called with the same keyword arguments instead;
    - ``str``, ``bool`` and ``int`` only as exactly those types, as the
      converter's hooks accept them; an enum by a dict lookup of its members
      by value, as ``cls(value)`` does; a value type (``Upn``...) from an exact
      ``str``, by its fast test (``value_types``) or else its converter, as its
      ``__init__`` does; a type whose hook remembers its answers (``memos``:
      ``date``) by a look-up there, else the hook; ``X | None`` as None or as
      ``X``; a tuple from an exact ``list``, item by item; a tagged union by
      its tag (an exact ``str``), its member read from the object without the
      tag, as the converter's union hook does;
    - any other type (and any field with its own hook in ``field_hooks``) by
      the converter's own hook for it (``strict(tp)`` for a class or union: its
      hook without a generated decoder in front).

    Everything is written out in line in one function per class or union:
    nested objects, tuples and unions included.
    """

    def __init__(
        self,
        converter: cattrs.Converter,
        *,
        value_types: Mapping[type, Callable[[object], str | None] | None],
        field_hooks: dict[type, dict[str, Callable[[Any, Any], Any]]],
        unions: dict[Any, tuple[str, dict[type, str]]],
        checks: Mapping[type, Checks] | None = None,
        memos: Mapping[Any, dict[Any, Any]] | None = None,
        remember: frozenset[type] = frozenset(),
        strict: Callable[[Any], Callable[[Any, Any], Any]] | None = None,
    ) -> None:
        self._converter = converter
        self._strict_hook = strict or converter.get_structure_hook
        self._value_types = value_types
        self._field_hooks = field_hooks
        self._unions = unions
        self._checks = checks or {}
        self._memo_gets = {tp: memo.get for tp, memo in (memos or {}).items()}
        self._remember = remember
        self._made: dict[Any, Callable[[Any], Any]] = {}
        self._members: dict[type, dict[Any, enum.Enum]] = {}
        self._inlining: list[Any] = []
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
        hook = self._strict_hook(tp)
        return lambda value: hook(value, tp)

    def _make(self, tp: Any) -> Callable[[Any], Any]:
        name = getattr(tp, "__name__", "union")
        src = _Source()
        src.add(0, f"def decode_{name}(s):")
        result = self._value(src, tp, "s", 1)
        src.add(1, f"return {result}")
        what = f"{tp.__module__}.{tp.__qualname__}" if isinstance(tp, type) else str(tp)
        decode: Callable[[Any], Any] = src.compile(f"decode_{name}", f"decode {what}")
        return decode

    def _inlinable(self, cls: type) -> bool:
        if not attrs.has(cls) or cls in self._inlining:
            return False
        attrs.resolve_types(cls)
        for field in attrs.fields(cls):
            if not _plain(field, converter_ok=True):
                return False
            default = field.default
            if isinstance(default, attrs.Factory) and default.takes_self:  # type: ignore[arg-type]
                return False
        return True

    def _value(self, src: _Source, tp: Any, data: str, indent: int) -> str:
        """Statements (added at ``indent``) that read the JSON value in local
        ``data`` as ``tp``; the expression that then holds the model value."""
        check = _SCALAR_CHECKS.get(tp) if isinstance(tp, type) else None
        if check is not None:
            src.add(indent, check.format(v=data))
            return data
        memo_get = self._memo_gets.get(tp)
        if memo_get is not None:
            out = src.var("d")
            src.add(indent, f"{out} = {src.bind('_memo', memo_get)}({data})")
            src.add(indent, f"if {out} is None:")
            hook, of = self._converter.get_structure_hook(tp), src.bind("_T", tp)
            src.add(indent + 1, f"{out} = {src.bind('_h', hook)}({data}, {of})")
            return out
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            members = self._members.get(tp)
            if members is None:
                members = self._members[tp] = {member.value: member for member in tp}
            out = src.var("e")
            src.add(indent, _SCALAR_CHECKS[str].format(v=data))
            src.add(indent, f"{out} = {src.bind('_m', members)}[{data}]")
            return out
        if tp in self._value_types:
            return self._value_type(src, tp, data, indent)
        if tp in self._unions:
            return self._union(src, tp, data, indent)
        if attrs.has(tp):
            if self._inlinable(tp):
                return self._class(src, tp, data, indent, None)
            out = src.var("x")
            src.add(indent, f"{out} = {src.bind('_s', self._strict(tp))}({data})")
            return out
        args = typing.get_args(tp)
        if _is_union(tp) and len(args) == 2 and type(None) in args:
            (inner,) = [arg for arg in args if arg is not type(None)]
            mark = len(src.lines)
            src.add(indent, f"if {data} is not None:")
            result = self._value(src, inner, data, indent + 1)
            if result == data:
                if len(src.lines) == mark + 1:
                    src.add(indent + 1, "pass")
                return data
            del src.lines[mark:]  # again, with the result in a local of its own
            out = src.var("x")
            src.add(indent, f"if {data} is None:")
            src.add(indent + 1, f"{out} = None")
            src.add(indent, "else:")
            src.add(indent + 1, f"{out} = {self._value(src, inner, data, indent + 1)}")
            return out
        if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
            return self._tuple(src, args[0], data, indent)
        out = src.var("x")
        hook, of = self._converter.get_structure_hook(tp), src.bind("_T", tp)
        src.add(indent, f"{out} = {src.bind('_h', hook)}({data}, {of})")
        return out

    def _tuple(self, src: _Source, item_type: Any, data: str, indent: int) -> str:
        src.add(indent, f"if type({data}) is not list: raise _F")
        out, item = src.var("x"), src.var("i")
        if item_type is str:
            src.add(indent, f"for {item} in {data}:")
            src.add(indent + 1, _SCALAR_CHECKS[str].format(v=item))
            src.add(indent, f"{out} = tuple({data})")
            return out
        items = src.var("l")
        src.add(indent, f"{items} = []")
        src.add(indent, f"for {item} in {data}:")
        result = self._value(src, item_type, item, indent + 1)
        src.add(indent + 1, f"{items}.append({result})")
        src.add(indent, f"{out} = tuple({items})")
        return out

    def _value_type(self, src: _Source, cls: type, data: str, indent: int) -> str:
        """A value type from an exact ``str``: its fast test's answer, or else its
        converter's, set on a new instance as its ``__init__`` does."""
        src.add(indent, _SCALAR_CHECKS[str].format(v=data))
        out = src.var("x")
        fields = attrs.fields(cls)
        setters = _slot_setters(cls)
        post_init = hasattr(cls, "__attrs_post_init__")
        if (
            setters is None
            or post_init
            or len(fields) != 1
            or fields[0].converter is None
            or fields[0].validator is not None
        ):
            src.add(indent, f"{out} = {src.bind('_V', cls)}({data})")
            return out
        convert = src.bind("_conv", fields[0].converter)
        value = src.var("c")
        fast = self._value_types[cls]
        step = indent
        if cls in self._remember:  # a pure function of an exact str: remembered
            memo = _value_memo(fields[0].converter)
            src.add(indent, f"{value} = {src.bind('_vget', memo.get)}({data})")
            src.add(indent, f"if {value} is None:")
            step = indent + 1
        if fast is not None:  # the converter is ``fast(v) or checked(v)``
            src.add(step, f"{value} = {src.bind('_fast', fast)}({data})")
            src.add(step, f"if not {value}: {value} = {convert}({data})")
        else:
            src.add(step, f"{value} = {convert}({data})")
        if step != indent:
            src.add(step, f"{src.bind('_vput', _remember_in(memo))}({data}, {value})")
        src.add(indent, f"{out} = _new({src.bind('_V', cls)})")
        src.add(indent, f"{src.bind('_set', setters[fields[0].name])}({out}, {value})")
        return out

    def _union(self, src: _Source, union: Any, data: str, indent: int) -> str:
        """A tagged union: the member its tag names, read from the object
        without the tag (in line: the tag is one more key the member allows)."""
        tag_name, tags = self._unions[union]
        src.add(indent, f"if type({data}) is not dict: raise _F")
        tag, out = src.var("t"), src.var("u")
        src.add(indent, f"{tag} = {data}[{tag_name!r}]")
        src.add(indent, _SCALAR_CHECKS[str].format(v=tag))
        keyword = "if"
        for cls, name in tags.items():
            src.add(indent, f"{keyword} {tag} == {name!r}:")
            keyword = "elif"
            if self._inlinable(cls) and tag_name not in attrs.fields_dict(cls):
                result = self._class(src, cls, data, indent + 1, tag_name)
            else:
                rest = src.var("w")
                src.add(indent + 1, f"{rest} = {data}.copy()")
                src.add(indent + 1, f"del {rest}[{tag_name!r}]")
                made = self.decoder(cls) if cls not in self._inlining else None
                result = f"{src.bind('_s', made or self._strict(cls))}({rest})"
            src.add(indent + 1, f"{out} = {result}")
        src.add(indent, "else: raise _F")
        return out

    def _class(self, src: _Source, cls: type, data: str, indent: int, tag: str | None) -> str:
        """An attrs class, in line (see the class's docstring)."""
        self._inlining.append(cls)
        try:
            return self._class_body(src, cls, data, indent, tag)
        finally:
            self._inlining.remove(cls)

    def _class_body(self, src: _Source, cls: type, data: str, indent: int, tag: str | None) -> str:
        fields = attrs.fields(cls)
        src.add(indent, f"if type({data}) is not dict: raise _F")
        # No unknown keys: every field present was read, the required ones (and the
        # tag) always; so the dict has no other key when it has just that many.
        required = sum(f.default is attrs.NOTHING for f in fields) + (tag is not None)
        count = src.var("n") if len(fields) + (tag is not None) > required else None
        if count is not None:
            src.add(indent, f"{count} = {required}")
        own_hooks = self._field_hooks.get(cls, {})
        values: dict[str, str] = {}
        for field in fields:
            name = field.name
            if field.default is attrs.NOTHING:
                raw = src.var("r")
                src.add(indent, f"{raw} = {data}[{name!r}]")
                value = self._field(src, field, own_hooks.get(name), raw, indent)
            else:
                value = src.var("f")
                src.add(indent, f"if {name!r} in {data}:")
                src.add(indent + 1, f"{count} += 1")
                raw = src.var("r")
                src.add(indent + 1, f"{raw} = {data}[{name!r}]")
                result = self._field(src, field, own_hooks.get(name), raw, indent + 1)
                src.add(indent + 1, f"{value} = {result}")
                src.add(indent, "else:")
                src.add(indent + 1, f"{value} = {self._default(src, field.default)}")
            if field.converter is not None:
                converted = src.var("c")
                src.add(indent, f"{converted} = {src.bind('_conv', field.converter)}({value})")
                value = converted
            values[name] = value
        src.add(indent, f"if len({data}) != {count or required}: raise _F")
        out = src.var("o")
        setters = _slot_setters(cls)
        if setters is None:
            arguments = ", ".join(f"{name}={value}" for name, value in values.items())
            src.add(indent, f"{out} = {src.bind('_C', cls)}({arguments})")
            return out
        src.add(indent, f"{out} = _new({src.bind('_C', cls)})")
        for name, value in values.items():
            src.add(indent, f"{src.bind('_set', setters[name])}({out}, {value})")
        for field in fields:
            if field.validator is not None:
                validator, attribute = src.bind("_val", field.validator), src.bind("_at", field)
                src.add(indent, f"{validator}({out}, {attribute}, {values[field.name]})")
        if hasattr(cls, "__attrs_post_init__"):
            checks = self._checks.get(cls)
            if checks is None:
                src.add(indent, f"{out}.__attrs_post_init__()")
            else:
                known = self._texts_known(cls, checks, own_hooks)
                holds = checks_source(checks, values, out, src.bind, texts_known=known)
                src.add(indent, f"if not ({holds}): {out}.__attrs_post_init__()")
        return out

    @staticmethod
    def _texts_known(kind: type, checks: Checks, own_hooks: Mapping[str, Any]) -> bool:
        """Every :class:`Text` condition's field is decoded here as an exact
        ``str`` (``str | None``, ``tuple[str, ...]``): no own hook, no converter."""
        fields = attrs.fields_dict(kind)
        for condition in checks.conditions:
            if isinstance(condition, Text):
                field = fields[condition.field]
                if (
                    condition.field in own_hooks
                    or field.converter is not None
                    or field.type not in _TEXT_TYPES
                ):
                    return False
        return True

    def _field(
        self,
        src: _Source,
        field: attrs.Attribute[Any],
        own_hook: Callable[[Any, Any], Any] | None,
        raw: str,
        indent: int,
    ) -> str:
        if own_hook is None:
            return self._value(src, field.type, raw, indent)
        out = src.var("x")
        hook, of = src.bind("_own", own_hook), src.bind("_T", field.type)
        src.add(indent, f"{out} = {hook}({raw}, {of})")
        return out

    @staticmethod
    def _default(src: _Source, default: Any) -> str:
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            return f"{src.bind('_factory', default.factory)}()"
        if default is None or default is True or default is False:
            return repr(default)
        return src.bind("_dv", default)


#: The types the decoders read as exact ``str`` (or ``None``, or a tuple of them).
_TEXT_TYPES = (str, str | None, typing.Optional[str], tuple[str, ...])  # noqa: UP045 - both spellings


def _is_union(tp: Any) -> bool:
    return isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union

"""A class's fast test, written once as conditions: tested on an object, or in line.

A record class's ``__attrs_post_init__`` first asks a fast test whether the
object is certainly fine and returns at once if so (see ``record.py``, "Fast
paths"). Such a test is written here as :class:`Checks`: a few conditions on
the object's fields, which :func:`object_test` turns into the function the
class calls, and which the wire codec's generated decoders
(:mod:`contactpoint_sdk.models._fast_codec`) write out in line on the field
values they have just decoded, so that an object read from the wire is
checked without a call per field and without running ``__attrs_post_init__``
at all when every condition holds.

The contract is the fast tests' own: when every condition holds, the class's
full checks find nothing; when one does not (or raises), nothing is decided,
and the full checks run and report exactly as they always have. So a
condition may be stricter than the checks, never looser.

Conditions:

- :class:`Text`: a text field passes a remembering test (``_accepts`` or
  ``_matches`` in ``record.py``, whose accepted strings are kept in a set: see
  :func:`remembering`); in line, a set look-up first, the test only for a
  string not seen before. ``mode`` is ``"one"`` (the field is a text),
  ``"optional"`` (``None`` or a text) or ``"each"`` (a tuple of texts, each
  passing);
- :class:`Expr`: a Python expression over the fields, each written
  ``{field}``, with the module-level names it uses in ``names``;
- :class:`Whole`: a test of the whole object (for checks that walk nested
  objects), called with the object.
"""

from __future__ import annotations

import linecache
import string
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

__all__ = [
    "Binder",
    "Checks",
    "Expr",
    "Text",
    "Whole",
    "all_pass",
    "checks_source",
    "condition_source",
    "object_test",
    "remembered",
    "remembering",
]

TextTest = Callable[[object], bool]

#: Each remembering test's set of the strings it has accepted.
_REMEMBERED: dict[TextTest, set[str]] = {}


def remembering(test: TextTest, accepted: set[str]) -> TextTest:
    """Note that ``test`` returns True, without looking further, for every
    string in ``accepted`` (the set it adds each string it accepts to, and
    only ever empties, never replaces). Returns ``test``."""
    _REMEMBERED[test] = accepted
    return test


def remembered(test: TextTest) -> set[str] | None:
    """The set of strings ``test`` is known to accept (see :func:`remembering`)."""
    return _REMEMBERED.get(test)


@attrs.frozen
class Text:
    """``field`` passes ``test``: a text (``"one"``), ``None`` or a text
    (``"optional"``), or a tuple of texts that each pass (``"each"``)."""

    field: str
    test: TextTest
    mode: Literal["one", "optional", "each"] = "one"


@attrs.frozen
class Expr:
    """A Python expression over the fields (``{field}``), true when they pass;
    ``names`` are the module-level names it uses."""

    source: str
    names: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class Whole:
    """``test(obj)`` is true when the object passes."""

    test: Callable[[Any], bool]


Condition = Text | Expr | Whole


@attrs.frozen
class Checks:
    """Conditions under which a class's ``__attrs_post_init__`` finds nothing."""

    conditions: tuple[Condition, ...]

    def fields(self) -> list[str]:
        """The fields the conditions read, in order, each once."""
        found: dict[str, None] = {}
        for condition in self.conditions:
            if isinstance(condition, Text):
                found[condition.field] = None
            elif isinstance(condition, Expr):
                for name in _placeholders(condition.source):
                    found[name] = None
        return list(found)


def _placeholders(source: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(source) if name]


def all_pass(test: TextTest, accepted: set[str] | None, values: Iterable[object]) -> bool:
    """Every one of ``values`` is a ``str`` in ``accepted`` or passes ``test``."""
    if accepted is None:
        accepted = set()
    for value in values:
        if type(value) is str and value in accepted:
            continue
        if not test(value):
            return False
    return True


def condition_source(
    condition: Condition,
    fields: Mapping[str, str],
    obj: str,
    bind: Callable[[str, Any], str],
    *,
    texts_known: bool = False,
) -> str:
    """One condition as a Python expression: ``fields`` maps each field to the
    local variable holding its value, ``obj`` is the variable holding the
    object, and ``bind(stem, value)`` gives a module-level name for a value.

    ``texts_known``: each :class:`Text` field's value is already known to be
    an exact ``str`` (or ``None`` where optional), so the expression need not
    test its type before looking it up among the accepted strings."""
    if isinstance(condition, Text):
        value = fields[condition.field]
        test = bind("_t", condition.test)
        accepted = remembered(condition.test)
        if condition.mode == "each":
            every = f"{bind('_all', all_pass)}({test}, {bind('_a', accepted)}, {value})"
            if texts_known and accepted is not None:  # every item remembered: one C call
                every = f"{bind('_a', accepted)}.issuperset({value}) or {every}"
            return f"(type({value}) is tuple and (not {value} or {every}))"
        seen = "" if accepted is None else f"{value} in {bind('_a', accepted)} or "
        if not texts_known and seen:  # a str subclass is left to the test itself
            seen = f"type({value}) is str and {seen[:-4]} or "
        if condition.mode == "optional":
            return f"({value} is None or {seen}{test}({value}))"
        return f"({seen}{test}({value}))"
    if isinstance(condition, Expr):
        for name, value in condition.names.items():
            if bind(name, value) != name:
                raise ValueError(f"name {name!r} is bound to another value")
        return f"({condition.source.format(**fields)})"
    return f"{bind('_w', condition.test)}({obj})"


def checks_source(
    checks: Checks,
    fields: Mapping[str, str],
    obj: str,
    bind: Callable[[str, Any], str],
    *,
    texts_known: bool = False,
) -> str:
    """Every condition of ``checks``, joined with ``and`` (see :func:`condition_source`)."""
    return " and ".join(
        condition_source(c, fields, obj, bind, texts_known=texts_known) for c in checks.conditions
    )


class Binder:
    """Module-level names for the values a generated function uses."""

    def __init__(self, names: dict[str, Any] | None = None) -> None:
        self.names: dict[str, Any] = {} if names is None else names
        self._by_id: dict[tuple[str, int], str] = {}  # (every value is kept in ``names``)
        self._next: dict[str, int] = {}

    def __call__(self, stem: str, value: Any) -> str:
        """A name bound to ``value``: ``stem`` itself when it is free or holds
        ``value`` already, else ``stem`` with a number."""
        if self.names.get(stem, _FREE) is value:
            return stem
        key = (stem, id(value))
        found = self._by_id.get(key)
        if found is not None:
            return found
        name, n = stem, self._next.get(stem, 0)
        while name in self.names:
            n += 1
            name = f"{stem}_{n}"
        self._next[stem] = n
        self.names[name] = value
        self._by_id[key] = name
        return name


_FREE = object()


def object_test(cls: type, checks: Checks) -> Callable[[Any], bool]:
    """The fast test of ``cls`` as a function of an object: True when every
    condition holds, False when one does not or raises (never an exception)."""
    fields = checks.fields()
    local = {name: f"v_{name}" for name in fields}
    bind = Binder()
    lines = [f"def {cls.__name__}_ok(o):", "    try:"]
    lines.extend(f"        {local[name]} = o.{name}" for name in fields)
    lines.append(f"        return bool({checks_source(checks, local, 'o', bind)})")
    lines.append("    except Exception:")
    lines.append("        return False")
    source = "\n".join(lines) + "\n"
    filename = f"<contactpoint generated checks {cls.__module__}.{cls.__qualname__}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), bind.names)  # noqa: S102 - our own generated code
    test: Callable[[Any], bool] = bind.names[f"{cls.__name__}_ok"]
    return test

"""The record-model reference, generated from the classes themselves.

``python -m contactpoint_sdk.models.reference --write docs/models.md`` rewrites
the reference between its markers; a test fails when the doc is stale.
"""

from __future__ import annotations

import enum
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any

import attrs

from contactpoint_sdk.models import contact, identifiers, operations, record, views
from contactpoint_sdk.models.codec import MAX_AGE_YEARS

__all__ = ["main", "render_markdown"]

#: The rule each class serves.
CLASS_RULES: dict[type, str] = {
    record.ChildRecord: "REC-1",
    record.PersonName: "REC-1, REC-2",
    record.Address: "REC-1, REC-2, REC-3",
    record.SourceIdentifiers: "REC-1",
    identifiers.SchoolReference: "REC-1",
    record.ParentCarer: "REC-2",
    record.LocalAuthorityCarer: "REC-2",
    record.ContactDetails: "REC-2, REC-3, REC-4",
    record.Phone: "REC-2, REC-3",
    record.Organisation: "REC-3, REC-4",
    record.Practitioner: "REC-3, REC-4",
    record.Involvement: "REC-3, REC-4, REC-5, SENS-1",
    record.Consent: "SENS-2",
    record.ConsentOverride: "SENS-3",
    record.Shield: "SHLD-2, SHLD-4, SHLD-6",
    record.ShieldReview: "SHLD-3",
    record.RetentionExtension: "RET-2",
}

#: Field rules that differ from their class's.
FIELD_RULES: dict[tuple[type, str], str] = {
    (record.ChildRecord, "directory_id"): "REC-1 (assigned by the directory)",
    (
        record.ChildRecord,
        "date_of_birth",
    ): f"REC-1; refused if in the future or {MAX_AGE_YEARS}+ years ago",
    (record.ChildRecord, "parents"): "REC-2",
    (record.ChildRecord, "involvements"): "REC-3, REC-4",
    (record.ChildRecord, "shield"): "SHLD-1",
    (record.ChildRecord, "died_on"): "RET-3",
    (record.ChildRecord, "left_england_on"): "RET-4",
    (record.ChildRecord, "retention_extension"): "RET-2",
    (record.Involvement, "lead_professional"): "REC-5",
    (record.Involvement, "caf_completed"): "REC-5 (no consent needed)",
    (record.Involvement, "contact_retention"): "RET-7",
    (record.Involvement, "consent"): "SENS-2 (sensitive services only)",
    (record.Involvement, "consent_override"): "SENS-3 (sensitive services only)",
}

RECORD_CLASSES: tuple[type, ...] = (
    record.ChildRecord,
    record.PersonName,
    record.Address,
    record.SourceIdentifiers,
    identifiers.SchoolReference,
    record.ParentCarer,
    record.LocalAuthorityCarer,
    record.ContactDetails,
    record.Phone,
    record.Organisation,
    record.Practitioner,
    record.Involvement,
    record.Consent,
    record.ConsentOverride,
    record.Shield,
    record.ShieldReview,
    record.RetentionExtension,
)

VIEW_CLASSES: tuple[type, ...] = (
    views.ShieldedChildView,
    views.ShieldedName,
    views.ChildView,
    views.ServiceView,
    views.UnspecifiedServiceView,
    views.FullRecordView,
)

OPERATION_CLASSES: tuple[type, ...] = (
    operations.SupplyBatch,
    *operations.OPERATION_TAGS,
    operations.ChildKey,
    operations.SupplyReceipt,
    operations.OperationOutcome,
)


_VALUE_TYPES: frozenset[type] = frozenset(
    {
        identifiers.Upn,
        identifiers.Uln,
        identifiers.NhsNumber,
        identifiers.DirectoryId,
        contact.Postcode,
        contact.PhoneNumber,
        contact.EmailAddress,
    }
)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is tuple:
        args = typing.get_args(tp)
        return f"list of {_type_name(args[0])}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return f"`{tp.__name__}`"
    if tp in _VALUE_TYPES:
        return f"`{tp.__name__}` (string)"
    if isinstance(tp, type) and attrs.has(tp):
        return f"[`{tp.__name__}`](#{tp.__name__.lower()})"
    names = {str: "string", int: "integer", bool: "boolean"}
    if tp in names:
        return names[tp]
    if isinstance(tp, type):
        if tp.__name__ in ("date", "datetime"):
            return "date (YYYY-MM-DD)" if tp.__name__ == "date" else "date-time with offset"
        return f"`{tp.__name__}` (string)"
    return str(tp)


def _summary(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    return doc.split("\n\n")[0].replace("\n", " ")


def _class_section(cls: type) -> list[str]:
    attrs.resolve_types(cls)
    out = [f"### {cls.__name__}", "", _summary(cls), ""]
    tag = (
        views.VIEW_TAGS.get(cls)
        or operations.OPERATION_TAGS.get(cls)
        or {record.ParentCarer: "person", record.LocalAuthorityCarer: "local_authority"}.get(cls)
    )
    if tag:
        member = (
            "view"
            if cls in views.VIEW_TAGS
            else "op"
            if cls in operations.OPERATION_TAGS
            else "type"
        )
        out += [f'On the wire it carries `"{member}": "{tag}"`.', ""]
    out += ["| field (wire name) | type | required | rule |", "|---|---|---|---|"]
    class_rule = CLASS_RULES.get(cls, "")
    for field in attrs.fields(cls):
        required = "yes" if field.default is attrs.NOTHING else "no"
        rule = FIELD_RULES.get((cls, field.name), class_rule)
        out.append(f"| `{field.name}` | {_type_name(field.type)} | {required} | {rule} |")
    out.append("")
    return out


def _enum_section(cls: type[enum.Enum]) -> list[str]:
    values = ", ".join(f"`{m.value}`" for m in cls)
    return [f"- **{cls.__name__}**: {values}"]


def render_markdown() -> str:
    """The whole generated reference."""
    out = ["## Record", ""]
    for cls in RECORD_CLASSES:
        out += _class_section(cls)
    out += ["## Views (what a viewer is shown)", ""]
    for cls in VIEW_CLASSES:
        out += _class_section(cls)
    out += ["## Supply operations, batches and receipts", ""]
    for cls in OPERATION_CLASSES:
        out += _class_section(cls)
    out += ["## Vocabularies (wire values)", ""]
    from contactpoint_sdk.models import enums  # noqa: PLC0415 - keeps the import list short

    for name in enums.__all__:
        out += _enum_section(getattr(enums, name))
    out.append("")
    return "\n".join(out)


BEGIN_MARK = "<!-- reference:begin -->"
END_MARK = "<!-- reference:end -->"


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or ``--write PATH`` it between the markers."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--write"]:
        path = Path(args[1] if len(args) > 1 else "docs/models.md")
        head, _, rest = path.read_text(encoding="utf-8").partition(BEGIN_MARK)
        _, _, tail = rest.partition(END_MARK)
        path.write_text(f"{head}{BEGIN_MARK}\n{render_markdown()}{END_MARK}{tail}", "utf-8")
    else:
        sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

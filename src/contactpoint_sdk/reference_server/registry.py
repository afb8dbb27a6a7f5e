"""The supplier registry: accredited suppliers, their keys and agreements (SUP-3, SUP-4).

Only a registered, accredited supplier may supply (SUP-3). Each registers:

- its Ed25519 **signing keys** (public halves only). A ``kid`` belongs to one
  supplier: registering a key another supplier holds is refused. The
  directory opens an envelope with the key its ``kid`` names and so knows for
  certain which supplier sent it (SUP-5);
- its **operational agreements** (SUP-4): which operations and which service
  kinds it may send under each agreement ID;
- optionally the **local authority** it is registered in, which becomes the
  local authority of the records it supplies.

Registering an ID again updates the supplier (name, keys, agreements,
authority) and reinstates it if it was suspended; its namespace and last
sequence number are kept. Suspending refuses every later supply (SUP-3)
without forgetting anything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import datetime

from contactpoint_sdk.errors import ConfigurationError, RecordNotFound, SupplierNotAccredited
from contactpoint_sdk.models.enums import ServiceKind
from contactpoint_sdk.reference_server.entities import (
    ALL_OPERATIONS,
    SupplierRecord,
    SupplyAgreement,
)
from contactpoint_sdk.reference_server.store import Store, SupplierRow
from contactpoint_sdk.supply.keys import PublicKey

__all__ = ["SEED_NAMESPACE", "SEED_SUPPLIER", "SupplierRegistry"]

#: The pseudo-supplier whose "contributions" are the seeded synthetic population.
SEED_SUPPLIER = "@seed"
SEED_NAMESPACE = "seed"

_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_LA_RE = re.compile(r"\d{3}")


def _agreements_json(agreements: Iterable[SupplyAgreement]) -> str:
    return json.dumps(
        [
            {
                "agreement_id": a.agreement_id,
                "operations": sorted(a.operations),
                "services": sorted(s.value for s in a.services),
                "frequency": a.frequency,
                "purpose": a.purpose,
            }
            for a in agreements
        ]
    )


def _agreements_from(text: str) -> tuple[SupplyAgreement, ...]:
    return tuple(
        SupplyAgreement(
            agreement_id=a["agreement_id"],
            operations=frozenset(a["operations"]),
            services=frozenset(ServiceKind(s) for s in a["services"]),
            frequency=a["frequency"],
            purpose=a["purpose"],
        )
        for a in json.loads(text)
    )


class SupplierRegistry:
    """Registers, suspends and finds suppliers, over the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def register(
        self,
        supplier_id: str,
        name: str,
        *,
        signing_keys: Iterable[PublicKey],
        agreements: Iterable[SupplyAgreement],
        local_authority: str | None,
        now: datetime,
    ) -> SupplierRecord:
        if not isinstance(supplier_id, str) or not _ID_RE.fullmatch(supplier_id):
            raise ConfigurationError(
                "a supplier ID is 1 to 64 letters, digits, '.', '_', ':' or '-'",
                code="supplier_id_invalid",
            )
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError("a supplier needs a name", code="supplier_name_invalid")
        if local_authority is not None and not _LA_RE.fullmatch(local_authority):
            raise ConfigurationError("a local authority code is 3 digits", code="la_code_invalid")
        keys = list(signing_keys)
        if not keys:
            raise ConfigurationError(
                "a supplier registers at least one signing key", code="supplier_keys_required"
            )
        for key in keys:
            if not isinstance(key, PublicKey) or key.curve != "Ed25519":
                raise ConfigurationError(
                    "supplier keys are Ed25519 public signing keys", code="supplier_key_invalid"
                )
        deals = list(agreements)
        if not deals:
            raise ConfigurationError(
                "a supplier supplies under at least one agreement (SUP-4)",
                code="agreement_required",
                rule="SUP-4",
            )
        ids = [a.agreement_id for a in deals]
        if len(set(ids)) != len(ids) or not all(_ID_RE.fullmatch(i) for i in ids):
            raise ConfigurationError(
                "agreement IDs are unique, 1 to 64 letters, digits, '.', '_', ':' or '-'",
                code="agreement_id_invalid",
                rule="SUP-4",
            )
        for a in deals:
            unknown = set(a.operations) - ALL_OPERATIONS
            if unknown:
                raise ConfigurationError(
                    f"agreement {a.agreement_id} names unknown operations: {sorted(unknown)}",
                    code="agreement_operation_unknown",
                    rule="SUP-4",
                )
        with self.store.transaction():
            for key in keys:
                owner = self.store.supplier_of_key(key.kid)
                if owner is not None and owner[0] != supplier_id:
                    raise ConfigurationError(
                        f"the key {key.kid!r} is registered to another supplier",
                        code="supplier_key_taken",
                        rule="SUP-5",
                    )
            existing = self.store.get_supplier(supplier_id)
            if existing is not None:
                namespace, last = existing.namespace, existing.last_sequence
                registered_at = existing.registered_at
            else:
                namespace, last, registered_at = self._new_namespace(), 0, now.isoformat()
            self.store.put_supplier(
                SupplierRow(
                    supplier_id=supplier_id,
                    name=name,
                    namespace=namespace,
                    local_authority=local_authority,
                    accredited=True,
                    agreements=_agreements_json(deals),
                    keys=tuple(
                        (key.kid, json.dumps(key.public_jwk(), sort_keys=True)) for key in keys
                    ),
                    last_sequence=last,
                    registered_at=registered_at,
                )
            )
        return self.get(supplier_id)

    def _new_namespace(self) -> str:
        """``s1``, ``s2`` ... in registration order; the counter lives in the
        store's meta table, which no reset empties, so a namespace is never
        given twice."""
        n = int(self.store.get_meta("supplier_namespaces") or "0") + 1
        self.store.set_meta("supplier_namespaces", str(n))
        return f"s{n}"

    def suspend(self, supplier_id: str) -> SupplierRecord:
        with self.store.transaction():
            row = self._row(supplier_id)
            self.store.put_supplier(
                SupplierRow(
                    supplier_id=row.supplier_id,
                    name=row.name,
                    namespace=row.namespace,
                    local_authority=row.local_authority,
                    accredited=False,
                    agreements=row.agreements,
                    keys=row.keys,
                    last_sequence=row.last_sequence,
                    registered_at=row.registered_at,
                )
            )
        return self.get(supplier_id)

    def _row(self, supplier_id: str) -> SupplierRow:
        row = self.store.get_supplier(supplier_id)
        if row is None:
            raise RecordNotFound(
                "no supplier is registered with that ID", code="supplier_not_found"
            )
        return row

    def get(self, supplier_id: str) -> SupplierRecord:
        """The supplier; ``RecordNotFound`` (``supplier_not_found``) if none."""
        row = self._row(supplier_id)
        return SupplierRecord(
            supplier_id=row.supplier_id,
            name=row.name,
            agreements=_agreements_from(row.agreements),
            accredited=row.accredited,
            local_authority=row.local_authority,
            key_ids=tuple(kid for kid, _ in row.keys),
            namespace=row.namespace,
            last_sequence=row.last_sequence,
        )

    def accredited(self, supplier_id: str) -> SupplierRecord:
        """The supplier if registered and accredited, else ``SupplierNotAccredited`` (SUP-3)."""
        row = self.store.get_supplier(supplier_id)
        if row is None:
            raise SupplierNotAccredited("the batch names a supplier that is not registered")
        if not row.accredited:
            raise SupplierNotAccredited("the supplier is suspended")
        return self.get(supplier_id)

    def signing_key(self, kid: str) -> PublicKey:
        """The registered key ``kid`` names, for the envelope opener.

        A key no supplier has registered means the sender is not an
        accredited supplier: ``SupplierNotAccredited`` (SUP-3).
        """
        found = self.store.supplier_of_key(kid)
        if found is None:
            raise SupplierNotAccredited(
                "the envelope is signed with a key no accredited supplier has registered"
            )
        return PublicKey.from_jwk(json.loads(found[1]))

    def registered_key(self, kid: str) -> PublicKey | None:
        """The registered key ``kid`` names, or ``None``: for the status
        request's opener, where an unknown key is an unauthenticated caller
        (``UnknownKey``, 401), not a batch from an unaccredited supplier."""
        found = self.store.supplier_of_key(kid)
        return None if found is None else PublicKey.from_jwk(json.loads(found[1]))

    def owner_of_key(self, kid: str) -> str:
        found = self.store.supplier_of_key(kid)
        if found is None:
            raise SupplierNotAccredited(
                "the envelope is signed with a key no accredited supplier has registered"
            )
        return found[0]

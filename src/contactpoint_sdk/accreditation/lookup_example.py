"""An example look-up integration on the SDK's :class:`~contactpoint_sdk.lookup.LookupClient`,
and faulty variants of it, one fault each, for the look-up plan's self-test.

:class:`ExampleLookup` is what a vendor embedding look-up builds: it signs
its user in with all four credentials (ACC-1), searches with enough detail
(ACC-4), opens the first match with a reason (ACC-3), and shows its user
whatever view the directory gives: a shielded view (SHLD-1), a view with
unspecified services (SENS-4), or a full one. It keeps nothing between
sessions. Each faulty variant breaks exactly one look-up test.

Synthetic data only: the suite's seeded children.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import httpx

from contactpoint_sdk.accreditation.harness import LookupConnection
from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import ConfigurationError, ContactPointError
from contactpoint_sdk.lookup import LookupClient
from contactpoint_sdk.models.views import (
    AnyChildView,
    ChildView,
    FullRecordView,
    ShieldedChildView,
)
from contactpoint_sdk.policy.reasons import ReasonCode
from contactpoint_sdk.policy.trawling import SearchCriteria
from contactpoint_sdk.reference_server.users import totp_code
from contactpoint_sdk.supply.retry import RetryPolicy

__all__ = [
    "FAULTY_LOOKUPS",
    "CachesAcrossSessions",
    "ExampleLookup",
    "FailsOnShield",
    "FailsOnUnspecifiedService",
    "HammersOnRateLimit",
    "OpensWithoutReasonFirst",
]


class _NothingFound(ContactPointError):
    code = "not_found"


def _render(view: AnyChildView) -> dict[str, object]:
    """What the example shows its user: the view's own fields, nothing more."""
    if isinstance(view, ShieldedChildView):
        return {
            "view": "shielded",
            "directory_id": str(view.directory_id),
            "name": f"{view.name.given_name} {view.name.family_name}",
            "date_of_birth": view.date_of_birth.isoformat(),
        }
    if isinstance(view, FullRecordView):
        record = view.record
        return {
            "view": "full",
            "directory_id": str(record.directory_id),
            "name": f"{record.name.given_name} {record.name.family_name}",
            "date_of_birth": record.date_of_birth.isoformat(),
            "address": ", ".join((*record.address.lines, str(record.address.postcode or ""))),
            "services": [f"{i.service.value}: {i.organisation.name}" for i in record.involvements],
        }
    return {
        "view": "child",
        "directory_id": str(view.directory_id),
        "name": f"{view.name.given_name} {view.name.family_name}",
        "date_of_birth": view.date_of_birth.isoformat(),
        "address": ", ".join((*view.address.lines, str(view.address.postcode or ""))),
        "services": [f"{s.service.value}: {s.organisation.name}" for s in view.services],
        "unspecified_services": len(view.unspecified_services),
    }


class ExampleLookup:
    """A correct look-up integration (passes every look-up test)."""

    name = "Example look-up integration"
    version = "1.0"
    reason: ClassVar[ReasonCode] = ReasonCode.COORDINATING_SERVICES

    def __init__(self) -> None:
        self._connection: LookupConnection | None = None
        self._client: LookupClient | None = None

    def _retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=3, initial_wait=0.2, jitter=0.1, retry_after_cap=5.0)

    def _now(self) -> datetime:
        clock = self._connection.clock if self._connection is not None else None
        return clock.now() if isinstance(clock, Clock) else datetime.now(UTC)

    def connect(self, connection: LookupConnection) -> None:
        self._connection = connection
        self._client = LookupClient(
            base_url=connection.base_url,
            transport=connection.transport,
            clock=connection.clock if isinstance(connection.clock, Clock) else None,
            retry=self._retry(),
        )

    def _signed_in(self) -> LookupClient:
        if self._client is None or self._connection is None:
            raise ConfigurationError("connect() first")
        if not self._client.signed_in:
            c = self._connection
            self._client.sign_in(
                c.username, c.password, c.pin, totp_code(c.token_secret, self._now())
            )
        return self._client

    def _open(self, client: LookupClient, directory_id: str) -> AnyChildView:
        return client.open(directory_id, self.reason)

    def _show(self, view: AnyChildView) -> dict[str, object]:
        return _render(view)

    def find_child(
        self, *, family_name: str, given_name: str | None, date_of_birth: date
    ) -> Mapping[str, object]:
        client = self._signed_in()
        found = client.search(
            SearchCriteria(
                family_name=family_name, given_name=given_name, date_of_birth=date_of_birth
            )
        )
        ids = [c.directory_id for c in found.candidates] + [
            c.directory_id for c in found.shielded_candidates
        ]
        if not ids:
            raise _NothingFound("no child matched")
        return self._show(self._open(client, str(ids[0])))

    def end_session(self) -> None:
        if self._client is not None:
            self._client.sign_out()

    def close(self) -> None:
        if self._client is not None:
            self._client.sign_out()
            self._client.close()
            self._client = None


class OpensWithoutReasonFirst(ExampleLookup):
    """Fault (AC-ACC-3-01): tries to open a record without a reason, and
    states one only when the directory refuses."""

    expected_failure = "AC-ACC-3-01"

    def _open(self, client: LookupClient, directory_id: str) -> AnyChildView:
        if self._connection is None:
            raise ConfigurationError("connect() first")
        token: Any = getattr(client, "_token", None)
        raw = httpx.Client(transport=self._connection.transport)  # the SDK would refuse
        raw.post(
            f"{self._connection.base_url}/v1/records/{directory_id}/open",
            json={},
            headers={"Authorization": f"Bearer {token}"},
        )
        return super()._open(client, directory_id)


class FailsOnShield(ExampleLookup):
    """Fault (AC-SHLD-1-01): assumes every view has an address."""

    expected_failure = "AC-SHLD-1-01"

    def _show(self, view: AnyChildView) -> dict[str, object]:
        if isinstance(view, ShieldedChildView):
            raise TypeError("this integration expects an address on every record")
        return super()._show(view)


class FailsOnUnspecifiedService(ExampleLookup):
    """Fault (AC-SENS-4-01): cannot show a service without its organisation."""

    expected_failure = "AC-SENS-4-01"

    def _show(self, view: AnyChildView) -> dict[str, object]:
        if isinstance(view, ChildView) and view.unspecified_services:
            raise TypeError("this integration expects every service to name its organisation")
        return super()._show(view)


class HammersOnRateLimit(ExampleLookup):
    """Fault (AC-ACC-4-01): retries a rate-limited search at once, ignoring
    Retry-After."""

    expected_failure = "AC-ACC-4-01"

    def _retry(self) -> RetryPolicy:
        return RetryPolicy(max_attempts=3, initial_wait=0.0, jitter=0.0, retry_after_cap=0.0)


class CachesAcrossSessions(ExampleLookup):
    """Fault (AC-ACC-1-01): keeps what it showed and serves it again, even
    after the session ended."""

    expected_failure = "AC-ACC-1-01"

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict[tuple[str, str | None, date], Mapping[str, object]] = {}

    def connect(self, connection: LookupConnection) -> None:
        self._cache.clear()  # a new directory; the fault is keeping it across sessions
        super().connect(connection)

    def find_child(
        self, *, family_name: str, given_name: str | None, date_of_birth: date
    ) -> Mapping[str, object]:
        key = (family_name, given_name, date_of_birth)
        if key not in self._cache:
            self._cache[key] = super().find_child(
                family_name=family_name, given_name=given_name, date_of_birth=date_of_birth
            )
        return self._cache[key]


#: One faulty variant per look-up test.
FAULTY_LOOKUPS: tuple[type[ExampleLookup], ...] = (
    OpensWithoutReasonFirst,
    FailsOnShield,
    FailsOnUnspecifiedService,
    HammersOnRateLimit,
    CachesAcrossSessions,
)

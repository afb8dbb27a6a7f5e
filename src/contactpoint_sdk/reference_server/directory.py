"""``ReferenceDirectory``: the whole reference directory in three lines.

::

    directory = ReferenceDirectory()                       # in-process, SQLite, movable clock
    school = directory.register_supplier("school-8012000", "Riverside Primary")
    with directory.supply_client(school) as client:
        result = client.supply(operations)                 # signed, sealed, one way

One :class:`~contactpoint_sdk.reference_server.service.DirectoryService` (one
state) behind every way in: the in-process transports (no sockets), the
loopback HTTPS server (:meth:`serve`), and direct calls on :attr:`service` —
as moto keeps one state behind its mock and its server.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import attrs

from contactpoint_sdk.clock import MovableClock
from contactpoint_sdk.errors import ConfigurationError
from contactpoint_sdk.reference_server.app import create_app
from contactpoint_sdk.reference_server.faults import FaultInjector
from contactpoint_sdk.reference_server.serve import LoopbackServer
from contactpoint_sdk.reference_server.service import (
    DirectoryService,
    JobReport,
    SupplyAgreement,
)
from contactpoint_sdk.reference_server.transport import AsyncInProcessTransport, InProcessTransport
from contactpoint_sdk.supply.client import AsyncSupplyClient, SupplyClient
from contactpoint_sdk.supply.keys import SigningKey
from contactpoint_sdk.supply.retry import RetryPolicy

__all__ = ["IN_PROCESS_URL", "ReferenceDirectory", "SupplierCredentials"]

#: The base URL clients use with the in-process transports (never resolved).
IN_PROCESS_URL = "https://directory.invalid"


@attrs.frozen(kw_only=True)
class SupplierCredentials:
    """What a registered supplier needs to supply: its ID, the agreement it
    supplies under, and its signing key (which never leaves the supplier)."""

    supplier_id: str
    agreement_id: str
    signing_key: SigningKey = attrs.field(repr=False)


class ReferenceDirectory:
    """The reference directory, in-process, ready to supply to and look up in.

    :param path: a SQLite file to keep the directory in (default: memory).
    :param start: where the directory's clock starts (default: now). The
        clock only moves when you move it (:meth:`advance`), so tests are
        repeatable.
    """

    def __init__(self, *, path: str | Path | None = None, start: datetime | None = None) -> None:
        self.clock = MovableClock(start or datetime.now(UTC).replace(microsecond=0))
        self.service = DirectoryService.in_memory(clock=self.clock, path=path)
        self.faults = FaultInjector()
        self.app = create_app(self.service, faults=self.faults)
        self._transports: list[InProcessTransport] = []
        self._closed = False

    # --- suppliers ---------------------------------------------------------------

    def register_supplier(
        self,
        supplier_id: str,
        name: str,
        *,
        local_authority: str | None = None,
        agreement: SupplyAgreement | None = None,
        signing_key: SigningKey | None = None,
    ) -> SupplierCredentials:
        """Accredit a supplier (SUP-3) under one agreement (SUP-4; by default
        every operation and service), generating its signing key unless given."""
        key = signing_key or SigningKey.generate()
        terms = agreement or SupplyAgreement(agreement_id=f"{supplier_id}-agreement")
        self.service.register_supplier(
            supplier_id,
            name,
            signing_keys=[key.public_key()],
            agreements=[terms],
            local_authority=local_authority,
        )
        return SupplierCredentials(
            supplier_id=supplier_id, agreement_id=terms.agreement_id, signing_key=key
        )

    # --- ways in -------------------------------------------------------------------

    def transport(self) -> InProcessTransport:
        """A new sync in-process transport over this directory (no sockets)."""
        self._check_open()
        transport = InProcessTransport(self.app)
        self._transports.append(transport)
        return transport

    def async_transport(self) -> AsyncInProcessTransport:
        """A new async in-process transport over this directory."""
        self._check_open()
        return AsyncInProcessTransport(self.app)

    def supply_client(
        self, supplier: SupplierCredentials, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> SupplyClient:
        """A :class:`SupplyClient` for ``supplier``, in-process, on the directory's clock."""
        return SupplyClient(
            base_url=IN_PROCESS_URL,
            supplier_id=supplier.supplier_id,
            agreement_id=supplier.agreement_id,
            signing_key=supplier.signing_key,
            clock=self.clock,
            retry=retry,
            transport=self.transport(),
            **kwargs,
        )

    def async_supply_client(
        self, supplier: SupplierCredentials, *, retry: RetryPolicy | None = None, **kwargs: Any
    ) -> AsyncSupplyClient:
        """An :class:`AsyncSupplyClient` for ``supplier``, in-process."""
        return AsyncSupplyClient(
            base_url=IN_PROCESS_URL,
            supplier_id=supplier.supplier_id,
            agreement_id=supplier.agreement_id,
            signing_key=supplier.signing_key,
            clock=self.clock,
            retry=retry,
            transport=self.async_transport(),
            **kwargs,
        )

    def serve(self, **kwargs: Any) -> LoopbackServer:
        """The same directory over HTTPS on loopback; use it as a context manager.
        Keyword arguments go to :class:`LoopbackServer` (``port``,
        ``require_client_cert``, ...)."""
        self._check_open()
        return LoopbackServer(app=self.app, **kwargs)

    # --- time ------------------------------------------------------------------------

    def advance(self, by: timedelta) -> JobReport:
        """Move the clock forward and run the lifecycle jobs (RET-1..RET-7)."""
        self.clock.advance(by)
        return self.service.run_jobs()

    def advance_to(self, moment: datetime) -> JobReport:
        """Move the clock to ``moment`` and run the lifecycle jobs."""
        self.clock.set(moment)
        return self.service.run_jobs()

    # --- life ----------------------------------------------------------------------------

    def close(self) -> None:
        """Stop the transports and close the store."""
        if self._closed:
            return
        self._closed = True
        for transport in self._transports:
            transport.close()
        self.service.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError("this ReferenceDirectory is closed")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

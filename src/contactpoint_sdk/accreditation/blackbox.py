"""Black-box mode: the suite plays the directory on loopback HTTPS and a
tester makes their system act (SUP-3). Any language can be tested this way.

The suite starts one reference directory for the run (:class:`BlackBoxSupplierSite`)
and tells the tester, once, how to connect: the URL, the CA certificate to
trust, the supplier and agreement IDs, and the supplier's signing key (a
private JWK file the suite generated, or the vendor's own public key,
registered instead). Then, for each test, it empties the directory, shows
each step as an instruction (:func:`describe_event`), and WAITS, as the
OpenID conformance suite does, until the expected supply has arrived and
gone quiet, the tester presses Enter, or the step's timeout passes. It then
judges what arrived exactly as harness mode does.

A :class:`StepPrompter` shows the instructions and waits; the default is
:class:`ConsolePrompter`. Tests drive the mode with a prompter that performs
the steps itself.

Instructions carry the synthetic fixture people (the tester must enter
them); reports never do.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Protocol, Self, TextIO

import attrs

from contactpoint_sdk.accreditation.context import SupplierContext
from contactpoint_sdk.accreditation.harness import (
    BecameLead,
    CafCompleted,
    Capability,
    ChildDied,
    FixtureChild,
    FixtureEvent,
    InvolvementEnded,
    InvolvementStarted,
    PupilChanged,
    PupilJoined,
    PupilLeft,
)
from contactpoint_sdk.accreditation.model import Status
from contactpoint_sdk.accreditation.traffic import SupplyInspector, TrafficRecorder
from contactpoint_sdk.reference_server.directory import ReferenceDirectory
from contactpoint_sdk.reference_server.entities import SupplyAgreement
from contactpoint_sdk.reference_server.serve import LoopbackServer
from contactpoint_sdk.supply.keys import PublicKey, SigningKey

__all__ = [
    "QUIET_SECONDS",
    "BlackBoxDetails",
    "BlackBoxSupplierDriver",
    "BlackBoxSupplierSite",
    "ConsolePrompter",
    "StepInstruction",
    "StepPrompter",
    "describe_event",
]

#: How long supply must stay quiet before a step counts as done.
QUIET_SECONDS: Final = 1.5
_POLL: Final = 0.05
_STATUSES_STILL_RETRYING: Final = (None, 429, 503)


@attrs.frozen(kw_only=True)
class BlackBoxDetails:
    """What the tester configures their system with, once per run."""

    base_url: str
    ca_certificate: Path
    supplier_id: str
    agreement_id: str
    directory_keys_url: str
    #: the private JWK the system signs with (``None``: the vendor's own key
    #: was registered).
    signing_key_file: Path | None
    signing_key_id: str

    def lines(self) -> tuple[str, ...]:
        key = (
            f"signing key (private JWK, Ed25519): {self.signing_key_file}"
            if self.signing_key_file is not None
            else "signing key: your own (its public key is registered)"
        )
        return (
            f"directory URL:        {self.base_url}",
            f"trust this CA (PEM):  {self.ca_certificate}",
            f"supplier ID:          {self.supplier_id}",
            f"agreement ID:         {self.agreement_id}",
            f"{key} (kid {self.signing_key_id})",
            f"directory's key:      GET {self.directory_keys_url} (seal to the first key)",
        )


@attrs.frozen(kw_only=True)
class StepInstruction:
    """One thing for the tester to do in their system."""

    test_id: str
    label: str
    lines: tuple[str, ...]
    event: FixtureEvent = attrs.field(repr=False)
    #: whether supply is expected (``False``: the step checks nothing is sent).
    expect_supply: bool = True


class StepPrompter(Protocol):
    """Shows a black-box run to the tester and waits for them."""

    def begin(self, details: BlackBoxDetails) -> None:
        """Once per run: how to connect the system."""
        ...

    def test(self, test_id: str, title: str) -> None:
        """A test is starting (the directory has been emptied)."""
        ...

    def step(self, instruction: StepInstruction, done: Callable[[], bool], timeout: float) -> None:
        """Show ``instruction`` and WAIT: return when ``done()`` is true, the
        tester confirms, or ``timeout`` seconds pass."""
        ...

    def result(self, test_id: str, status: Status) -> None:
        """A test has been judged."""
        ...


# --- describing events -------------------------------------------------------------


def _child(child: FixtureChild) -> str:
    ids = ", ".join(
        f"{name} {value}"
        for name, value in (
            ("UPN", child.upn),
            ("ULN", child.uln),
            ("NHS number", child.nhs_number),
        )
        if value is not None
    )
    return (
        f"{child.given_name} {child.family_name} (your key {child.key}; born "
        f"{child.date_of_birth.isoformat()}; {ids})"
    )


def describe_event(event: FixtureEvent) -> tuple[str, ...]:
    """``event`` as instructions a tester follows in their own system."""
    if isinstance(event, PupilJoined | PupilChanged):
        child = event.child
        verb = (
            "Add the pupil" if isinstance(event, PupilJoined) else "Change the pupil's details to"
        )
        when = event.joined_on if isinstance(event, PupilJoined) else event.changed_on
        lines = [
            f"{verb} {_child(child)} on {when.isoformat()}:",
            f"  gender {child.gender.value}",
            "  address " + ", ".join((*child.address.lines, str(child.address.postcode or ""))),
        ]
        for index, parent in enumerate(child.parents, 1):
            phones = ", ".join(str(p.number) for p in parent.contact.phones)
            lines.append(
                f"  parent/carer {index}: {parent.name.given_name} {parent.name.family_name}, "
                f"{parent.relationship.value}, parental responsibility "
                f"{'yes' if parent.parental_responsibility else 'no'}, phone {phones or '-'}, "
                f"email {parent.contact.email or '-'}"
            )
        lines.append("Then let your system supply as it does in production.")
        return tuple(lines)
    if isinstance(event, PupilLeft):
        return (
            f"Record that the pupil {_child(event.child)} left on {event.left_on.isoformat()}.",
            "Then let your system supply.",
        )
    if isinstance(event, InvolvementStarted):
        practitioner = event.practitioner
        who = (
            f"{practitioner.name.given_name} {practitioner.name.family_name}"
            if practitioner is not None
            else "no named practitioner"
        )
        consent = (
            f"consent given by the {event.consent.given_by.value} on "
            f"{event.consent.given_on.isoformat()}"
            if event.consent is not None
            else "NO consent recorded"
        )
        return (
            f"Start involvement {event.key} with {_child(event.child)}:",
            f"  service {event.service.value}, organisation {event.organisation.name}, "
            f"practitioner {who}, from {event.started_on.isoformat()}",
            f"  {consent}",
            "Then let your system supply (or not, as its rules say).",
        )
    if isinstance(event, BecameLead):
        return (
            f"Make the practitioner of involvement {event.key} the lead professional "
            f"on {event.on.isoformat()}, then let your system supply.",
        )
    if isinstance(event, CafCompleted):
        return (
            f"Record a completed common assessment (CAF) in involvement {event.key} "
            f"on {event.on.isoformat()}, then let your system supply.",
        )
    if isinstance(event, InvolvementEnded):
        return (
            f"End involvement {event.key} on {event.ended_on.isoformat()}, "
            "then let your system supply.",
        )
    if isinstance(event, ChildDied):
        return (
            f"Record that {_child(event.child)} died on {event.died_on.isoformat()}, "
            "then let your system supply.",
        )
    raise TypeError(f"not a fixture event: {type(event).__name__}")  # pragma: no cover


# --- the console ----------------------------------------------------------------------


class ConsolePrompter:
    """Prints each step and waits for the supply, for Enter, or for the timeout."""

    def __init__(self, out: TextIO | None = None, stdin: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._stdin = stdin or sys.stdin
        self._enter = threading.Event()
        self._reader: threading.Thread | None = None

    def _read_lines(self) -> None:
        for _ in self._stdin:
            self._enter.set()

    def begin(self, details: BlackBoxDetails) -> None:
        self._print("Black-box accreditation: configure your system with", *details.lines())
        if self._reader is None:
            self._reader = threading.Thread(target=self._read_lines, daemon=True)
            self._reader.start()

    def test(self, test_id: str, title: str) -> None:
        self._print("", f"== {test_id}: {title}")

    def step(self, instruction: StepInstruction, done: Callable[[], bool], timeout: float) -> None:
        self._enter.clear()
        self._print(*instruction.lines)
        waiting = (
            "until the supply arrives" if instruction.expect_supply else "(nothing should be sent)"
        )
        self._print(f"WAITING {waiting}; press Enter when your system has finished.")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._enter.is_set():
            if instruction.expect_supply and done():
                break
            time.sleep(_POLL)

    def result(self, test_id: str, status: Status) -> None:
        self._print(f"{test_id}: {status.value.upper()}")

    def _print(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self._out)
        self._out.flush()


# --- the site -------------------------------------------------------------------------


class BlackBoxSupplierDriver:
    """A black-box step: tell the tester, then wait for the supply to settle."""

    def __init__(
        self,
        *,
        test_id: str,
        prompter: StepPrompter,
        recorder: TrafficRecorder,
        timeout: float,
        sync_clock: Callable[[], None],
        quiet_seconds: float = QUIET_SECONDS,
    ) -> None:
        self.test_id = test_id
        self.prompter = prompter
        self.recorder = recorder
        self.timeout = timeout
        self.sync_clock = sync_clock
        self.quiet_seconds = quiet_seconds

    def perform(self, event: FixtureEvent, *, quiet: bool) -> None:
        self.sync_clock()
        start = self.recorder.mark()

        def done() -> bool:
            supply = [e for e in self.recorder.exchanges(start) if e.is_supply]
            if not supply or supply[-1].status in _STATUSES_STILL_RETRYING:
                return False
            return time.monotonic() - self.recorder.last_activity() >= self.quiet_seconds

        instruction = StepInstruction(
            test_id=self.test_id,
            label=type(event).__name__,
            lines=describe_event(event),
            event=event,
            expect_supply=not quiet,
        )
        self.prompter.step(instruction, done, self.timeout)


class BlackBoxSupplierSite:
    """One loopback HTTPS directory for a black-box run of the supplier plan.

    :param prompter: shows the steps (default :class:`ConsolePrompter`).
    :param step_timeout: the longest wait for one step, in seconds.
    :param supplier_key: the vendor's own public signing key to register;
        default: the suite generates a key and writes it as a private JWK.
    """

    SUPPLIER_ID: Final = "sut-supplier"
    AGREEMENT_ID: Final = "sut-supplier-agreement"

    def __init__(
        self,
        *,
        prompter: StepPrompter | None = None,
        step_timeout: float = 120.0,
        supplier_key: PublicKey | None = None,
        quiet_seconds: float = QUIET_SECONDS,
    ) -> None:
        self.prompter: StepPrompter = prompter or ConsolePrompter()
        self.step_timeout = step_timeout
        self.quiet_seconds = quiet_seconds
        self._given_key = supplier_key
        self._stack = contextlib.ExitStack()
        self._test_id = ""
        self.details: BlackBoxDetails | None = None

    def __enter__(self) -> Self:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _start(self) -> None:
        self.directory = self._stack.enter_context(ReferenceDirectory())
        workdir = Path(tempfile.mkdtemp(prefix="contactpoint-accredit-"))
        self._stack.callback(shutil.rmtree, workdir, True)
        key_file: Path | None = None
        if self._given_key is None:
            signing_key = SigningKey.generate()
            public = signing_key.public_key()
            key_file = workdir / "supplier-signing-key.jwk.json"
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(signing_key.private_jwk(), handle)
        else:
            public = self._given_key
        self.supplier_key = public
        self.directory.service.register_supplier(
            self.SUPPLIER_ID,
            "System under test",
            signing_keys=[public],
            agreements=[SupplyAgreement(agreement_id=self.AGREEMENT_ID)],
        )
        self.recorder = TrafficRecorder(self.directory.app)
        server = self._stack.enter_context(
            LoopbackServer(app=self.recorder, tls_dir=workdir / "tls")
        )
        self.server = server
        self.details = BlackBoxDetails(
            base_url=server.url,
            ca_certificate=server.ca_file,
            supplier_id=self.SUPPLIER_ID,
            agreement_id=self.AGREEMENT_ID,
            directory_keys_url=server.url.rstrip("/") + "/v1/keys/directory",
            signing_key_file=key_file,
            signing_key_id=public.kid,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def announce(self, name: str, version: str) -> None:
        if self.details is None:
            raise RuntimeError("the black-box site is not started")
        self.prompter.begin(self.details)

    def begin_test(self, test_id: str, title: str) -> None:
        self._test_id = test_id
        self.prompter.test(test_id, title)

    def end_test(self, test_id: str, status: Status) -> None:
        self.prompter.result(test_id, status)

    def _sync_clock(self) -> None:
        """The directory's clock follows real time in black-box mode (the
        system stamps its envelopes with its own clock)."""
        now = datetime.now(UTC)
        if now > self.directory.clock.now():
            self.directory.clock.set(now)

    @contextlib.contextmanager
    def context(self, capabilities: frozenset[Capability]) -> Iterator[SupplierContext]:
        """An emptied directory for one test (the same URL, keys and supplier)."""
        self.directory.faults.clear()
        self.directory.service.reset(keep_suppliers=True)
        self.recorder.rewriter = None
        self.recorder.clear()
        self._sync_clock()
        ctx = SupplierContext(
            directory=self.directory,
            recorder=self.recorder,
            inspector=SupplyInspector(
                decryption_keys=self.directory.service.encryption_keys,
                supplier_key=self.supplier_key,
                codec=self.directory.service.codec,
            ),
            driver=BlackBoxSupplierDriver(
                test_id=self._test_id,
                prompter=self.prompter,
                recorder=self.recorder,
                timeout=self.step_timeout,
                sync_clock=self._sync_clock,
                quiet_seconds=self.quiet_seconds,
            ),
            capabilities=capabilities,
            supplier_id=self.SUPPLIER_ID,
            agreement_id=self.AGREEMENT_ID,
        )
        try:
            yield ctx
        finally:
            self.directory.faults.clear()
            self.recorder.rewriter = None

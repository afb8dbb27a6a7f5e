"""``contactpoint supply ctf FILE``: a school's roll, from its MIS to the directory (SUP-2).

One command takes the Common Transfer File a school MIS exports and supplies
it, signed and encrypted, one way (SUP-1, SUP-5)::

    contactpoint supply ctf 8012010_CTF_801LLLL_001.xml \\
        --key-ring school.ring --supplier-id school-8012010 \\
        --agreement-id school-8012010-agreement \\
        --directory https://directory.example/

1. **Read** the file safely and as a stream (:mod:`contactpoint_sdk.supply.ctf`):
   a DTD, an entity or an external reference refuses the whole file before
   anything is sent (SUP-5); so does a file whose ``Header/DateTime`` is older
   than the last file accepted for the school (:class:`~contactpoint_sdk.supply.ctf.CtfStale`,
   SUP-8: an old export would undo the school's later corrections;
   ``--allow-older`` sends it deliberately). A pupil with problems is reported
   by position and field, and the others still go.
2. **Diff** against what the directory last accepted from this supplier for
   this school (:mod:`contactpoint_sdk.supply.roster`, encrypted under the key
   ring's passphrase): only joiners, changes and leavers are sent. Leavers are
   withheld when a pupil in the file could not be identified (a missing or
   invalid UPN: that pupil may be one of them), and with ``--partial`` or a
   ``Header/DocumentQualifier`` of ``partial`` (the file is not the whole
   roll). A pupil whose ``BasicDetails/FormerUPN`` is in the roster is the
   same pupil under a new UPN: the roster entry moves to the new UPN (its
   start date kept) and one change is sent, not a joiner and a leaver.
   A file whose leavers are more than :data:`LEAVER_FRACTION_LIMIT` of the
   school's roster is refused whole (``ctf_roll_shrank``, SUP-8: a wrong or
   partial file would send the whole school as leavers) unless
   ``--confirm-leavers N`` gives their number.
3. **Check the roster is current**, on every run that is not a dry run,
   even one with nothing to send: the directory says the last batch sequence
   number it accepted from this supplier
   (:meth:`~contactpoint_sdk.supply.client.SupplyClient.status`, a signed
   status request; a number, no child data, SUP-1). Every number is saved in
   the roster before it is used, so a higher one means the roster is older
   than the directory (a backup restored): the run stops with
   :class:`~contactpoint_sdk.supply.roster.RosterStale` (SUP-8) before the
   diff is acted on, and later runs refuse at once until the roster is
   rebuilt (``--rebuild-roster``, docs/ctf.md; a rebuild numbers its batches
   above the directory's). Should a batch still be refused as out of order
   (a number used meanwhile), the run stops the same way: refused whole,
   nothing in it was acted on.
4. **Send** them in batches, with a progress bar on stderr; record in the
   roster only what the directory accepted, so a rejected operation is sent
   again next run.
5. **Summarise**: sent, accepted, rejected with the directory's code and rule,
   pupils not sent and why. Nothing printed names a child: pupils are named by
   their position in the file.

Exit codes: 0 everything in the file is in the directory; 1 something was
rejected, not sendable, or the supply stopped (the file refused, the directory
unreachable); 2 bad usage; 130 interrupted.

Where the directory is:

- ``--directory URL`` (``--ca-cert PEM`` to trust a private CA, such as the
  one ``contactpoint serve`` prints as ``CONTACTPOINT_CA_FILE``);
- ``--reference-directory FILE.db``: the reference directory, in this
  process, kept in a SQLite file between runs; the supplier is registered with
  the key ring's public keys on each run. For demos and tests only. The
  file and its audit log are created owner-readable only.

The roster file defaults to ``<supplier-id>.roster`` beside the key ring.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

import attrs
import httpx
from tqdm import tqdm

from contactpoint_sdk._client import ClosesOnExit
from contactpoint_sdk.cli._options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PASSPHRASE_ENV,
    add_agreement_argument,
    add_ca_cert_argument,
    add_directory_argument,
    add_key_ring_argument,
    add_passphrase_argument,
    add_supplier_argument,
    read_passphrase,
)
from contactpoint_sdk.clock import Clock, SystemClock
from contactpoint_sdk.errors import (
    ConfigurationError,
    ContactPointError,
    KeyMaterialError,
    SupplyInterrupted,
    ValidationError,
)
from contactpoint_sdk.models.identifiers import Upn
from contactpoint_sdk.models.operations import (
    MAX_OPERATIONS_PER_BATCH,
    ChildKey,
    ChildLeftSetting,
    OperationOutcome,
    OutcomeStatus,
    SuppliedChild,
    SupplyReceipt,
    check_identifier,
)
from contactpoint_sdk.models.record import SourceIdentifiers
from contactpoint_sdk.supply.client import DEFAULT_TIMEOUT, SupplyClient
from contactpoint_sdk.supply.ctf import (
    CtfHeader,
    CtfNote,
    CtfPupilResult,
    CtfRefused,
    iter_ctf,
)
from contactpoint_sdk.supply.keys import KeyRing, SigningKey
from contactpoint_sdk.supply.roster import (
    Roster,
    RosterEntry,
    RosterFile,
    RosterSequence,
    RosterStale,
    supplied_digest,
)

if TYPE_CHECKING:
    from contactpoint_sdk.reference_server import ReferenceDirectory

__all__ = ["LEAVER_FRACTION_LIMIT", "add_supply_arguments", "run_supply"]

#: The largest share of a school's roster one file may send as leavers
#: without ``--confirm-leavers`` (SUP-8, keep the data accurate). Above it the
#: file is refused whole (``ctf_roll_shrank``): a partial export, a transfer
#: file or another school's file would otherwise end every missing pupil's
#: school involvement. 20%: a real roll loses about a sixth of its pupils at
#: the summer (one year group of six or seven); more in one file is checked
#: by a person, who confirms the number.
LEAVER_FRACTION_LIMIT: Final = 0.20
#: A ``Header/DestSchool`` ``Estab`` that is a placeholder, not a school:
#: ``LLLL`` (the local authority) or ``MMMM`` (unknown).
_PLACEHOLDER_ESTABS: Final = frozenset({"LLLL", "MMMM", "XXXX"})


def add_supply_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``supply`` subcommands (``supply ctf FILE``)."""
    sources = parser.add_subparsers(dest="supply_source", required=True, metavar="SOURCE")
    ctf = sources.add_parser(
        "ctf",
        help="supply a school's roll from a DfE Common Transfer File (only what changed)",
        description="Supply a school's roll from a DfE Common Transfer File: joiners, "
        "changes and leavers since the last run, signed and encrypted (SUP-2, SUP-5). "
        "A malicious file (a DTD, entities, an external reference) is refused whole; so is a "
        "file older than the last one accepted for the school (SUP-8).",
        epilog=f"The passphrase is read from ${PASSPHRASE_ENV} (or --passphrase-env). "
        "Exit codes: 0 everything in the file is in the directory; 1 something was rejected, "
        "not sendable, or the supply stopped (the file refused, the directory unreachable); "
        "2 bad usage; 130 interrupted.",
    )
    ctf.add_argument("file", type=Path, help="the CTF file (XML) the school's MIS exported")
    add_key_ring_argument(ctf, text="the supplier's signing key ring (contactpoint keys new)")
    add_passphrase_argument(ctf)
    add_supplier_argument(ctf, text="this supplier's ID, as accredited (SUP-3)")
    add_agreement_argument(ctf, text="the operational agreement supply is made under (SUP-4)")
    where = ctf.add_mutually_exclusive_group(required=True)
    add_directory_argument(where)
    where.add_argument(
        "--reference-directory",
        type=Path,
        metavar="FILE",
        help="the reference directory in this process, kept in this SQLite file "
        "(demos and tests only; registers the supplier with the key ring's keys)",
    )
    add_ca_cert_argument(ctf)
    ctf.add_argument(
        "--roster",
        type=Path,
        metavar="FILE",
        help="the encrypted roster of what was last accepted "
        "(default: <supplier-id>.roster beside the key ring)",
    )
    ctf.add_argument(
        "--partial",
        action="store_true",
        help="the file is not the school's whole roll: send joiners and changes, no leavers",
    )
    ctf.add_argument(
        "--confirm-leavers",
        type=int,
        metavar="N",
        help=f"send N leavers although they are more than {LEAVER_FRACTION_LIMIT * 100:.0f}%% "
        "of the school's roster (refused otherwise: SUP-8); N must be the number of leavers",
    )
    ctf.add_argument(
        "--rebuild-roster",
        action="store_true",
        help="recover a stale roster (roster_stale): supply every pupil in this whole-roll "
        "file again, leavers from the roster, and number batches afresh (docs/ctf.md)",
    )
    ctf.add_argument(
        "--dry-run", action="store_true", help="read and compare only: send nothing, change nothing"
    )
    ctf.add_argument(
        "--allow-older",
        action="store_true",
        help="send a file older than the last one accepted for the school, deliberately "
        "(refused otherwise: SUP-8)",
    )
    ctf.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(handler=run_supply)


# --- Planning ------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _Item:
    """One operation to send, and what the roster becomes if it is accepted."""

    kind: str  # "joiner", "change", "leaver"
    position: int | None  # the pupil's position in the file; None for a leaver
    operation: SuppliedChild | ChildLeftSetting
    entry: RosterEntry | None = None  # joiners and changes
    upn: str = attrs.field(repr=False, default="")
    #: A former UPN whose roster entry this pupil's replaces (FormerUPN).
    replaces: str | None = attrs.field(repr=False, default=None)

    @property
    def label(self) -> str:
        if self.position is not None:
            return f"pupil {self.position} ({self.kind})"
        return f"{self.operation.ref.replace('-', ' ')}"


@attrs.define
class _Plan:
    header: CtfHeader
    pupils: int = 0
    items: list[_Item] = attrs.Factory(list)
    failed: list[CtfPupilResult] = attrs.Factory(list)
    notes: list[CtfNote] = attrs.Factory(list)
    unchanged: int = 0
    leavers_withheld: int = 0
    leavers_reason: str = ""
    #: Leavers withheld because a pupil could not be identified (a failure),
    #: not because the file is partial (as asked).
    leavers_blocked: bool = False
    #: Pupils whose roster entry moved from a former UPN to their new one.
    renumbered: int = 0

    def count(self, kind: str) -> int:
        return sum(1 for item in self.items if item.kind == kind)


class _CountingReader:
    """A binary file whose reads move a progress bar."""

    def __init__(self, handle: IO[bytes], bar: tqdm[Any]) -> None:
        self._handle = handle
        self._bar = bar

    def read(self, size: int = -1, /) -> bytes:
        data = self._handle.read(size)
        self._bar.update(len(data))
        return data


def _plan(
    path: Path,
    roster: Roster,
    *,
    partial: bool,
    today: date,
    progress: bool,
    allow_older: bool = False,
    rebuild: bool = False,
    confirm_leavers: int | None = None,
    now: datetime | None = None,
) -> _Plan:
    """Read the file and decide what to send (module notes, steps 1 and 2).

    ``rebuild`` sends every pupil, changed or not (a full-roll
    reconciliation of a stale roster, docs/ctf.md).

    :raises CtfRefused: the file is refused whole (unsafe, malformed, older
        than the last one accepted for its school unless ``allow_older``, or
        more leavers than :data:`LEAVER_FRACTION_LIMIT` allows unless
        ``confirm_leavers`` is their number).
    """
    size = path.stat().st_size
    with (
        path.open("rb") as handle,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc="reading CTF",
            file=sys.stderr,
            disable=None if progress else True,
            leave=False,
        ) as bar,
        iter_ctf(_CountingReader(handle, bar), now=now) as stream,
    ):
        header = stream.header
        laestab = header.source.laestab
        if not allow_older:
            roster.check_not_older(laestab, header.created_at)
        previous = roster.school(laestab)
        plan = _Plan(header=header)
        school = header.school
        seen: set[str] = set()
        moved: set[str] = set()  # former UPNs whose entries move to a new UPN
        unidentified = 0
        for result in stream:
            plan.pupils += 1
            child = result.child
            if child is None:
                plan.failed.append(result)
                if result.upn is None:
                    unidentified += 1
                else:
                    seen.add(str(result.upn))
                continue
            upn = str(child.upn)
            seen.add(upn)
            before = previous.get(upn)
            replaces: str | None = None
            for former in child.identifiers.former_upns:
                # A replaced UPN is the same pupil, never a leaver (SUP-8).
                seen.add(str(former))
                if before is None and str(former) in previous and str(former) not in moved:
                    replaces = str(former)
                    before = previous[replaces]
                    moved.add(replaces)
            started = (
                child.entry_date
                or (before.started_on if before is not None else None)
                or header.extract_date
                or today
            )
            operation = child.supplied_child(
                ref=f"pupil-{result.position}", school=school, started_on=started
            )
            entry = RosterEntry(
                upn=upn,
                date_of_birth=child.date_of_birth,
                started_on=started,
                digest=supplied_digest(operation),
            )
            if replaces is not None:
                plan.renumbered += 1
            elif before is not None and before.digest == entry.digest and not rebuild:
                plan.unchanged += 1
                continue
            plan.items.append(
                _Item(
                    kind="joiner" if before is None else "change",
                    position=result.position,
                    operation=operation,
                    entry=entry,
                    upn=upn,
                    replaces=replaces,
                )
            )
        plan.notes = list(stream.notes)
    plan.notes.extend(_header_notes(header))
    qualifier = (header.document_qualifier or "").strip().lower()
    gone = sorted(u for u in previous if u not in seen)
    if gone and (partial or qualifier == "partial"):
        plan.leavers_withheld = len(gone)
        plan.leavers_reason = (
            "--partial: the file is not the whole roll"
            if partial
            else "Header/DocumentQualifier is partial: the file is not the whole roll"
        )
    elif gone and unidentified:
        plan.leavers_withheld = len(gone)
        plan.leavers_blocked = True
        plan.leavers_reason = (
            f"{unidentified} pupil(s) in the file have no valid UPN and may be among them: "
            "fix the file and run again"
        )
    else:
        _check_leavers(len(gone), len(previous), laestab, confirm_leavers)
        left_on = header.extract_date or today
        for n, upn in enumerate(gone, start=1):
            entry = previous[upn]
            key = ChildKey(
                identifiers=SourceIdentifiers(upn=Upn(upn)), date_of_birth=entry.date_of_birth
            )
            plan.items.append(
                _Item(
                    kind="leaver",
                    position=None,
                    operation=ChildLeftSetting(ref=f"leaver-{n}", child=key, left_on=left_on),
                    upn=upn,
                )
            )
    if confirm_leavers is not None and plan.count("leaver") != confirm_leavers:
        # Leavers withheld (a partial file): nothing to confirm, and a number
        # that does not match is a mistake either way.
        _check_leavers(plan.count("leaver"), len(previous), laestab, confirm_leavers)
    return plan


def _header_notes(header: CtfHeader) -> list[CtfNote]:
    """Notes about what the header says the file is (SUP-8)."""
    notes: list[CtfNote] = []
    destination = header.destination
    if destination is not None and destination.estab.upper() not in _PLACEHOLDER_ESTABS:
        notes.append(
            CtfNote(
                position=None,
                path="Header/DestSchool",
                code="ctf_dest_school",
                message="names a school, not a local authority placeholder (LLLL, MMMM): this "
                "looks like a transfer file for pupils moving there, not the school's roll; "
                "check it is the roll before trusting its leavers",
            )
        )
    return notes


def _check_leavers(leavers: int, roster: int, laestab: str, confirm: int | None) -> None:
    """Refuse a file whose leavers are too many to be a roll's (module notes).

    :raises CtfRefused: ``ctf_roll_shrank`` (SUP-8), at ``CTFpupilData``.
    """
    if confirm is not None:
        if confirm == leavers:
            return
        refusal = CtfRefused(
            f"--confirm-leavers {confirm} does not match the file's {leavers} leaver(s) for "
            f"school {laestab}: refused whole, nothing is sent",
            code="ctf_roll_shrank",
            rule="SUP-8",
            path="CTFpupilData",
        )
    elif roster and leavers > LEAVER_FRACTION_LIMIT * roster:
        refusal = CtfRefused(
            f"{leavers} of the {roster} pupils the directory holds for school {laestab} are "
            f"missing from the file (more than {LEAVER_FRACTION_LIMIT:.0%}): it may be a "
            "partial, transfer or wrong file, so it is refused whole and nothing is sent; "
            f"if they really left, run again with --confirm-leavers {leavers}",
            code="ctf_roll_shrank",
            rule="SUP-8",
            path="CTFpupilData",
        )
    else:
        return
    raise refusal


# --- Sending ------------------------------------------------------------------------


@attrs.define
class _Outcome:
    accepted: list[_Item] = attrs.Factory(list)
    rejected: list[tuple[_Item, OperationOutcome]] = attrs.Factory(list)
    unsent: int = 0
    stopped: ContactPointError | None = None


class _Target(ClosesOnExit):
    """The directory a run talks to, and how to close it."""

    def __init__(self, args: argparse.Namespace, ring: KeyRing[SigningKey], la: str) -> None:
        self._reference: ReferenceDirectory | None = None
        self._http: httpx.Client | None = None
        self.clock: Clock = SystemClock()
        self.base_url: str
        self.transport: httpx.BaseTransport | None = None
        if args.reference_directory is not None:
            from contactpoint_sdk.reference_server import (  # noqa: PLC0415 - the server extra
                IN_PROCESS_URL,
                ReferenceDirectory,
            )
            from contactpoint_sdk.reference_server.entities import (  # noqa: PLC0415
                SupplyAgreement,
            )

            _create_private(args.reference_directory)
            directory = ReferenceDirectory(path=args.reference_directory)
            self._reference = directory
            directory.service.register_supplier(
                args.supplier_id,
                f"CTF supply {args.supplier_id}",
                signing_keys=[entry.key.public_key() for entry in ring.entries],
                agreements=[SupplyAgreement(agreement_id=args.agreement_id)],
                local_authority=la,
            )
            self.clock = directory.clock
            self.base_url = IN_PROCESS_URL
            self.transport = directory.transport()
        else:
            self.base_url = args.directory
            if args.ca_cert is not None:
                context = ssl.create_default_context(cafile=str(args.ca_cert))
                self._http = httpx.Client(
                    base_url=args.directory, verify=context, timeout=DEFAULT_TIMEOUT
                )

    def client(
        self, args: argparse.Namespace, ring: KeyRing[SigningKey], sequence: RosterSequence
    ) -> SupplyClient:
        return SupplyClient(
            base_url=self.base_url,
            supplier_id=args.supplier_id,
            agreement_id=args.agreement_id,
            signing_key=ring,
            clock=self.clock,
            sequence=sequence,
            transport=self.transport,
            http_client=self._http,
        )

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._reference is not None:
            self._reference.close()


def _create_private(database: Path) -> None:
    """Create the reference directory's SQLite file and its audit log
    (``dir.audit.db`` beside ``dir.db``) owner-readable only, before the
    directory opens them: they hold children's records. SQLite gives its
    journals the database file's mode. Existing files are left as they are."""
    audit = (
        database.with_suffix(".audit" + database.suffix)
        if database.suffix
        else database.with_name(database.name + ".audit")
    )
    for path in (database, audit):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        os.close(fd)


def _chunks(items: Sequence[_Item], size: int) -> Iterator[Sequence[_Item]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _record(
    receipts: Sequence[SupplyReceipt],
    chunk: Sequence[_Item],
    outcome: _Outcome,
    roster: Roster,
    laestab: str,
) -> int:
    """Sort the receipts' outcomes into accepted and rejected; put the accepted
    ones in the roster. Returns how many operations they answered."""
    by_ref = {item.operation.ref: item for item in chunk}
    accepted: list[_Item] = []
    answered = 0
    for receipt in receipts:
        for result in receipt.outcomes:
            item = by_ref.get(result.ref)
            if item is None:
                continue
            answered += 1
            if result.status is OutcomeStatus.ACCEPTED:
                accepted.append(item)
            else:
                outcome.rejected.append((item, result))
    outcome.accepted.extend(accepted)
    roster.apply_accepted(
        laestab,
        supplied=[i.entry for i in accepted if i.entry is not None],
        left=[i.upn for i in accepted if i.kind == "leaver"]
        + [i.replaces for i in accepted if i.replaces is not None],
    )
    return answered


def _is_out_of_order(error: ContactPointError) -> bool:
    return error.code == "sequence_out_of_order"


def _stale(error: ContactPointError, roster: Roster, roster_file: RosterFile) -> RosterStale:
    """The directory refused a batch numbered by this roster as out of order:
    it accepted a higher number from this supplier, one this roster never
    handed out (numbers are saved before use), so the roster is older than
    the directory (module notes). Mark it, so later runs refuse at once."""
    last: int | None = getattr(error, "last_sequence", None)
    roster.mark_stale(datetime.now(UTC))
    roster_file.save(roster)
    shown = f" (the directory's last is {last})" if isinstance(last, int) else ""
    return RosterStale(
        "the roster is older than what the directory accepted from this supplier: it refused "
        f"the batch numbered {roster.last_sequence}{shown}, so leavers since then cannot be "
        "computed; nothing in the batch was acted on and the run stopped; recover with a "
        "full-roll reconciliation (--rebuild-roster, docs/ctf.md)",
        directory_last=last if isinstance(last, int) else None,
    )


def _check_current(
    client: SupplyClient, roster: Roster, roster_file: RosterFile, *, rebuild: bool
) -> None:
    """Step 3 (module notes): ask the directory for the last sequence number it
    accepted from this supplier. Above the roster's: the roster is older than
    the directory, so mark it stale and raise. For a rebuild, number the
    batches above the directory's instead.

    :raises RosterStale: the roster is older than the directory (SUP-8).
    :raises ContactPointError: the directory could not be asked.
    """
    last = client.status()
    if rebuild:
        if last > roster.last_sequence:
            roster.last_sequence = last
            roster_file.save(roster)
        return
    if last <= roster.last_sequence:
        return
    roster.mark_stale(datetime.now(UTC))
    roster_file.save(roster)
    raise RosterStale(
        "the roster is older than what the directory accepted from this supplier: the "
        f"directory's last batch is numbered {last}, above the roster's last "
        f"({roster.last_sequence}), so leavers since then cannot be computed; nothing was "
        "acted on and the run stopped; recover with a full-roll reconciliation "
        "(--rebuild-roster, docs/ctf.md)",
        directory_last=last,
    )


def _send(
    plan: _Plan,
    client: SupplyClient,
    roster: Roster,
    roster_file: RosterFile,
    *,
    progress: bool,
) -> _Outcome:
    """Send the plan's items in batches (module notes, step 3).

    :raises RosterStale: the directory refused a batch as out of order; the
        roster is marked stale. The first batch is the probe: refused whole,
        so nothing was acted on.
    """
    outcome = _Outcome()
    laestab = plan.header.source.laestab
    with tqdm(
        total=len(plan.items),
        unit="op",
        desc="supplying",
        file=sys.stderr,
        disable=None if progress else True,
        leave=False,
    ) as bar:
        for chunk in _chunks(plan.items, MAX_OPERATIONS_PER_BATCH):
            try:
                result = client.supply(i.operation for i in chunk)
            except SupplyInterrupted as error:
                if _is_out_of_order(error.error):
                    raise _stale(error.error, roster, roster_file) from None
                _record(error.receipts, chunk, outcome, roster, laestab)
                roster_file.save(roster)
                outcome.stopped = error.error
                outcome.unsent = len(plan.items) - len(outcome.accepted) - len(outcome.rejected)
                break
            except ContactPointError as error:
                if _is_out_of_order(error):
                    raise _stale(error, roster, roster_file) from None
                outcome.stopped = error
                outcome.unsent = len(plan.items) - len(outcome.accepted) - len(outcome.rejected)
                break
            _record(result.receipts, chunk, outcome, roster, laestab)
            roster_file.save(roster)
            bar.update(len(chunk))
    return outcome


# --- Reporting ----------------------------------------------------------------------


def _report_plan(path: Path, plan: _Plan, out: IO[str]) -> None:
    header = plan.header
    source = header.source
    print(
        f"{path.name}: CTF {header.version or '(no version)'}, "
        f"{header.school.name} (LAESTAB {source.laestab}), {plan.pupils} pupils",
        file=out,
    )
    for note in plan.notes:
        print(f"  note: {note}", file=out)
    for result in plan.failed:
        for problem in result.problems:
            print(f"  not sent: pupil {result.position}: {problem} [{problem.code}]", file=out)
    if plan.renumbered:
        print(
            f"  new UPN: {plan.renumbered} pupil(s) with a FormerUPN in the roster, sent as "
            "changes (not joiners and leavers)",
            file=out,
        )
    if plan.leavers_withheld:
        print(
            f"  leavers withheld: {plan.leavers_withheld} ({plan.leavers_reason})",
            file=out,
        )


def _report_sent(
    plan: _Plan, outcome: _Outcome, out: IO[str], *, dry_run: bool, quiet: bool = False
) -> None:
    if quiet:
        print(f"sent: 0 of {len(plan.items)}: the directory acted on nothing", file=out)
        return
    verb = "to send" if dry_run else "sent"
    sent = len(plan.items) - outcome.unsent
    print(
        f"{verb}: {sent if not dry_run else len(plan.items)} "
        f"({plan.count('joiner')} joiners, {plan.count('change')} changes, "
        f"{plan.count('leaver')} leavers); unchanged, not sent: {plan.unchanged}",
        file=out,
    )
    if dry_run:
        print("dry run: nothing sent, the roster unchanged", file=out)
        return
    print(
        f"accepted: {len(outcome.accepted)}; rejected: {len(outcome.rejected)}; "
        f"not sendable: {len(plan.failed)}",
        file=out,
    )
    for item, result in outcome.rejected:
        rule = f" ({result.rule})" if result.rule else ""
        message = f": {result.message}" if result.message else ""
        where = f" at {result.path}" if result.path else ""
        print(f"  rejected: {item.label}: {result.code}{rule}{where}{message}", file=out)
    if outcome.stopped is not None:
        error = outcome.stopped
        print(
            f"stopped: {error} [{error.code}]; {outcome.unsent} operation(s) not sent: "
            "they are sent again next run",
            file=out,
        )


# --- The command --------------------------------------------------------------------


def _usage(message: str) -> int:
    print(f"contactpoint supply ctf: {message}", file=sys.stderr)
    return EXIT_USAGE


def _load_ring(path: Path, passphrase: str) -> KeyRing[SigningKey]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigurationError(f"{path} does not exist") from None
    except (OSError, ValueError):
        raise KeyMaterialError(f"{path} is not a key ring file") from None
    return KeyRing.from_encrypted_json(text, passphrase, key_type=SigningKey)


def run_supply(args: argparse.Namespace) -> int:
    """Run ``supply ctf``; returns the exit code (module notes)."""
    if not args.file.is_file():
        return _usage(f"{args.file} is not a file")
    if args.ca_cert is not None and args.directory is None:
        return _usage("--ca-cert goes with --directory")
    for value, path, what in (
        (args.supplier_id, "supplier_id", "a supplier ID"),
        (args.agreement_id, "agreement_id", "an agreement ID"),
    ):
        try:
            check_identifier(value, path=path, what=what)
        except ValidationError as error:
            return _usage(str(error))
    passphrase = read_passphrase(args.passphrase_env)
    ring = _load_ring(args.key_ring, passphrase)
    roster_path: Path = args.roster or args.key_ring.parent / f"{args.supplier_id}.roster"
    roster_file = RosterFile(roster_path, passphrase)
    now = datetime.now(UTC)
    # A new roster numbers batches from the current time, so a roster removed
    # (or lost) never sends a sequence number the directory has seen (SUP-5).
    roster = roster_file.load(args.supplier_id, first_sequence_after=int(now.timestamp()))
    progress = not args.no_progress
    out = sys.stdout
    if args.rebuild_roster and args.partial:
        return _usage("--rebuild-roster needs the whole roll: not with --partial")
    if not args.rebuild_roster:
        try:
            roster.check_not_stale()
        except RosterStale as stale:
            print(f"{args.file.name}: refused ({stale.rule}): {stale.message} [{stale.code}]")
            return EXIT_FAILED
    try:
        plan = _plan(
            args.file,
            roster,
            partial=args.partial,
            today=now.date(),
            progress=progress,
            allow_older=args.allow_older,
            rebuild=args.rebuild_roster,
            confirm_leavers=args.confirm_leavers,
            now=now,
        )
        if args.rebuild_roster and plan.leavers_withheld:
            raise CtfRefused(
                "--rebuild-roster needs the whole roll (the file is partial, or a pupil has "
                "no valid UPN): refused whole, nothing is sent",
                code="ctf_rebuild_incomplete",
                rule="SUP-8",
            )
    except CtfRefused as refusal:
        rule = f" ({refusal.rule})" if refusal.rule else ""
        print(f"{args.file.name}: refused{rule}: {refusal.message} [{refusal.code}]", file=out)
        return EXIT_FAILED
    _report_plan(args.file, plan, out)
    if args.dry_run:
        _report_sent(plan, _Outcome(), out, dry_run=True)
        return EXIT_FAILED if plan.failed else EXIT_OK
    outcome = _Outcome()
    if args.rebuild_roster:
        # A fresh numbering, as a new roster's (SUP-5), and the stale mark goes
        # only once the directory accepts from this roll (below).
        roster.last_sequence = max(roster.last_sequence, int(now.timestamp()))
    with _Target(args, ring, plan.header.source.la) as target:
        sequence = RosterSequence(roster_file, roster)
        with target.client(args, ring, sequence) as client:
            try:
                _check_current(client, roster, roster_file, rebuild=args.rebuild_roster)
            except RosterStale as stale:
                _report_sent(plan, outcome, out, dry_run=False, quiet=True)
                print(
                    f"{args.file.name}: stopped ({stale.rule}): {stale.message} [{stale.code}]",
                    file=out,
                )
                return EXIT_FAILED
            except ContactPointError as error:  # the directory could not be asked
                outcome.stopped = error
                outcome.unsent = len(plan.items)
            if plan.items and outcome.stopped is None:
                try:
                    outcome = _send(plan, client, roster, roster_file, progress=progress)
                except RosterStale as stale:
                    _report_sent(plan, outcome, out, dry_run=False, quiet=True)
                    print(
                        f"{args.file.name}: stopped ({stale.rule}): {stale.message} [{stale.code}]",
                        file=out,
                    )
                    return EXIT_FAILED
    rebuilt = outcome.accepted or not plan.items
    if args.rebuild_roster and roster.stale_since is not None and rebuilt and not outcome.stopped:
        roster.stale_since = None
        roster_file.save(roster)
        print("roster rebuilt: the stale mark is cleared", file=out)
    if outcome.accepted or (plan.unchanged and not plan.items and not outcome.stopped):
        # The directory holds this file's roll, or the part of it it accepted:
        # an older file is refused from now on (SUP-8).
        roster.record_file(plan.header.source.laestab, plan.header.created_at)
        roster_file.save(roster)
    _report_sent(plan, outcome, out, dry_run=False)
    failed = bool(outcome.rejected or plan.failed or outcome.stopped or plan.leavers_blocked)
    return EXIT_FAILED if failed else EXIT_OK

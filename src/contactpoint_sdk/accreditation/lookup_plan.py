"""The look-up plan: does a system that embeds look-up use the directory as
an authorised user must (ACC-1, ACC-3, ACC-4, SHLD-1, SENS-4)?

The suite seeds three synthetic children in a fresh directory (an ordinary
record, a shielded one, one with a sensitive service), enrols one user for
the system, and asks the system to find and open each as its user would
(:meth:`~.harness.LookupHarness.find_child`); it judges the requests it
recorded and what the system says it showed its user.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, Final

import attrs

from contactpoint_sdk.accreditation.context import HarnessFailure, call_harness
from contactpoint_sdk.accreditation.fixtures import Fixtures
from contactpoint_sdk.accreditation.harness import LookupConnection, LookupHarness
from contactpoint_sdk.accreditation.plan import Plan, Verdict
from contactpoint_sdk.accreditation.traffic import Exchange, TrafficRecorder, strings_in
from contactpoint_sdk.models.enums import ShieldGround
from contactpoint_sdk.models.record import ChildRecord, ParentCarer, Shield
from contactpoint_sdk.policy.viewer import Role
from contactpoint_sdk.reference_server.directory import IN_PROCESS_URL, ReferenceDirectory
from contactpoint_sdk.reference_server.transport import InProcessTransport

__all__ = ["LOOKUP_PLAN", "SEARCH_PATH", "LookupContext"]

LOOKUP_PLAN: Plan[LookupContext] = Plan("lookup")

SEARCH_PATH: Final = "/v1/search"
_RETRY_AFTER_SECONDS: Final = 1
_SLACK: Final = 0.05
#: The most search requests one find may make under a rate limit.
_MAX_SEARCHES: Final = 3


def _is_open(exchange: Exchange) -> bool:
    return (
        exchange.method == "POST"
        and exchange.path.startswith("/v1/records/")
        and exchange.path.endswith("/open")
    )


class LookupContext:
    """One look-up test's world: a fresh directory with three seeded
    children, the system's user, the recorder, the system."""

    def __init__(
        self,
        *,
        directory: ReferenceDirectory,
        recorder: TrafficRecorder,
        system: LookupHarness,
        ordinary: ChildRecord,
        shielded: ChildRecord,
        sensitive: ChildRecord,
    ) -> None:
        self.directory = directory
        self.recorder = recorder
        self.system = system
        self.ordinary = ordinary
        self.shielded = shielded
        self.sensitive = sensitive

    @classmethod
    @contextlib.contextmanager
    def harness(cls, system: LookupHarness) -> Iterator[LookupContext]:
        with ReferenceDirectory() as directory:
            fixtures = Fixtures(directory.clock.today())
            ordinary = fixtures.record()
            shielded = attrs.evolve(
                fixtures.record(),
                shield=Shield(
                    requested_at=directory.clock.now() - timedelta(days=2),
                    ground=ShieldGround.RISK_OF_HARM_TO_CHILD,
                    requested_by="la-management",
                ),
            )
            sensitive = fixtures.with_involvement(
                fixtures.record(),
                fixtures.involvement(sensitive=True),
                "sensitive-1",
                fixtures.days_ago(40),
            )
            directory.service.seed_records([ordinary, shielded, sensitive])
            user = directory.create_user(
                "sut-user",
                Role.PASTORAL_TEACHER,
                local_authority=ordinary.local_authority or "801",
            )
            recorder = TrafficRecorder(directory.app)
            transport = InProcessTransport(recorder)
            try:
                connection = LookupConnection(
                    base_url=IN_PROCESS_URL,
                    username=user.username,
                    password=user.password,
                    pin=user.pin,
                    token_secret=user.token_secret,
                    transport=transport,
                    clock=directory.clock,
                )
                call_harness("connect()", lambda: system.connect(connection))
                try:
                    yield cls(
                        directory=directory,
                        recorder=recorder,
                        system=system,
                        ordinary=ordinary,
                        shielded=shielded,
                        sensitive=sensitive,
                    )
                finally:
                    call_harness("close()", system.close)
            finally:
                transport.close()

    def find(self, record: ChildRecord) -> Mapping[str, object]:
        """The system finds and opens ``record`` (harness errors are ERRORs)."""
        shown: dict[str, Mapping[str, object]] = {}

        def find() -> None:
            shown["view"] = self.system.find_child(
                family_name=record.name.family_name,
                given_name=record.name.given_name,
                date_of_birth=record.date_of_birth,
            )

        call_harness("find_child()", find)
        return shown["view"]

    def try_find(self, record: ChildRecord) -> tuple[Mapping[str, object] | None, str | None]:
        """Like :meth:`find`, but an exception is the system failing to cope."""
        try:
            return self.find(record), None
        except HarnessFailure as failure:
            return None, type(failure.error).__name__

    def end_session(self) -> None:
        call_harness("end_session()", self.system.end_session)

    def opens(self, since: int = 0) -> list[Exchange]:
        return [e for e in self.recorder.exchanges(since) if _is_open(e)]


def _shown_strings(shown: Mapping[str, object]) -> list[str]:
    return [text.casefold() for _, text in strings_in(_plain(shown))]


def _plain(value: Any) -> Any:
    """What the system showed, as JSON-like values (dates and enums as text)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(getattr(value, "value", value))


def _revealed(shown: Mapping[str, object], secrets: dict[str, str]) -> list[str]:
    """Which of ``secrets`` (what -> text) appear in what was shown."""
    texts = _shown_strings(shown)
    return sorted(
        what
        for what, secret in secrets.items()
        if secret and any(secret.casefold() in t for t in texts)
    )


def _shown(ctx: LookupContext, record: ChildRecord, view: str) -> Mapping[str, object] | Verdict:
    """What the system showed of ``record``, or the verdict if it failed on ``view``."""
    shown, error = ctx.try_find(record)
    if shown is None:
        return Verdict.failed(f"the system failed on {view} ({error})")
    return shown


def _hidden(
    shown: Mapping[str, object], secrets: dict[str, str], hider: str, passed: str
) -> Verdict:
    """``passed`` if none of ``secrets`` was shown; else fail, naming them."""
    revealed = _revealed(shown, secrets)
    if revealed:
        return Verdict.failed(f"the system showed what {hider} hides", *revealed)
    return Verdict.passed(passed)


@LOOKUP_PLAN.test(
    "AC-ACC-3-01",
    rules=("ACC-3",),
    title="Every record open carries a reason",
)
def reason_stated(ctx: LookupContext) -> Verdict:
    """The system finds and opens a child's record: every open request
    states a reason from the controlled list."""
    ctx.find(ctx.ordinary)
    opens = ctx.opens()
    if not opens:
        return Verdict.failed("the system did not open the record")
    missing = []
    for exchange in opens:
        body = exchange.json_body()
        reason = body.get("reason") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not reason:
            missing.append(exchange.describe())
    if missing:
        return Verdict.failed("a record was opened without a reason", *missing)
    return Verdict.passed(f"{len(opens)} opens, each with a reason", *(e.describe() for e in opens))


@LOOKUP_PLAN.test(
    "AC-SHLD-1-01",
    rules=("SHLD-1",),
    title="Copes with a shielded view: shows only name, date of birth and identifier",
)
def copes_with_shield(ctx: LookupContext) -> Verdict:
    """The system opens a shielded record: it must not fail, must show the
    child's name and date of birth, and must show nothing of where the child
    is (address, postcode, parents, services)."""
    shown = _shown(ctx, ctx.shielded, "a shielded view")
    if isinstance(shown, Verdict):
        return shown
    record = ctx.shielded
    texts = _shown_strings(shown)
    if not any(record.name.family_name.casefold() in t for t in texts) or not any(
        record.date_of_birth.isoformat() in t for t in texts
    ):
        return Verdict.failed("the system did not show the shielded child's name and date of birth")
    secrets = {
        "address": record.address.lines[0] if record.address.lines else "",
        "postcode": str(record.address.postcode or ""),
    }
    for index, parent in enumerate(record.parents, 1):
        if isinstance(parent, ParentCarer):
            secrets[f"parent/carer {index}"] = f"{parent.name.given_name} {parent.name.family_name}"
    return _hidden(
        shown, secrets, "a shield", "the shielded view was shown without failing or revealing"
    )


@LOOKUP_PLAN.test(
    "AC-SENS-4-01",
    rules=("SENS-4",),
    title="Copes with an unspecified-service view",
)
def copes_with_unspecified_service(ctx: LookupContext) -> Verdict:
    """The system opens a record with a sensitive service its user may not
    see: it must not fail, and must show no category, practitioner or
    organisation of that service."""
    shown = _shown(ctx, ctx.sensitive, "an unspecified-service view")
    if isinstance(shown, Verdict):
        return shown
    involvement = next(i for i in ctx.sensitive.involvements if i.service.is_sensitive)
    secrets = {
        "service": involvement.service.value,
        "organisation": involvement.organisation.name,
    }
    if involvement.practitioner is not None:
        secrets["practitioner"] = involvement.practitioner.name.family_name
    return _hidden(
        shown, secrets, "SENS-4", "the unspecified-service view was shown without failing"
    )


@LOOKUP_PLAN.test(
    "AC-ACC-4-01",
    rules=("ACC-4",),
    title="Backs off on search rate limits",
)
def backs_off_on_search_limit(ctx: LookupContext) -> Verdict:
    """The first search is answered 429 with Retry-After (1 s): the system
    must not search again sooner, and must not keep hammering (at most 3
    searches). Giving up and telling the user is acceptable."""
    ctx.directory.faults.rate_limit(
        1, retry_after=_RETRY_AFTER_SECONDS, path_prefix=SEARCH_PATH, method="POST"
    )
    with contextlib.suppress(HarnessFailure):
        ctx.find(ctx.ordinary)
    searches = [e for e in ctx.recorder.exchanges() if e.path == SEARCH_PATH]
    evidence = [e.describe() for e in searches]
    if not searches or searches[0].status != 429:
        return Verdict.failed("the system did not search (or the 429 did not fire)", *evidence)
    if len(searches) > _MAX_SEARCHES:
        return Verdict.failed(f"{len(searches)} searches under a rate limit", *evidence)
    if len(searches) > 1:
        waited = searches[1].started - searches[0].ended
        evidence.append(f"waited {waited:.2f} s")
        if waited < _RETRY_AFTER_SECONDS - _SLACK:
            return Verdict.failed(
                f"the system searched again after {waited:.2f} s; Retry-After asked "
                f"{_RETRY_AFTER_SECONDS} s",
                *evidence,
            )
    return Verdict.passed("the system backed off", *evidence)


@LOOKUP_PLAN.test(
    "AC-ACC-1-01",
    rules=("ACC-1",),
    title="Never serves a record from cache after its session ends",
)
def no_cache_after_session(ctx: LookupContext) -> Verdict:
    """The system opens a record, its user's session ends, and the record
    is asked for again: the system must open it again at the directory (as
    an authorised user, signed in afresh), never show a copy it kept."""
    ctx.find(ctx.ordinary)
    ctx.end_session()
    ctx.directory.clock.advance(timedelta(seconds=31))  # a fresh token code
    mark = ctx.recorder.mark()
    ctx.find(ctx.ordinary)
    again = ctx.opens(mark)
    if not again:
        return Verdict.failed(
            "after the session ended the record was shown without opening it again"
        )
    return Verdict.passed(
        "the record was opened again in a new session", *(e.describe() for e in again)
    )

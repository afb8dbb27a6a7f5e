"""Anti-trawling (ACC-4): enough detail, few results, a rate limit, alerts.

ACC-4: "A search needs enough identifying detail, returns few results, and a
user's search rate is limited; unusual patterns are reported to the
management team." Every number is a *(policy)* setting in
:class:`~contactpoint_sdk.policy.settings.PolicySettings`; ``docs/lookup.md``
lists them. No I/O and no clock reads: the clock is passed in (RET-8).

The parts, each usable alone, and :class:`TrawlingGuard`, which puts them
together for the directory core:

1. :func:`check_search_criteria` — is there enough identifying detail?
   Accepted (the first that applies is the :class:`SearchBasis`):

   ======================================  ====================================
   basis                                   criteria
   ======================================  ====================================
   ``identifier``                          a directory ID, NHS number, UPN or
                                           ULN (a school's own reference is
                                           not enough: it is local to a school)
   ``name_and_date_of_birth``              family name + full date of birth
   ``full_name_and_postcode``              family name + given name + full
                                           postcode (a district is not one)
   ``full_name_and_year_of_birth``         family name + given name + year of
                                           birth
   ======================================  ====================================

   A name counts only with at least ``search_min_name_length`` letters (after
   folding case and accents and dropping everything but letters). Gender
   narrows a search but never makes one enough. A name with a wildcard
   (``* ? % _``) is refused: the directory matches names whole. Otherwise
   :class:`SearchTooBroad` (``search_too_broad``).

2. :func:`limit_results` — at most ``search_max_results`` candidates; with
   more, :class:`RefineSearch` (``refine_search``) and **nothing** is shown
   (not even how many matched). Each candidate is only what tells children
   apart (both types live in :mod:`contactpoint_sdk.models.views`, with the
   :class:`SearchResult` a search answers with): :class:`SearchCandidate`
   (directory ID, current given and family
   name, date of birth, gender, postcode district such as ``"BS1"``), or for
   a shielded record :class:`ShieldedSearchCandidate` (directory ID, name,
   date of birth: SHLD-1). A shielded record is **left out** of a search
   that gave a postcode, since showing it would confirm where the child lives
   (SHLD-1); the child's own local authority management team, who may see
   the whole record, is shown it. Ask the store for
   ``search_max_results + 1`` rows: that is enough to know there are too
   many.

3. :class:`RateLimiter` — each user may search ``search_rate_per_minute``
   times in any 60 seconds and ``search_rate_per_day`` times in any 24
   hours (sliding windows). Over either: :class:`SearchRateLimited`
   (``rate_limited``) with ``retry_after`` seconds. A refused search does
   not count.

4. :class:`TrawlingMonitor` — consumes :class:`AccessEvent` records (by
   identifier and code only: a search's criteria arrive as a keyed-hash
   :class:`CriteriaFingerprint`, never as names or dates) and raises
   :class:`TrawlingAlert` records for the management team of the user's
   local authority. The patterns (:class:`AlertPattern`):

   - ``same_reason_opens``: ``alert_same_reason_opens`` records opened with
     one reason within ``alert_same_reason_window_minutes`` (a record opened
     again counts once);
   - ``out_of_area_opens``: within ``alert_out_of_area_window_hours``, at
     least ``alert_out_of_area_opens`` opens of children whose record's
     local authority is not one of the user's, making at least
     ``alert_out_of_area_share_percent`` of their opens. (The reference
     directory has no map of authorities, so a neighbour counts as
     "outside"; the share keeps a user near a border from alerting.)
   - ``name_sweep``, ``date_of_birth_sweep``, ``postcode_sweep``: within
     ``alert_sweep_window_minutes``, ``alert_sweep_distinct_values``
     searches that share one thing and differ in another (see
     :class:`SweepKind`): surnames sharing their first
     ``alert_sweep_surname_prefix_length`` letters; one date of birth with
     many surnames; dates of birth close together (two grids of
     ``alert_sweep_dob_span_days``-day blocks, offset by half a block, so
     any K distinct dates within ``span // 2 + 1`` consecutive days fall in
     one block: a run of consecutive dates is caught at its K-th search);
     one surname with many dates or years of birth; one full name with many
     postcodes; one postcode with many surnames;
   - ``opens_without_follow_up``: ``alert_glance_opens`` "glances" within
     ``alert_glance_window_minutes``. A glance is an open left, within
     ``alert_glance_seconds``, for another search or another record, with
     nothing done on it. "Something done" is a follow-up
     (:attr:`AccessAction.FOLLOW_UP`): in the reference directory, a
     broker request, a shield request or a correction about that record,
     or a client's report that the user used the contact details. Opening
     the same record again continues the first open.
   - ``failed_search_burst``: ``alert_failed_searches`` failed searches
     (no match, too broad, too many matches, rate limited) within
     ``alert_failed_search_window_minutes``: the shape of guessing, for
     instance running through identifiers.

   After an alert its counter starts again from nothing, so a pattern that
   goes on raises a new alert each time it reaches the threshold again.

   State is bounded: each counter keeps at most its threshold of entries
   (the out-of-area one at most :data:`MAX_OPENS_TRACKED` opens); each user
   at most :data:`MAX_SWEEP_BUCKETS` sweep buckets; at most ``max_users``
   users (least recently active dropped first); :meth:`TrawlingMonitor.prune`
   drops users idle for longer than every window.

5. :class:`TrawlingGuard` — all of it around one search or open, with the
   block: a sweep or failed-search alert also stops that user's searches for
   ``trawling_block_minutes`` (:class:`SearchBlocked`, ``search_blocked``),
   unless the management team clears it sooner (0: alerts only report).
   With the defaults a sweep script is stopped at its 7th search
   (``alert_sweep_distinct_values + 1``) however slowly it runs, and any
   script at its 11th search within a minute (``search_rate_per_minute + 1``).

Every refusal carries rule ``ACC-4``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta

import attrs

from contactpoint_sdk.clock import Clock
from contactpoint_sdk.errors import (
    RefineSearch,
    SearchBlocked,
    SearchRateLimited,
    SearchTooBroad,
)
from contactpoint_sdk.models.contact import Postcode
from contactpoint_sdk.models.enums import Gender
from contactpoint_sdk.models.identifiers import DirectoryId, NhsNumber, Uln, Upn
from contactpoint_sdk.models.names import fold_name
from contactpoint_sdk.models.record import ChildRecord
from contactpoint_sdk.models.views import SearchCandidate, SearchResult, ShieldedSearchCandidate
from contactpoint_sdk.policy.reasons import ReasonCode, StatedReason
from contactpoint_sdk.policy.settings import DEFAULT_POLICY, PolicySettings
from contactpoint_sdk.policy.shield import shield_in_effect
from contactpoint_sdk.policy.viewer import Viewer

__all__ = [
    "MAX_OPENS_TRACKED",
    "MAX_SWEEP_BUCKETS",
    "AccessAction",
    "AccessEvent",
    "AlertPattern",
    "AnyCandidate",
    "CriteriaFingerprint",
    "RateLimiter",
    "SearchBasis",
    "SearchCandidate",
    "SearchCriteria",
    "SearchOutcome",
    "SearchResult",
    "ShieldedSearchCandidate",
    "SweepFeature",
    "SweepKind",
    "TrawlingAlert",
    "TrawlingGuard",
    "TrawlingMonitor",
    "candidate",
    "check_search_criteria",
    "fingerprint",
    "fold_name",
    "limit_results",
    "search_result",
]

RULE = "ACC-4"

#: At most this many opens are kept per user for the out-of-area share.
MAX_OPENS_TRACKED = 4096
#: At most this many sweep buckets are kept per user (least recent dropped).
MAX_SWEEP_BUCKETS = 4096

_WILDCARDS = frozenset("*?%_")
_MIN_YEAR, _MAX_YEAR = 1900, 2999


# --- 1. enough identifying detail ----------------------------------------------------


class SearchBasis(enum.Enum):
    """Which accepted combination made a search specific enough (module notes)."""

    IDENTIFIER = "identifier"
    NAME_AND_DATE_OF_BIRTH = "name_and_date_of_birth"
    FULL_NAME_AND_POSTCODE = "full_name_and_postcode"
    FULL_NAME_AND_YEAR_OF_BIRTH = "full_name_and_year_of_birth"


@attrs.frozen(kw_only=True)
class SearchCriteria:
    """What a user searches with. Every field is optional; which combinations
    are enough is :func:`check_search_criteria`'s decision."""

    family_name: str | None = None
    given_name: str | None = None
    date_of_birth: date | None = None
    year_of_birth: int | None = None
    postcode: Postcode | None = None
    gender: Gender | None = None
    directory_id: DirectoryId | None = None
    nhs_number: NhsNumber | None = None
    upn: Upn | None = None
    uln: Uln | None = None

    @property
    def has_identifier(self) -> bool:
        """True when a directory ID, NHS number, UPN or ULN is given."""
        return any(v is not None for v in (self.directory_id, self.nhs_number, self.upn, self.uln))


_ACCEPTED = (
    "a search needs an identifier (directory ID, NHS number, UPN or ULN), or a family "
    "name with a date of birth, or a family and given name with a postcode or a year "
    "of birth"
)


def _name_key(name: str | None, settings: PolicySettings) -> str | None:
    if name is None:
        return None
    key = fold_name(name)
    return key if len(key) >= settings.search_min_name_length else None


def check_search_criteria(
    criteria: SearchCriteria, settings: PolicySettings = DEFAULT_POLICY
) -> SearchBasis:
    """Refuse a search without enough identifying detail (ACC-4).

    Returns the :class:`SearchBasis` that makes it enough (for the audit);
    raises :class:`SearchTooBroad` otherwise. The rule table is in the module
    notes.
    """
    for name in (criteria.family_name, criteria.given_name):
        if name is not None and any(ch in _WILDCARDS for ch in name):
            raise SearchTooBroad("names are matched whole: wildcards (* ? % _) are not accepted")
    if criteria.has_identifier:
        return SearchBasis.IDENTIFIER
    family = _name_key(criteria.family_name, settings)
    given = _name_key(criteria.given_name, settings)
    year = criteria.year_of_birth
    year_ok = year is not None and not isinstance(year, bool) and _MIN_YEAR <= year <= _MAX_YEAR
    if family is not None and criteria.date_of_birth is not None:
        return SearchBasis.NAME_AND_DATE_OF_BIRTH
    if family is not None and given is not None:
        if criteria.postcode is not None:
            return SearchBasis.FULL_NAME_AND_POSTCODE
        if year_ok:
            return SearchBasis.FULL_NAME_AND_YEAR_OF_BIRTH
    raise SearchTooBroad(
        f"{_ACCEPTED}; names need at least {settings.search_min_name_length} letters"
    )


# --- 2. few results, each told apart by little -----------------------------------------


#: Either candidate type (both defined in :mod:`contactpoint_sdk.models.views`).
AnyCandidate = SearchCandidate | ShieldedSearchCandidate


def search_result(candidates: Iterable[AnyCandidate]) -> SearchResult:
    """Candidates as the wire's :class:`SearchResult`: unshielded and shielded
    apart, each in the order given."""
    shown = tuple(candidates)
    return SearchResult(
        candidates=tuple(c for c in shown if isinstance(c, SearchCandidate)),
        shielded_candidates=tuple(c for c in shown if isinstance(c, ShieldedSearchCandidate)),
    )


def _sees_shielded(record: ChildRecord, viewer: Viewer) -> bool:
    return viewer.is_management_team_for(record.local_authority)


def candidate(record: ChildRecord, viewer: Viewer, now: datetime) -> AnyCandidate:
    """``record`` reduced to a search candidate for ``viewer`` at ``now``."""
    if shield_in_effect(record, now) and not _sees_shielded(record, viewer):
        return ShieldedSearchCandidate(
            directory_id=record.directory_id,
            given_name=record.name.given_name,
            family_name=record.name.family_name,
            date_of_birth=record.date_of_birth,
        )
    postcode = record.address.postcode
    return SearchCandidate(
        directory_id=record.directory_id,
        given_name=record.name.given_name,
        family_name=record.name.family_name,
        date_of_birth=record.date_of_birth,
        gender=record.gender,
        postcode_district=postcode.outward if postcode is not None else None,
    )


def _left_out(
    record: ChildRecord, viewer: Viewer, now: datetime, criteria: SearchCriteria | None
) -> bool:
    """A shielded record a search by postcode must not show (SHLD-1)."""
    return (
        criteria is not None
        and criteria.postcode is not None
        and shield_in_effect(record, now)
        and not _sees_shielded(record, viewer)
    )


def limit_results(
    records: Iterable[ChildRecord],
    settings: PolicySettings = DEFAULT_POLICY,
    *,
    viewer: Viewer,
    now: datetime,
    criteria: SearchCriteria | None = None,
) -> tuple[AnyCandidate, ...]:
    """The candidates to show for the records a search matched (ACC-4).

    At most ``settings.search_max_results``; with more, raises
    :class:`RefineSearch` and shows nothing. A shielded record matched by a
    search that gave a postcode is left out (SHLD-1) unless ``viewer`` is the
    child's own local authority management team.
    """
    shown: list[AnyCandidate] = []
    limit = settings.search_max_results
    for record in records:
        if _left_out(record, viewer, now, criteria):
            continue
        if len(shown) == limit:
            raise RefineSearch(limit)
        shown.append(candidate(record, viewer, now))
    return tuple(shown)


# --- 3. rate limit ------------------------------------------------------------------


class RateLimiter:
    """Per-user sliding-window search limits (ACC-4). Thread safe.

    :meth:`acquire` admits one search or raises :class:`SearchRateLimited`.
    Memory: at most ``search_rate_per_day`` instants per user active in the
    last 24 hours; :meth:`prune` drops the rest (called every 1,000 searches).
    """

    _MINUTE = timedelta(minutes=1)
    _DAY = timedelta(days=1)

    def __init__(self, settings: PolicySettings = DEFAULT_POLICY, *, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._users: dict[str, tuple[deque[datetime], deque[datetime]]] = {}
        self._since_prune = 0

    def acquire(self, user_id: str) -> None:
        """Admit one search by ``user_id`` now, or raise :class:`SearchRateLimited`."""
        now = self.clock.now()
        with self._lock:
            self._since_prune += 1
            if self._since_prune >= 1000:
                self._prune(now)
            windows = self._users.get(user_id)
            if windows is None:
                windows = (
                    deque(maxlen=self.settings.search_rate_per_minute),
                    deque(maxlen=self.settings.search_rate_per_day),
                )
                self._users[user_id] = windows
            for times, span, name in (
                (windows[0], self._MINUTE, "minute"),
                (windows[1], self._DAY, "day"),
            ):
                if len(times) == times.maxlen and times[0] > now - span:
                    wait = (times[0] + span - now).total_seconds()
                    raise SearchRateLimited(retry_after=wait, window=name)
            windows[0].append(now)
            windows[1].append(now)

    def reset(self, user_id: str) -> None:
        """Forget ``user_id``'s searches (an administrator's decision)."""
        with self._lock:
            self._users.pop(user_id, None)

    def prune(self) -> None:
        """Drop the users with no search in the last 24 hours."""
        with self._lock:
            self._prune(self.clock.now())

    def _prune(self, now: datetime) -> None:
        self._since_prune = 0
        cutoff = now - self._DAY
        for user_id in [u for u, (_, day) in self._users.items() if not day or day[-1] <= cutoff]:
            del self._users[user_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._users)


# --- 4. unusual patterns -------------------------------------------------------------


class AccessAction(enum.Enum):
    """What a user did, as the monitor sees it."""

    SEARCH = "search"
    OPEN = "open"
    #: Something done about a record after opening it (module notes).
    FOLLOW_UP = "follow_up"


class SearchOutcome(enum.Enum):
    """How a search ended. Every outcome but ``found`` is a failed search."""

    FOUND = "found"
    NO_MATCH = "no_match"
    TOO_BROAD = "too_broad"
    REFINE = "refine"
    RATE_LIMITED = "rate_limited"

    @property
    def failed(self) -> bool:
        """True for every outcome but ``found``."""
        return self is not SearchOutcome.FOUND


class AlertPattern(enum.Enum):
    """The unusual patterns reported to the management team (ACC-4)."""

    SAME_REASON_OPENS = "same_reason_opens"
    OUT_OF_AREA_OPENS = "out_of_area_opens"
    NAME_SWEEP = "name_sweep"
    DATE_OF_BIRTH_SWEEP = "date_of_birth_sweep"
    POSTCODE_SWEEP = "postcode_sweep"
    OPENS_WITHOUT_FOLLOW_UP = "opens_without_follow_up"
    FAILED_SEARCH_BURST = "failed_search_burst"

    @property
    def blocks_searching(self) -> bool:
        """True for the patterns that stop the user's searches (the sweeps and
        failed-search bursts: the shapes of a script)."""
        return self in _BLOCKING


_BLOCKING = frozenset(
    {
        AlertPattern.NAME_SWEEP,
        AlertPattern.DATE_OF_BIRTH_SWEEP,
        AlertPattern.POSTCODE_SWEEP,
        AlertPattern.FAILED_SEARCH_BURST,
    }
)


class SweepKind(enum.Enum):
    """What the searches of a sweep share (the bucket) and vary (the value)."""

    #: surnames sharing their first letters (Smith, Smithe, Smithson ...).
    SURNAME_PREFIX = "surname_prefix"
    #: one date of birth with many surnames (everyone born on a day).
    SAME_DATE_OF_BIRTH = "same_date_of_birth"
    #: dates of birth close together (consecutive dates).
    NEAR_DATES_OF_BIRTH = "near_dates_of_birth"
    #: one surname with many dates or years of birth.
    SAME_NAME_DATES = "same_name_dates"
    #: one full name with many postcodes (incrementing postcodes).
    SAME_NAME_POSTCODES = "same_name_postcodes"
    #: one postcode with many surnames (everyone at an address).
    SAME_POSTCODE_NAMES = "same_postcode_names"

    @property
    def pattern(self) -> AlertPattern:
        """The alert a sweep of this kind raises."""
        return _SWEEP_PATTERN[self]


_SWEEP_PATTERN = {
    SweepKind.SURNAME_PREFIX: AlertPattern.NAME_SWEEP,
    SweepKind.SAME_DATE_OF_BIRTH: AlertPattern.NAME_SWEEP,
    SweepKind.NEAR_DATES_OF_BIRTH: AlertPattern.DATE_OF_BIRTH_SWEEP,
    SweepKind.SAME_NAME_DATES: AlertPattern.DATE_OF_BIRTH_SWEEP,
    SweepKind.SAME_NAME_POSTCODES: AlertPattern.POSTCODE_SWEEP,
    SweepKind.SAME_POSTCODE_NAMES: AlertPattern.POSTCODE_SWEEP,
}


@attrs.frozen(kw_only=True)
class SweepFeature:
    """One (kind, bucket, value) of a search, the bucket and value as keyed
    hashes: equal inputs give equal hashes under one key, and nothing else
    can be learnt from them."""

    kind: SweepKind
    bucket: str
    value: str


@attrs.frozen(kw_only=True)
class CriteriaFingerprint:
    """A search's criteria as the monitor sees them: keyed hashes only."""

    features: frozenset[SweepFeature] = frozenset()


def fingerprint(
    criteria: SearchCriteria, *, key: bytes, settings: PolicySettings = DEFAULT_POLICY
) -> CriteriaFingerprint:
    """The sweep features of ``criteria`` (:class:`SweepKind`), hashed with
    HMAC-SHA-256 under ``key`` (keep it secret, e.g. random per process).

    Names count only with at least ``search_min_name_length`` letters, as in
    :func:`check_search_criteria`; identifiers give no features (guessing
    identifiers shows up as failed searches).
    """

    def h(*parts: object) -> str:
        text = "\x1f".join(str(p) for p in parts)
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:24]

    features: set[SweepFeature] = set()

    def add(kind: SweepKind, bucket: tuple[object, ...], value: tuple[object, ...]) -> None:
        features.add(SweepFeature(kind=kind, bucket=h(kind.value, *bucket), value=h(*value)))

    family = _name_key(criteria.family_name, settings)
    given = _name_key(criteria.given_name, settings)
    dob = criteria.date_of_birth
    postcode = str(criteria.postcode) if criteria.postcode is not None else None
    if family is not None:
        add(
            SweepKind.SURNAME_PREFIX,
            (family[: settings.alert_sweep_surname_prefix_length],),
            (family,),
        )
        if dob is not None:
            add(SweepKind.SAME_DATE_OF_BIRTH, (dob.isoformat(),), (family,))
            add(SweepKind.SAME_NAME_DATES, (family,), ("dob", dob.isoformat()))
        elif criteria.year_of_birth is not None:
            add(SweepKind.SAME_NAME_DATES, (family,), ("year", criteria.year_of_birth))
        if postcode is not None:
            add(SweepKind.SAME_POSTCODE_NAMES, (postcode,), (family,))
            add(SweepKind.SAME_NAME_POSTCODES, (family, given or ""), (postcode,))
    if dob is not None:
        span = settings.alert_sweep_dob_span_days
        day = dob.toordinal()
        add(SweepKind.NEAR_DATES_OF_BIRTH, ("a", day // span), (dob.isoformat(),))
        add(SweepKind.NEAR_DATES_OF_BIRTH, ("b", (day + span // 2) // span), (dob.isoformat(),))
    return CriteriaFingerprint(features=frozenset(features))


@attrs.frozen(kw_only=True)
class AccessEvent:
    """One thing a user did, by identifier and code only (ACC-4, ACC-5).

    ``user_id`` is the user at the keyboard; ``on_behalf_of`` the practitioner
    they act for (ACC-6). ``user_areas`` are the local authority codes the
    user works for (usually one). For an open: ``directory_id``,
    ``record_local_authority`` and ``reason``; for a follow-up:
    ``directory_id``; for a search: ``fingerprint`` and ``outcome``.
    """

    user_id: str
    at: datetime
    action: AccessAction
    user_areas: frozenset[str] = frozenset()
    on_behalf_of: str | None = None
    directory_id: str | None = None
    record_local_authority: str | None = None
    reason: ReasonCode | None = None
    fingerprint: CriteriaFingerprint | None = None
    outcome: SearchOutcome | None = None


@attrs.frozen(kw_only=True)
class TrawlingAlert:
    """An unusual pattern, for the management team (ACC-4). Identifiers,
    codes and counts only.

    ``local_authority`` is the user's (whose management team is told);
    ``count`` events between ``window_start`` and ``window_end`` reached
    ``threshold``. ``detail`` is a code: the reason code for
    ``same_reason_opens``, the :class:`SweepKind` for a sweep.
    """

    user_id: str
    pattern: AlertPattern
    raised_at: datetime
    window_start: datetime
    window_end: datetime
    count: int
    threshold: int
    local_authority: str | None = None
    on_behalf_of: str | None = None
    detail: str | None = None
    rule: str = RULE


class _UserState:
    """Everything the monitor remembers about one user (bounded: module notes)."""

    __slots__ = (
        "failed",
        "glances",
        "last_seen",
        "opens",
        "out_count",
        "pending_open",
        "same_reason",
        "sweeps",
    )

    def __init__(self, settings: PolicySettings, now: datetime) -> None:
        self.last_seen = now
        self.same_reason: dict[ReasonCode, deque[tuple[datetime, str | None]]] = {}
        self.opens: deque[tuple[datetime, bool]] = deque()
        self.out_count = 0
        self.sweeps: OrderedDict[tuple[SweepKind, str], OrderedDict[str, datetime]] = OrderedDict()
        self.pending_open: tuple[str, datetime] | None = None
        self.glances: deque[datetime] = deque(maxlen=settings.alert_glance_opens)
        self.failed: deque[datetime] = deque(maxlen=settings.alert_failed_searches)


def _full_within(times: deque[datetime], window: timedelta, now: datetime) -> bool:
    """True when ``times`` (maxlen = threshold) is full within ``window`` of ``now``."""
    return len(times) == times.maxlen and times[0] > now - window


class TrawlingMonitor:
    """The unusual-pattern detectors (ACC-4): feed it :class:`AccessEvent`
    records, in time order per user; it returns the alerts each one raises.
    Thread safe."""

    def __init__(
        self, settings: PolicySettings = DEFAULT_POLICY, *, max_users: int = 100_000
    ) -> None:
        self.settings = settings
        self.max_users = max_users
        self._users: OrderedDict[str, _UserState] = OrderedDict()
        self._lock = threading.Lock()
        s = settings
        self._longest = max(
            timedelta(minutes=s.alert_same_reason_window_minutes),
            timedelta(hours=s.alert_out_of_area_window_hours),
            timedelta(minutes=s.alert_sweep_window_minutes),
            timedelta(minutes=s.alert_glance_window_minutes),
            timedelta(minutes=s.alert_failed_search_window_minutes),
        )

    def observe(self, event: AccessEvent) -> tuple[TrawlingAlert, ...]:
        """Take one event; return the alerts it raises (usually none)."""
        with self._lock:
            state = self._users.get(event.user_id)
            if state is None:
                state = _UserState(self.settings, event.at)
                self._users[event.user_id] = state
                while len(self._users) > self.max_users:
                    self._users.popitem(last=False)
            else:
                self._users.move_to_end(event.user_id)
            state.last_seen = max(state.last_seen, event.at)
            found: list[TrawlingAlert] = []
            self._glances(event, state, found)
            if event.action is AccessAction.OPEN:
                self._same_reason(event, state, found)
                self._out_of_area(event, state, found)
            elif event.action is AccessAction.SEARCH:
                self._sweeps(event, state, found)
                self._failed(event, state, found)
            return tuple(found)

    def prune(self, now: datetime) -> None:
        """Forget users with no event within the longest window."""
        with self._lock:
            cutoff = now - self._longest
            for user_id in [u for u, st in self._users.items() if st.last_seen <= cutoff]:
                del self._users[user_id]

    def __len__(self) -> int:
        with self._lock:
            return len(self._users)

    # --- the detectors ---------------------------------------------------------

    def _alert(
        self,
        event: AccessEvent,
        pattern: AlertPattern,
        *,
        start: datetime,
        count: int,
        threshold: int,
        detail: str | None = None,
    ) -> TrawlingAlert:
        return TrawlingAlert(
            user_id=event.user_id,
            pattern=pattern,
            raised_at=event.at,
            window_start=start,
            window_end=event.at,
            count=count,
            threshold=threshold,
            local_authority=min(event.user_areas) if event.user_areas else None,
            on_behalf_of=event.on_behalf_of,
            detail=detail,
        )

    def _same_reason(self, event: AccessEvent, state: _UserState, out: list[TrawlingAlert]) -> None:
        if event.reason is None:
            return
        s = self.settings
        opens = state.same_reason.get(event.reason)
        if opens is None:
            opens = state.same_reason[event.reason] = deque(maxlen=s.alert_same_reason_opens)
        for earlier in opens:  # each record counts once
            if earlier[1] == event.directory_id:
                opens.remove(earlier)
                break
        opens.append((event.at, event.directory_id))
        window = timedelta(minutes=s.alert_same_reason_window_minutes)
        if len(opens) == opens.maxlen and opens[0][0] > event.at - window:
            out.append(
                self._alert(
                    event,
                    AlertPattern.SAME_REASON_OPENS,
                    start=opens[0][0],
                    count=len(opens),
                    threshold=s.alert_same_reason_opens,
                    detail=event.reason.value,
                )
            )
            opens.clear()

    def _out_of_area(self, event: AccessEvent, state: _UserState, out: list[TrawlingAlert]) -> None:
        if not event.user_areas or event.record_local_authority is None:
            return
        s = self.settings
        outside = event.record_local_authority not in event.user_areas
        opens = state.opens
        opens.append((event.at, outside))
        state.out_count += outside
        cutoff = event.at - timedelta(hours=s.alert_out_of_area_window_hours)
        while opens and (opens[0][0] <= cutoff or len(opens) > MAX_OPENS_TRACKED):
            state.out_count -= opens.popleft()[1]
        if (
            state.out_count >= s.alert_out_of_area_opens
            and state.out_count * 100 >= s.alert_out_of_area_share_percent * len(opens)
        ):
            out.append(
                self._alert(
                    event,
                    AlertPattern.OUT_OF_AREA_OPENS,
                    start=opens[0][0],
                    count=state.out_count,
                    threshold=s.alert_out_of_area_opens,
                )
            )
            opens.clear()
            state.out_count = 0

    def _sweeps(self, event: AccessEvent, state: _UserState, out: list[TrawlingAlert]) -> None:
        if event.fingerprint is None:
            return
        s = self.settings
        cutoff = event.at - timedelta(minutes=s.alert_sweep_window_minutes)
        raised: set[AlertPattern] = set()
        for feature in sorted(
            event.fingerprint.features, key=lambda f: (f.kind.value, f.bucket, f.value)
        ):
            key = (feature.kind, feature.bucket)
            values = state.sweeps.get(key)
            if values is None:
                values = state.sweeps[key] = OrderedDict()
                while len(state.sweeps) > MAX_SWEEP_BUCKETS:
                    state.sweeps.popitem(last=False)
            else:
                state.sweeps.move_to_end(key)
            while values and next(iter(values.values())) <= cutoff:
                values.popitem(last=False)
            values[feature.value] = event.at
            values.move_to_end(feature.value)
            if len(values) >= s.alert_sweep_distinct_values:
                pattern = feature.kind.pattern
                if pattern not in raised:
                    raised.add(pattern)
                    out.append(
                        self._alert(
                            event,
                            pattern,
                            start=next(iter(values.values())),
                            count=len(values),
                            threshold=s.alert_sweep_distinct_values,
                            detail=feature.kind.value,
                        )
                    )
                values.clear()

    def _glances(self, event: AccessEvent, state: _UserState, out: list[TrawlingAlert]) -> None:
        s = self.settings
        pending = state.pending_open
        if pending is not None:
            record, opened_at = pending
            if event.directory_id == record and event.action is not AccessAction.SEARCH:
                if event.action is AccessAction.FOLLOW_UP:
                    state.pending_open = None
                return  # a follow-up, or the same record opened again
            state.pending_open = None
            if event.at - opened_at < timedelta(seconds=s.alert_glance_seconds):
                state.glances.append(opened_at)
                window = timedelta(minutes=s.alert_glance_window_minutes)
                if _full_within(state.glances, window, event.at):
                    out.append(
                        self._alert(
                            event,
                            AlertPattern.OPENS_WITHOUT_FOLLOW_UP,
                            start=state.glances[0],
                            count=len(state.glances),
                            threshold=s.alert_glance_opens,
                        )
                    )
                    state.glances.clear()
        if event.action is AccessAction.OPEN and event.directory_id is not None:
            state.pending_open = (event.directory_id, event.at)

    def _failed(self, event: AccessEvent, state: _UserState, out: list[TrawlingAlert]) -> None:
        if event.outcome is None or not event.outcome.failed:
            return
        s = self.settings
        state.failed.append(event.at)
        window = timedelta(minutes=s.alert_failed_search_window_minutes)
        if _full_within(state.failed, window, event.at):
            out.append(
                self._alert(
                    event,
                    AlertPattern.FAILED_SEARCH_BURST,
                    start=state.failed[0],
                    count=len(state.failed),
                    threshold=s.alert_failed_searches,
                )
            )
            state.failed.clear()


# --- 5. all of it around a search or an open ----------------------------------------------

#: Runs a search in the store: (criteria, at most this many rows) -> records.
SearchRunner = Callable[[SearchCriteria, int], Sequence[ChildRecord]]


class TrawlingGuard:
    """ACC-4 around each search and open, for the directory core. Thread safe.

    ``key`` hashes criteria fingerprints (random per guard by default);
    ``on_alert`` is called with each alert as it is raised (route it to the
    management team's queue and the audit log); :meth:`recent_alerts` keeps
    the last ``keep_alerts`` too.

    In every method ``user_id`` is the user at the keyboard (rate limits and
    blocks are theirs), ``viewer`` is who the record is shown to (for a
    mediated session, the practitioner: ACC-6) and ``on_behalf_of`` the
    practitioner's user ID in a mediated session.
    """

    def __init__(
        self,
        settings: PolicySettings = DEFAULT_POLICY,
        *,
        clock: Clock,
        key: bytes | None = None,
        on_alert: Callable[[TrawlingAlert], None] | None = None,
        keep_alerts: int = 1000,
        max_users: int = 100_000,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.limiter = RateLimiter(settings, clock=clock)
        self.monitor = TrawlingMonitor(settings, max_users=max_users)
        self._key = key if key is not None else secrets.token_bytes(32)
        self._on_alert = on_alert
        self._alerts: deque[TrawlingAlert] = deque(maxlen=keep_alerts)
        self._blocked: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def search(
        self,
        criteria: SearchCriteria,
        run: SearchRunner,
        *,
        user_id: str,
        viewer: Viewer,
        on_behalf_of: str | None = None,
    ) -> tuple[AnyCandidate, ...]:
        """One search, guarded: block, detail, rate, run, cap, monitor.

        ``run(criteria, limit)`` queries the store for at most ``limit``
        live records matching ``criteria``, in a stable order; it is called
        with ``search_max_results + 1``, and again with a larger limit only
        when a postcode search matched shielded records it must leave out.
        Raises :class:`SearchBlocked`, :class:`SearchTooBroad`,
        :class:`SearchRateLimited` or :class:`RefineSearch` (each a failed
        search for the monitor).
        """
        now = self.clock.now()
        self._check_block(user_id, now)
        outcome: SearchOutcome | None = None  # an unexpected error is no outcome
        try:
            check_search_criteria(criteria, self.settings)
            self.limiter.acquire(user_id)
            records = self._run(criteria, run, viewer, now)
            shown = limit_results(records, self.settings, viewer=viewer, now=now, criteria=criteria)
            outcome = SearchOutcome.FOUND if shown else SearchOutcome.NO_MATCH
            return shown
        except SearchTooBroad:
            outcome = SearchOutcome.TOO_BROAD
            raise
        except SearchRateLimited:
            outcome = SearchOutcome.RATE_LIMITED
            raise
        except RefineSearch:
            outcome = SearchOutcome.REFINE
            raise
        finally:
            self._observe(
                AccessEvent(
                    user_id=user_id,
                    at=now,
                    action=AccessAction.SEARCH,
                    user_areas=frozenset({viewer.local_authority}),
                    on_behalf_of=on_behalf_of,
                    fingerprint=fingerprint(criteria, key=self._key, settings=self.settings),
                    outcome=outcome,
                )
            )

    def opened(
        self,
        *,
        user_id: str,
        viewer: Viewer,
        directory_id: DirectoryId | str,
        record_local_authority: str | None,
        reason: StatedReason | ReasonCode,
        on_behalf_of: str | None = None,
    ) -> tuple[TrawlingAlert, ...]:
        """Tell the monitor a record was opened (after ``require_reason``)."""
        code = reason.code if isinstance(reason, StatedReason) else reason
        return self._observe(
            AccessEvent(
                user_id=user_id,
                at=self.clock.now(),
                action=AccessAction.OPEN,
                user_areas=frozenset({viewer.local_authority}),
                on_behalf_of=on_behalf_of,
                directory_id=str(directory_id),
                record_local_authority=record_local_authority,
                reason=code,
            )
        )

    def followed_up(
        self, *, user_id: str, directory_id: DirectoryId | str, on_behalf_of: str | None = None
    ) -> tuple[TrawlingAlert, ...]:
        """Tell the monitor something was done about a record the user opened
        (a broker request, a shield request, a correction ...)."""
        return self._observe(
            AccessEvent(
                user_id=user_id,
                at=self.clock.now(),
                action=AccessAction.FOLLOW_UP,
                on_behalf_of=on_behalf_of,
                directory_id=str(directory_id),
            )
        )

    def blocked_until(self, user_id: str) -> datetime | None:
        """When ``user_id``'s searches may resume, if they are blocked now."""
        with self._lock:
            until = self._blocked.get(user_id)
            if until is not None and until <= self.clock.now():
                del self._blocked[user_id]
                return None
            return until

    def clear_block(self, user_id: str) -> None:
        """Let ``user_id`` search again (the management team's decision)."""
        with self._lock:
            self._blocked.pop(user_id, None)

    def recent_alerts(self) -> tuple[TrawlingAlert, ...]:
        """The most recent alerts, oldest first."""
        with self._lock:
            return tuple(self._alerts)

    def prune(self) -> None:
        """Drop state that no window needs any more (call now and then)."""
        now = self.clock.now()
        self.limiter.prune()
        self.monitor.prune(now)
        with self._lock:
            for user_id in [u for u, t in self._blocked.items() if t <= now]:
                del self._blocked[user_id]

    def _run(
        self, criteria: SearchCriteria, run: SearchRunner, viewer: Viewer, now: datetime
    ) -> Sequence[ChildRecord]:
        """Enough rows to decide: one more than can be shown, plus as many
        again as there are rows the viewer must not be shown."""
        most = self.settings.search_max_results
        limit = most + 1
        while True:
            records = run(criteria, limit)
            hidden = sum(_left_out(r, viewer, now, criteria) for r in records)
            if len(records) < limit or len(records) - hidden > most:
                return records
            limit = most + 1 + hidden

    def _check_block(self, user_id: str, now: datetime) -> None:
        until = self.blocked_until(user_id)
        if until is not None:
            raise SearchBlocked(retry_after=(until - now).total_seconds())

    def _observe(self, event: AccessEvent) -> tuple[TrawlingAlert, ...]:
        alerts = self.monitor.observe(event)
        if not alerts:
            return alerts
        minutes = self.settings.trawling_block_minutes
        with self._lock:
            self._alerts.extend(alerts)
            if minutes and any(a.pattern.blocks_searching for a in alerts):
                self._blocked[event.user_id] = event.at + timedelta(minutes=minutes)
        if self._on_alert is not None:
            for alert in alerts:
                self._on_alert(alert)
        return alerts

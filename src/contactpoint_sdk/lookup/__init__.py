"""Look up children in the directory from inside an MIS (ACC-1, ACC-3, ACC-4, ACC-6).

:class:`LookupClient` (blocking) and :class:`AsyncLookupClient` (awaited):
sign in with four credentials, search, open a record with a stated reason,
request a shield, ask for brokered contact, act for a practitioner, read the
archive. See ``docs/lookup-client.md``.
"""

from contactpoint_sdk.lookup.client import (
    ACT_FOR_PATH,
    CURRENT_SESSION_PATH,
    DEFAULT_TIMEOUT,
    SEARCH_PATH,
    SESSIONS_PATH,
    AsyncLookupClient,
    BrokerTicket,
    BrokerTicketStatus,
    LookupClient,
    LookupSession,
)

__all__ = [
    "ACT_FOR_PATH",
    "CURRENT_SESSION_PATH",
    "DEFAULT_TIMEOUT",
    "SEARCH_PATH",
    "SESSIONS_PATH",
    "AsyncLookupClient",
    "BrokerTicket",
    "BrokerTicketStatus",
    "LookupClient",
    "LookupSession",
]

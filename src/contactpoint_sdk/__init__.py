"""contactpoint-sdk: the integration kit for a national children's contact directory.

The public face is small; the modules underneath each have one job:

- :mod:`contactpoint_sdk.models` — the record model, identifiers, the wire codec
  and the typed views;
- :mod:`contactpoint_sdk.policy` — the directory's rules as pure functions;
- :mod:`contactpoint_sdk.supply` — the signed, encrypted supply envelope and keys;
- :mod:`contactpoint_sdk.errors` — one exception tree;
- :mod:`contactpoint_sdk.clock` — injectable clocks (RET-8).
"""

from contactpoint_sdk.clock import Clock, FixedClock, MovableClock, SystemClock
from contactpoint_sdk.errors import ContactPointError, PolicyRefusal, Problem, ValidationError

__version__ = "0.1.0.dev0"

__all__ = [
    "Clock",
    "ContactPointError",
    "FixedClock",
    "MovableClock",
    "PolicyRefusal",
    "Problem",
    "SystemClock",
    "ValidationError",
    "__version__",
]

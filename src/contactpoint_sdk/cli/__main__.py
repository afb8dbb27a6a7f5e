"""``python -m contactpoint_sdk.cli``: the ``contactpoint`` command."""

from __future__ import annotations

import sys

from contactpoint_sdk.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""What the benchmarks print about the machine they ran on."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU model named in /proc/cpuinfo (Linux), else what platform says."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "Processor") and value.strip():
            return value.strip()
    return platform.processor() or "unknown"


def describe() -> list[str]:
    """Date, platform, CPU model and count, and Python version, one per line."""
    return [
        f"date:     {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"platform: {platform.platform()} ({platform.machine()})",
        f"cpu:      {cpu_model()}; {os.cpu_count()} cores",
        f"python:   {sys.version.split()[0]} ({platform.python_implementation()})",
    ]


def print_machine() -> None:
    """Print :func:`describe`."""
    for line in describe():
        print(line)

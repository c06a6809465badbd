"""Provenance of a measurement: the code's commit and the versions that affect the numbers."""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import metadata

CODE_PACKAGES = ("envs", "agents", "benchmarks", "dfplan")
"""The project's packages; local edits to one that this process imported mark it ``-dirty``."""


def git_commit() -> str:
    """``git rev-parse HEAD``, + ``-dirty`` if a project package this process imported has local edits (stdlib only: any layer may call it)."""
    imported = [package for package in CODE_PACKAGES if package in sys.modules]
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", *imported],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def command_line(module: str, argv: list[str] | None = None) -> str:
    """The command that ran, ``python -m <module> <arguments>``: ``argv``, else this process's own."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])


def stamp(began: float, command: str, wall_key: str = "wall_s") -> dict[str, object]:
    """Provenance of one measured row: wall seconds since ``began`` (``time.perf_counter()``, under
    ``wall_key``), the commit (:func:`git_commit`), the UTC date and the command."""
    return {wall_key: round(time.perf_counter() - began, 1), "commit": git_commit(),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command}


def versions() -> dict[str, str]:
    """Versions of Python and of the installed packages that affect the numbers."""
    found = {"python": platform.python_version()}
    for package in ("numpy", "mujoco", "gymnasium", "gymnasium-robotics", "minari", "torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found

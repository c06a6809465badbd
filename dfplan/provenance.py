"""Provenance of a measurement: the code's commit and the versions that affect the numbers."""

from __future__ import annotations

import platform
import subprocess
import sys
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


def versions() -> dict[str, str]:
    """Versions of Python and of the installed packages that affect the numbers."""
    found = {"python": platform.python_version()}
    for package in ("numpy", "mujoco", "gymnasium", "gymnasium-robotics", "minari", "torch"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found

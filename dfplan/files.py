"""Atomic file writes: the one place a file is written through a temp file and a rename;
and files of JSON rows (results, motion, video scores), read and upserted in one way.

Readers see the old file or the complete new one, never a partial write; a failed write
leaves the target untouched and removes the temp file. No heavy imports: ``envs`` and the
report use it too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` a temp file in ``path``'s folder, flush it to disk, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")  # the suffix kept: writers infer formats from it
    try:
        write(tmp)
        with open(tmp, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def atomic_savefig(fig: Any, path: str | os.PathLike, **options: Any) -> Path:
    """``fig.savefig`` to ``path`` atomically (the format from ``path``'s suffix)."""
    path = Path(path)
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **options))


def read_json_rows(path: str | os.PathLike, required: tuple[str, ...], what: str) -> list[dict[str, Any]]:
    """The rows of a JSON file holding a list of objects (a missing file is ``[]``).

    Every row must have the ``required`` keys. ``ValueError`` names the file and ``what`` it
    should be when it is not JSON or not such a list (the file is left as it is).
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        rows = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a {what} (not valid JSON: {err}); fix or move it, it will not be overwritten") from err
    if not isinstance(rows, list) or not all(isinstance(row, dict) and set(required) <= row.keys() for row in rows):
        raise ValueError(f"{path} is not a {what} (expected a list of rows with {', '.join(required)})")
    return rows


def upsert_json_rows(rows: list[dict[str, Any]], path: str | os.PathLike, key: tuple[str, ...], what: str,
                     sort: bool = False) -> list[dict[str, Any]]:
    """Add ``rows`` to the file, replacing the rows with the same ``key`` values; written atomically,
    one row per line (``sort``: ordered by key). Returns all rows."""
    kept = [row for row in read_json_rows(path, key, what)
            if tuple(row[k] for k in key) not in {tuple(new[k] for k in key) for new in rows}]
    merged = kept + rows
    if sort:
        merged.sort(key=lambda row: tuple(str(row[k]) for k in key))
    atomic_write_text(path, "[\n" + ",\n".join(json.dumps(row) for row in merged) + "\n]\n")
    return merged

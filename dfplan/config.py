"""Frozen-dataclass configs as plain data, and the command line generated from them.

``to_dict`` / ``from_dict`` turn nested config dataclasses into JSON-able dicts and back
(checkpoints store configs this way, never pickled code). ``add_arguments`` /
``from_arguments`` make one ``--section.field`` flag per field, typed and documented
from the dataclass itself, so the CLI cannot drift from the configs.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """A nested dataclass as plain data."""
    return dataclasses.asdict(config)


def _field_types(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Rebuild ``cls`` from plain data; unknown keys raise ``ValueError`` naming them."""
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__} config must be a dict, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {', '.join(sorted(unknown))}; valid: {', '.join(sorted(names))}")
    types = _field_types(cls)
    kwargs = {}
    for key, value in data.items():
        kind = types[key]
        kwargs[key] = from_dict(kind, value) if dataclasses.is_dataclass(kind) else value
    return cls(**kwargs)


def merged(config: T, overrides: Mapping[str, Any]) -> T:
    """``config`` with ``overrides`` applied field by field, nested configs partially: ``{"sampler":
    {"guidance_scale": 0.7}}`` changes that one field and keeps the stored sampler's others. A
    dataclass value replaces its field whole. Unknown names raise ``ValueError``."""

    def merge(base: dict[str, Any], changes: Mapping[str, Any], where: str) -> None:
        for key, value in changes.items():
            if key not in base:
                nested = [name for name, inner in base.items() if isinstance(inner, dict) and key in inner]
                hint = f" ({key} is a field of {nested[0]}: pass {nested[0]}={{{key!r}: ...}})" if nested else ""
                raise ValueError(f"unknown field {where}{key}{hint}; valid: {', '.join(sorted(base))}")
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                base[key] = to_dict(value)
            elif isinstance(base[key], dict) and isinstance(value, Mapping):
                merge(base[key], value, f"{where}{key}.")
            else:
                base[key] = value

    data = to_dict(config)
    merge(data, overrides, "")
    return from_dict(type(config), data)


def _field_docs(cls: type) -> dict[str, str]:
    """Trailing ``# comment`` of each field in the class source: the field's one-line doc."""
    docs: dict[str, str] = {}
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return docs
    for line in lines:
        stripped = line.strip()
        if ":" in stripped and "#" in stripped and not stripped.startswith(("#", "def ", "class ")):
            name = stripped.split(":", 1)[0].strip()
            if name.isidentifier():
                docs[name] = stripped.split("#", 1)[1].strip()
    return docs


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean, got {text!r}")


def _parse_optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def add_arguments(parser: argparse.ArgumentParser, cls: type, prefix: str, exclude: tuple[str, ...] = ()) -> None:
    """Add ``--prefix.field`` for every (nested) field of ``cls``; defaults stay unset (None).

    ``exclude`` names full keys (e.g. ``model.layout.obs_dim``) that get no flag.
    """
    types, docs = _field_types(cls), _field_docs(cls)
    for field in dataclasses.fields(cls):
        key = f"{prefix}.{field.name}" if prefix else field.name
        if key in exclude:
            continue
        kind, flag = types[field.name], f"--{key}"
        if dataclasses.is_dataclass(kind):
            add_arguments(parser, kind, key, exclude)
            continue
        default = field.default if field.default is not dataclasses.MISSING else None
        parse = {bool: _parse_bool, int: int, float: float, str: str}.get(kind)
        if parse is None and kind == (float | None):
            parse = _parse_optional_float
        if parse is None:
            raise TypeError(f"no command-line parser for {cls.__name__}.{field.name}: {kind}")
        help_text = f"{docs.get(field.name, '')} (default: {default})".strip().replace("%", "%%")
        parser.add_argument(flag, type=parse, default=None, help=help_text, metavar=kind.__name__.upper() if isinstance(kind, type) else "X")


def from_arguments(cls: type[T], args: argparse.Namespace, prefix: str, base: T | None = None) -> T:
    """Build ``cls`` from parsed flags, starting from ``base`` (or the defaults)."""
    types = _field_types(cls)
    values = vars(args)
    changes: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        key = f"{prefix}.{field.name}" if prefix else field.name
        kind = types[field.name]
        current = getattr(base, field.name) if base is not None else None
        if dataclasses.is_dataclass(kind):
            changes[field.name] = from_arguments(kind, args, key, current)
        elif values.get(key) is not None:
            changes[field.name] = values[key]
    if base is not None:
        return dataclasses.replace(base, **changes)
    return cls(**changes)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (a count, a batch, a frame rate)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def comma_list(text: str) -> list[str]:
    """``"a, b,,c"`` as ``["a", "b", "c"]``: the items of a comma-separated flag, blanks dropped."""
    return [item.strip() for item in text.split(",") if item.strip()]


def comma_floats(text: str, name: str):
    """``"1,2.5"`` as a float64 array; ``ValueError`` naming flag ``--name`` otherwise."""
    import numpy as np

    try:
        return np.array([float(v) for v in text.split(",")], dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"--{name} must be comma-separated numbers, got {text!r}") from err


def run_command(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command (``args.run``); bad input (``ValueError``, a
    missing file) prints ``error: ...`` and returns 2 instead of a traceback. The command sees
    its own arguments as ``args.argv`` (what a results row records)."""
    import sys

    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.run(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

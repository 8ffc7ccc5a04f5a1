"""Printing: one JSON document with --json, readable text otherwise."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO


@dataclass(frozen=True)
class Result:
    """What a read command found: the JSON document and the same thing as text."""

    document: Any
    text: str


def emit(result: Result, *, as_json: bool, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(json.dumps(result.document, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(result.text.rstrip("\n") + "\n")
    out.flush()


def say(line: str) -> None:
    """A line for the person at the terminal (progress, warnings), on standard error."""
    print(line, file=sys.stderr, flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Sequence[int] = ()) -> str:
    """Columns padded to their widest cell; the columns in `right` are right-aligned (numbers)."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, Any]], indent: str = "") -> str:
    """`label  value` lines with the values aligned."""
    width = max((len(label) for label, _ in pairs), default=0)
    return "\n".join(f"{indent}{label.ljust(width)}  {'-' if value in (None, '') else value}" for label, value in pairs)


def short_time(value: str | None) -> str:
    """An ISO time without its fraction of a second, for tables; '-' when absent."""
    if not value:
        return "-"
    head, dot, tail = value.partition(".")
    if not dot:
        return value
    offset = next((i for i, ch in enumerate(tail) if ch in "+-Z"), len(tail))
    return head + tail[offset:]

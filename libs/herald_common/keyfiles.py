"""Secrets kept in the data dir: read when there, else generated once and kept there (mode 0600).

The admin token, the internal token and the webhook secret all follow the same rule: the
variable when it is set, else `$HERALD_DATA_DIR/<name>`, made on first use. Several processes
starting at once (`herald up` starts every service together) must agree on one value, so a new
file is written in full under a private name and then linked into place: linking fails when the
file already exists, and the loser reads the winner's complete value, never a half-written one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def new_token() -> str:
    """A random token of 32 bytes, URL-safe (it travels in an `authorization` header)."""
    return secrets.token_urlsafe(32)


def kept_secret(
    path: Path,
    *,
    generate: Callable[[], str] = new_token,
    check: Callable[[str], None] | None = None,
) -> tuple[str, bool]:
    """(value, whether it was generated now) of the secret kept in path.

    `check` raises ValueError for a kept value that is unusable; the message names the file and
    says to remove it. An empty file counts as missing and is replaced.
    """
    kept = _read(path, check)
    if kept:
        return kept, False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    private = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(value + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.chmod(private, 0o600)
        try:
            os.link(private, path)
        except FileExistsError:
            kept = _read(path, check)
            if kept:
                return kept, False
            os.replace(private, path)  # an empty file was in the way: ours takes its place
        return value, True
    finally:
        private.unlink(missing_ok=True)


def _read(path: Path, check: Callable[[str], None] | None) -> str:
    try:
        kept = path.read_text().strip()
    except FileNotFoundError:
        return ""
    if kept and check is not None:
        try:
            check(kept)
        except ValueError as error:
            raise ValueError(f"{path} {error}; remove it to have a new one made") from None
    return kept

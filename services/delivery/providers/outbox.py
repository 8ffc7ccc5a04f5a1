"""The local outbox: a channel with no provider configured writes each message as one JSON line
to ``$HERALD_DATA_DIR/outbox.jsonl``, so a laptop run shows what would have been sent."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import orjson

from .base import Address, Attempt, Message

FILE_NAME = "outbox.jsonl"


class OutboxProvider:
    """Always accepted: each line is appended in one write to a file opened with O_APPEND, so
    concurrent writers (even other processes) never interleave lines."""

    name = "outbox"

    def __init__(self, data_dir: Path | str) -> None:
        self.path = Path(data_dir) / FILE_NAME

    def line(self, message: Message, address: Address) -> bytes:
        record = {
            "send_id": message.send_id,
            "channel": message.channel,
            "address": {"kind": address.kind, "value": address.value},
            "subject": message.subject,
            "body": message.body,
            "html": message.html,
            "title": message.title,
            "data": message.data,
            "url": message.url,
            "written_at": datetime.now(UTC).isoformat(),
        }
        return orjson.dumps(record, default=str) + b"\n"

    async def send(self, message: Message, address: Address) -> Attempt:
        data = self.line(message, address)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                written = os.write(fd, data)
            finally:
                os.close(fd)
        except OSError as error:
            return Attempt("retry", f"outbox {self.path}: {error.strerror or error}")
        if written != len(data):  # a full disk: the line is cut, say so rather than claim it
            return Attempt("retry", f"outbox write cut short ({written} of {len(data)} bytes)")
        return Attempt("accepted", str(self.path))

    async def close(self) -> None:
        return None

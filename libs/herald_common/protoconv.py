"""Small conversions between protobuf messages and Python values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from google.protobuf.timestamp_pb2 import Timestamp

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(timestamp: Timestamp, default: datetime | None = None) -> datetime | None:
    if timestamp.seconds == 0 and timestamp.nanos == 0:
        return default
    return datetime.fromtimestamp(timestamp.seconds + timestamp.nanos / 1e9, tz=UTC)


def set_timestamp(target: Timestamp, value: datetime | None) -> None:
    if value is None:
        return
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    micros = round((value - _EPOCH).total_seconds() * 1_000_000)
    target.seconds, rest = divmod(micros, 1_000_000)
    target.nanos = rest * 1000


def timestamp(value: datetime | None) -> Timestamp | None:
    if value is None:
        return None
    message = Timestamp()
    set_timestamp(message, value)
    return message


def json_object(raw: bytes, field: str = "") -> dict[str, Any]:
    """Parses a JSON object field; empty bytes are an empty object."""
    if not raw:
        return {}
    value = orjson.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"{field or 'value'}: expected a JSON object")
    return value


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value)

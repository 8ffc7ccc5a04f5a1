"""What the HTTP providers share: Retry-After parsing and status classification."""

from __future__ import annotations

import email.utils
import time

import httpx

from .base import Attempt


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """A Retry-After header (delay-seconds or an HTTP date) as seconds from now; None if absent
    or unreadable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def is_retryable_status(status: int) -> bool:
    """5xx, 408 (request timeout) and 429 (too many requests) are worth another attempt."""
    return status >= 500 or status in (408, 429)


def classify_status(response: httpx.Response, reason: str) -> Attempt:
    """retry for 5xx/408/429 (with Retry-After), else permanent with the provider's reason."""
    detail = f"{response.status_code} {reason}".strip()
    if is_retryable_status(response.status_code):
        return Attempt("retry", detail, retry_after_seconds(response.headers.get("retry-after")))
    return Attempt("permanent", detail)


def transport_failure(error: Exception) -> Attempt:
    """A timeout or a connection error: the request may not have arrived; try again later."""
    kind = "timeout" if isinstance(error, httpx.TimeoutException) else "connection error"
    return Attempt("retry", f"{kind}: {type(error).__name__}: {error}".rstrip(": "))


def json_or_none(response: httpx.Response) -> object:
    try:
        return response.json()
    except ValueError:
        return None

"""What delivery's core and the providers agree on.

One provider call sends one message to one address and answers an Attempt:

- ``accepted``: the provider took the message (``detail`` is its id, e.g. a Twilio SID);
- ``retry``: a timeout, a connection error, a 5xx or a 429; try again later, no sooner than
  ``retry_after`` seconds when the provider said so (Retry-After);
- ``permanent``: the provider refused for good (a bad address, a 4xx); ``detail`` says why;
- ``gone``: the push token no longer exists (APNs 410, FCM UNREGISTERED); delivery fails that
  device and removes the token from the user's devices.

Providers never retry by themselves: delivery's core keeps the attempt count durably and
reschedules with ``backoff_seconds``, so a restart neither loses nor repeats a retry.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Outcome = Literal["accepted", "retry", "permanent", "gone"]

CHANNELS = ("email", "sms", "voice", "push", "webhook")
# Which address kinds each channel sends to.
CHANNEL_ADDRESS_KINDS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "sms": ("phone",),
    "voice": ("phone",),
    "push": ("apns", "fcm"),
    "webhook": ("url",),
}


@dataclass(frozen=True)
class Message:
    """A rendered message, as campaign's Confirm answered it."""

    send_id: str  # the idempotency key; providers that support one pass it on
    channel: str
    subject: str = ""
    body: str = ""
    html: str = ""
    title: str = ""
    data: Any = None  # push data (an object of strings) or the webhook's JSON body
    url: str = ""  # webhook target


@dataclass(frozen=True)
class Address:
    kind: str  # email, phone, apns, fcm, url
    value: str


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    detail: str = ""
    retry_after: float | None = None

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"


class Provider(Protocol):
    """Sends one channel's messages to one kind of address."""

    name: str  # "smtp", "twilio", "apns", "fcm", "webhook", "outbox"

    async def send(self, message: Message, address: Address) -> Attempt: ...

    async def close(self) -> None: ...


@dataclass
class ProviderSet:
    """Routes (channel, address kind) to the provider configured for it."""

    routes: dict[tuple[str, str], Provider] = field(default_factory=dict)
    fallback: Provider | None = None  # the local outbox

    def for_address(self, channel: str, kind: str) -> Provider:
        provider = self.routes.get((channel, kind)) or self.fallback
        if provider is None:
            raise LookupError(f"no provider for {channel} to {kind}")
        return provider

    async def close(self) -> None:
        seen: set[int] = set()
        for provider in [*self.routes.values(), *([self.fallback] if self.fallback else [])]:
            if id(provider) not in seen:
                seen.add(id(provider))
                await provider.close()


def backoff_seconds(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float = 1.0,
    cap: float = 300.0,
    rng: random.Random | None = None,
) -> float:
    """Delay before retry number ``attempt`` (1 = the first retry): exponential with full
    jitter, never below the provider's Retry-After."""
    rng = rng or random
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    delay = rng.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay

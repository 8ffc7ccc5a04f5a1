"""Pure rules of identity: the Segment trait -> attribute mapping and profile merging.

Imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from herald_common.errors import FieldError

DEVICE_KINDS = {"ios": "apns", "android": "fcm"}
FIRST_NAME_KEYS = ("firstName", "first_name")
LAST_NAME_KEYS = ("lastName", "last_name")
# Traits that the mapping consumes; every other trait is kept under its own name.
MAPPED_TRAITS = {"name", "email", "phone", "phone_number", "timezone", *FIRST_NAME_KEYS, *LAST_NAME_KEYS}


@functools.cache
def iana_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@dataclass(frozen=True)
class DeviceToken:
    kind: str  # "apns" or "fcm"
    token: str


@dataclass
class TraitMapping:
    """What one identify call changes: attributes to set (None removes one), devices, refusals."""

    attributes: dict[str, Any] = field(default_factory=dict)
    devices: list[DeviceToken] = field(default_factory=list)
    rejected: list[FieldError] = field(default_factory=list)


def split_name(name: str) -> tuple[str | None, str | None]:
    """'Ada King Lovelace' -> ('Ada', 'King Lovelace'): the first word, then the rest."""
    words = name.split()
    if not words:
        return None, None
    return words[0], (" ".join(words[1:]) or None)


def normalise_phone(value: Any, default_region: str) -> str:
    """A phone number in E.164, read with default_region when it has no country code."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise ValueError(f"expected a phone number as text, got {type(value).__name__}")
    text = str(value).strip()
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as error:
        raise ValueError(f"{text!r} is not a phone number ({error._msg})") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError(f"{text!r} is not a possible phone number for its country")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected an email address as text, got {type(value).__name__}")
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise ValueError(f"{value!r} is not an email address: {error}") from None


def normalise_timezone(value: Any) -> str:
    if not isinstance(value, str) or value not in iana_zone_names():
        raise ValueError(f"{value!r} is not an IANA time zone name (like 'Europe/Berlin')")
    return value


def map_traits(traits: dict[str, Any], context: dict[str, Any], *, default_region: str) -> TraitMapping:
    """Segment's identify traits and context -> herald attributes and devices.

    A field that fails validation is refused alone, with its reason; the rest is kept.
    """
    result = TraitMapping()
    attributes = result.attributes

    for key, value in traits.items():
        if key not in MAPPED_TRAITS:
            attributes[key] = value

    name = traits.get("name")
    if isinstance(name, str):
        first, last = split_name(name)
        if first is not None:
            attributes["first_name"] = first
        if last is not None:
            attributes["last_name"] = last
    elif name is not None:
        result.rejected.append(FieldError("traits.name", f"expected text, got {type(name).__name__}"))
    for keys, attribute in ((FIRST_NAME_KEYS, "first_name"), (LAST_NAME_KEYS, "last_name")):
        for key in keys:
            if key in traits:
                attributes[attribute] = traits[key]
                break

    if "email" in traits:
        value = traits["email"]
        if value is None:
            attributes["email"] = None
        else:
            try:
                attributes["email"] = normalise_email(value)
            except ValueError as error:
                result.rejected.append(FieldError("traits.email", str(error)))

    for key in ("phone", "phone_number"):
        if key in traits:
            value = traits[key]
            if value is None:
                attributes["phone_number"] = None
                continue
            try:
                attributes["phone_number"] = normalise_phone(value, default_region)
            except ValueError as error:
                result.rejected.append(FieldError(f"traits.{key}", str(error)))

    if "timezone" in traits:
        _map_timezone(traits["timezone"], "traits.timezone", result)
    elif isinstance(context, dict) and context.get("timezone") is not None:
        _map_timezone(context["timezone"], "context.timezone", result)

    device = context.get("device") if isinstance(context, dict) else None
    if isinstance(device, dict) and device.get("token"):
        token, kind = device.get("token"), str(device.get("type") or "").lower()
        if not isinstance(token, str):
            result.rejected.append(FieldError("context.device.token", "expected text"))
        elif kind not in DEVICE_KINDS:
            result.rejected.append(
                FieldError("context.device.type", f"{device.get('type')!r} is not ios or android; token not kept")
            )
        else:
            result.devices.append(DeviceToken(DEVICE_KINDS[kind], token))
    return result


def _map_timezone(value: Any, field_name: str, result: TraitMapping) -> None:
    if value is None:
        result.attributes["timezone"] = None
        return
    try:
        result.attributes["timezone"] = normalise_timezone(value)
    except ValueError as error:
        result.rejected.append(FieldError(field_name, str(error)))


def apply_attributes(
    attributes: dict[str, Any],
    attribute_times: dict[str, str],
    changes: dict[str, Any],
    at: datetime,
) -> bool:
    """Sets each changed attribute unless a newer value is already there (identify calls
    arrive out of order). None removes an attribute. Returns whether anything changed."""
    stamp = time_stamp(at)
    changed = False
    for key, value in changes.items():
        known = attribute_times.get(key)
        if known is not None and known > stamp:
            continue
        if value is None:
            if key in attributes:
                del attributes[key]
                changed = True
        elif attributes.get(key, _MISSING) != value:
            attributes[key] = value
            changed = True
        attribute_times[key] = stamp
    return changed


def merge_attributes(
    into: dict[str, Any],
    into_times: dict[str, str],
    other: dict[str, Any],
    other_times: dict[str, str],
) -> None:
    """Merges another profile's attributes in place: per attribute, the newer value wins."""
    for key in set(other) | set(other_times):
        theirs, ours = other_times.get(key, ""), into_times.get(key, "")
        if key not in into_times and key not in into or theirs > ours:
            if key in other:
                into[key] = other[key]
            else:
                into.pop(key, None)
            into_times[key] = theirs or ours


_MISSING = object()


def time_stamp(at: datetime) -> str:
    """A fixed-width UTC form, so attribute times compare as text."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

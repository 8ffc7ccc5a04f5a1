"""Pure rules of identity: the Segment trait -> attribute mapping and profile merging.

Imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable
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
_EXPLICIT_NAME_KEYS = frozenset((*FIRST_NAME_KEYS, *LAST_NAME_KEYS))


# In the database but not places: "localtime" is whatever machine reads it, "Factory" means
# "no zone set". Keeping either would make a user's local time a guess.
NOT_PLACES = frozenset({"localtime", "Factory"})


@functools.cache
def iana_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - NOT_PLACES


@dataclass(frozen=True)
class DeviceToken:
    kind: str  # "apns" or "fcm"
    token: str


@dataclass(slots=True)
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
    return _normalise_phone_text(str(value).strip(), default_region)


# The same user sends the same traits again and again; parsing them is the costly part of
# an identify, so answers (and refusals) are remembered.
@functools.lru_cache(maxsize=65_536)
def _normalise_phone_text(text: str, default_region: str) -> str:
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
    return _normalise_email_text(value)


@functools.lru_cache(maxsize=65_536)
def _normalise_email_text(value: str) -> str:
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
    if not _EXPLICIT_NAME_KEYS.isdisjoint(traits):
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
    arrive out of order). None removes an attribute. Returns whether anything changed,
    including only an attribute's time: a value sent again is the newest one, and an older
    call that arrives later must not overwrite it."""
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
        if known != stamp:
            attribute_times[key] = stamp
            changed = True
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
    if at.tzinfo is not UTC:  # calls arrive in UTC; converting anyway cost a tenth of an identify
        at = at.astimezone(UTC)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


# ---- profiles and how ids join them ------------------------------------------------------


@dataclass(slots=True)
class Profile:
    """A profile as a batch of calls sees it. created_at and updated_at are None on a profile
    loaded for a batch: the batch path sets them (to the batch's time) but never reads them,
    so the store does not read them either."""

    id: str
    workspace_id: str
    user_id: str | None
    attributes: dict[str, Any]
    attribute_times: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None
    merged_into: str | None = None
    new: bool = False
    changed: bool = False


@dataclass(frozen=True)
class Merge:
    source: str
    target: str


@dataclass
class ProfileBook:
    """The profiles one request touches, loaded up front, with every change it makes.

    Pure: the store loads a book, the rules below link ids to profiles (creating, joining and
    merging them), and the store writes back what changed. `by_alias` maps anonymous ids and
    former user ids to profiles.
    """

    workspace_id: str
    now: datetime
    new_id: Callable[[], str]
    profiles: dict[str, Profile] = field(default_factory=dict)
    by_user: dict[str, str] = field(default_factory=dict)
    by_alias: dict[str, str] = field(default_factory=dict)
    new_aliases: dict[str, str] = field(default_factory=dict)  # alias -> profile id
    devices: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, token) -> profile id
    memberships: set[tuple[str, str]] = field(default_factory=set)  # (group id, profile id)
    merges: list[Merge] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def add_loaded(self, profile: Profile) -> None:
        self.profiles[profile.id] = profile
        if profile.user_id:
            self.by_user[profile.user_id] = profile.id

    def canonical(self, profile_id: str) -> str:
        profile = self.profiles.get(profile_id)
        while profile is not None and profile.merged_into:
            profile_id = profile.merged_into
            profile = self.profiles.get(profile_id)
        return profile_id

    def _by_user_id(self, user_id: str) -> Profile | None:
        profile_id = self.by_user.get(user_id) or self.by_alias.get(user_id)
        return self.profiles.get(self.canonical(profile_id)) if profile_id else None

    def _by_alias(self, alias: str) -> Profile | None:
        profile_id = self.by_alias.get(alias)
        return self.profiles.get(self.canonical(profile_id)) if profile_id else None

    def create(self, user_id: str | None) -> Profile:
        profile = Profile(
            id=self.new_id(), workspace_id=self.workspace_id, user_id=user_id, attributes={}, attribute_times={},
            created_at=self.now, updated_at=self.now, new=True,
        )
        self.add_loaded(profile)
        self.created.append(profile.id)
        return profile

    def add_alias(self, alias: str, profile: Profile) -> None:
        self.by_alias[alias] = profile.id
        self.new_aliases[alias] = profile.id

    def merge(self, source: Profile, target: Profile) -> None:
        """source joins target: newer attribute values win, ids and devices are unioned, and
        source stays as a pointer so its events remain reachable under target."""
        merge_attributes(target.attributes, target.attribute_times, source.attributes, source.attribute_times)
        target.updated_at = self.now
        target.changed = True
        former_user_id = source.user_id
        if former_user_id:
            self.by_user.pop(former_user_id, None)
            self.add_alias(former_user_id, target)
        source.user_id = None
        source.merged_into = target.id
        source.attributes, source.attribute_times = {}, {}
        source.updated_at = self.now
        source.changed = True
        self.merges.append(Merge(source.id, target.id))

    def set_user_id(self, profile: Profile, user_id: str) -> None:
        if profile.user_id and profile.user_id != user_id:
            self.by_user.pop(profile.user_id, None)
            self.add_alias(profile.user_id, profile)
        profile.user_id = user_id
        profile.updated_at = self.now
        profile.changed = True
        self.by_user[user_id] = profile.id

    def link(self, user_id: str | None, anonymous_id: str | None, *, create: bool = True) -> Profile | None:
        """The profile these ids name; an anonymous profile joins its user."""
        by_user = self._by_user_id(user_id) if user_id else None
        by_anonymous = self._by_alias(anonymous_id) if anonymous_id else None
        if by_user is not None:
            if anonymous_id and by_anonymous is None:
                self.add_alias(anonymous_id, by_user)
            elif by_anonymous is not None and by_anonymous.id != by_user.id and by_anonymous.user_id is None:
                self.merge(by_anonymous, by_user)
            # An anonymous id already joined to another known user stays there: two people
            # shared a device, and two known users are never merged on a guess.
            return by_user
        if by_anonymous is not None:
            if not user_id:
                return by_anonymous
            if by_anonymous.user_id is None:
                self.set_user_id(by_anonymous, user_id)
                return by_anonymous
            return self.create(user_id) if create else None
        if not create:
            return None
        profile = self.create(user_id or None)
        if anonymous_id:
            self.add_alias(anonymous_id, profile)
        return profile

    def alias(self, previous_id: str, user_id: str) -> Profile:
        """Segment's alias: previous_id (anonymous or a former user id) becomes user_id."""
        previous = self._by_user_id(previous_id) or self._by_alias(previous_id)
        current = self._by_user_id(user_id)
        if previous is not None and current is not None:
            if previous.id != current.id:
                self.merge(previous, current)
            return current
        if previous is not None:
            self.set_user_id(previous, user_id)
            return previous
        if current is None:
            current = self.create(user_id)
        self.add_alias(previous_id, current)
        return current

    def keep_device(self, kind: str, token: str, profile: Profile) -> None:
        """A token is kept once and moves to the user who sent it last."""
        self.devices[(kind, token)] = profile.id

"""A campaign file (YAML) -> a checked CampaignSpec, or every error in it, each by its path.

A file is refused whole: nothing of a bad file is kept, and the refusal lists every problem
(`filters.any_of[0].all_of[1].op: unknown operator 'gtt' (expected one of eq, neq, ...)`),
templates included, so a template that does not parse is an apply-time error.

YAML is read with YAML 1.2's core types: only true/false are booleans (a country code `NO`
stays text), `10:00` is text rather than a base-60 number, dates stay text, and a key given
twice is an error instead of a silent overwrite.

Pure: imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import yaml
from herald_common.errors import FieldError, InvalidArgument
from herald_services.campaign.domain import (
    CHANNELS,
    EVERY_TIME,
    MINUTES_PER_DAY,
    WEEKDAYS,
    CampaignSpec,
    CancelRule,
    DeliveryWindow,
    EmailMessage,
    Goal,
    JsonTemplate,
    Message,
    PushMessage,
    Reentry,
    SmsMessage,
    TemplateArray,
    TemplateObject,
    Trigger,
    Variant,
    VoiceMessage,
    WebhookMessage,
)
from herald_services.campaign.filters import (
    LIST_OPERATORS,
    OPERATORS,
    SOURCES,
    TIME_OPERATORS,
    VALUELESS_OPERATORS,
    Condition,
    FilterGroup,
    Filters,
)
from herald_services.campaign.templates import (
    MessageTemplate,
    reads_event_name,
    TemplateInvalid,
    compile_template,
)
from herald_services.campaign.times import parse_duration, parse_time_reference

MAX_FILE_BYTES = 256 * 1024
MAX_NAME_LENGTH = 200
FILE = "(file)"

MESSAGE_FIELDS: dict[str, dict[str, bool]] = {  # channel -> field -> required
    "email": {"subject": True, "body": True, "html": False},
    "sms": {"body": True},
    "voice": {"text": True},
    "push": {"title": True, "body": True, "data": False},
    "webhook": {"url": True, "body": True},
}
_CAMPAIGN_FIELDS = {
    "name": True, "trigger": True, "filters": False, "delay": False, "delivery_window": False,
    "message": False, "goals": False, "cancel_if": False, "reentry": False, "transactional": False,
    "on_cap": False, "holdout": False, "variants": False,
}
MAX_HOLDOUT_PERCENT = 50.0
MIN_VARIANTS, MAX_VARIANTS = 2, 8
_VARIANT_FIELDS = {"name": True, "weight": True, "message": True}
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
ON_CAP = ("suppress", "defer")
_CONDITION_FIELDS = {"source": True, "property": True, "op": True, "value": False}
_WHERE_FIELDS = {"property": True, "op": True, "value": False}
_GOAL_FIELDS = {"name": True, "primary": False, "event": True, "where": False, "match_trigger": False, "within": True}
_CANCEL_FIELDS = {"event": True, "where": False, "match_trigger": False}
_WINDOW_FIELDS = {"days": True, "start": True, "end": True, "fallback_timezone": False}
_TIME_OF_DAY = re.compile(r"(\d{1,2}):(\d{2})")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIXED_URL_START = re.compile(r"https?://[^/{}\s]+(?:[/?#]|$)")
_MESSAGE_FIELD_NAMES = frozenset(name for fields in MESSAGE_FIELDS.values() for name in fields)
_INVALID: Any = object()


class CampaignFileInvalid(InvalidArgument):
    """A campaign file refused whole; `errors` lists every problem by its path."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(None, errors)


EVENT_NAME_WARNING = (
    "reads event.name, which is the trigger event's 'name' property as sent (Segment's "
    "\"Product Added\" puts the product's name there), not the event's own name; for the event's "
    "name write {{ event_name }}, and to read the property without this warning write {{ event['name'] }}"
)


@dataclasses.dataclass(frozen=True)
class CheckedCampaign:
    """A file that applies, with what it should still fix (`warnings`, each by its path)."""

    spec: CampaignSpec
    warnings: tuple[FieldError, ...] = ()


def parse_campaign(text: str | bytes) -> CampaignSpec:
    """Reads and checks a campaign file. Raises CampaignFileInvalid listing every error."""
    return check_campaign(text).spec


def check_campaign(text: str | bytes) -> CheckedCampaign:
    """parse_campaign, plus the warnings an apply shows: things that apply but may not mean
    what the file's author thinks (a template reading `event.name`)."""
    document = load_yaml(text)
    reader = _Reader()
    spec = reader.campaign(document)
    if reader.errors:
        raise CampaignFileInvalid(reader.errors)
    return CheckedCampaign(spec, tuple(reader.warnings))


# ---- YAML ---------------------------------------------------------------------------------


class _CampaignLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core scalars and duplicate keys refused."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, (str, int, float, bool)):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} appears twice in one mapping", key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)

    def construct_core_int(self, node: yaml.ScalarNode) -> int:
        text = self.construct_scalar(node)
        if text.startswith("0x"):
            return int(text[2:], 16)
        if text.startswith("0o"):
            return int(text[2:], 8)
        return int(text, 10)  # YAML 1.1 would read 012 as octal and 1:30 as base 60

    def construct_core_bool(self, node: yaml.ScalarNode) -> bool:
        return self.construct_scalar(node).lower() == "true"


_REPLACED_TAGS = {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}
_CampaignLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag not in _REPLACED_TAGS]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CampaignLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"),
)
_CampaignLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789"),
)
_CampaignLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+.0123456789"),
)
_CampaignLoader.add_constructor("tag:yaml.org,2002:int", _CampaignLoader.construct_core_int)
_CampaignLoader.add_constructor("tag:yaml.org,2002:bool", _CampaignLoader.construct_core_bool)


def load_yaml(text: str | bytes) -> Any:
    """The YAML document, or CampaignFileInvalid with one `(file)` error saying where it broke."""
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_FILE_BYTES:
        raise CampaignFileInvalid([FieldError(FILE, f"larger than {MAX_FILE_BYTES // 1024} KB")])
    try:
        return yaml.load(text, Loader=_CampaignLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        raise CampaignFileInvalid([FieldError(FILE, f"not valid YAML: {error.problem or error.context}{where}")]) from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise CampaignFileInvalid([FieldError(FILE, f"not valid YAML: {error}")]) from None


# ---- paths and type names -----------------------------------------------------------------


def _child(path: str, key: Any) -> str:
    key = str(key)
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool))


@functools.cache
def _iana_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


# ---- the reader ---------------------------------------------------------------------------


class _Reader:
    """Walks a document, collecting every error; each method returns _INVALID on a bad part."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []
        self.warnings: list[FieldError] = []

    def error(self, path: str, reason: str) -> Any:
        self.errors.append(FieldError(path, reason))
        return _INVALID

    def fields(
        self, value: Any, path: str, known: dict[str, bool], hints: Mapping[Any, str] | None = None,
    ) -> dict[str, Any] | None:
        """A mapping's known, non-null fields; unknown and missing required fields are errors."""
        if not isinstance(value, dict):
            self.error(path or FILE, f"expected a mapping, got {_kind(value)}")
            return None
        for key in value:
            if key not in known:
                self.error(_child(path, key), "unknown field" + (hints or {}).get(key, ""))
        present = {key: item for key, item in value.items() if key in known and item is not None}
        for key, required in known.items():
            if required and key not in present:
                self.error(_child(path, key), "missing required field")
        return present

    def text(self, value: Any, path: str, *, limit: int | None = None) -> str:
        if not isinstance(value, str):
            return self.error(path, f"expected text, got {_kind(value)}")
        if not value.strip():
            return self.error(path, "must not be empty")
        if limit is not None and len(value) > limit:
            return self.error(path, f"longer than {limit} characters")
        return value

    def duration(self, value: Any, path: str, *, positive: bool = False) -> timedelta:
        try:
            duration = parse_duration(value)
        except ValueError as error:
            return self.error(path, str(error))
        if positive and duration <= timedelta(0):
            return self.error(path, "must be longer than 0")
        return duration

    def listing(self, value: Any, path: str, *, what: str) -> list[Any]:
        if not isinstance(value, list):
            return self.error(path, f"expected a list of {what}, got {_kind(value)}")
        return value

    def template(self, value: Any, path: str, *, escape_html: bool = False, allow_empty: bool = False) -> MessageTemplate:
        if not isinstance(value, str):
            return self.error(path, f"expected text, got {_kind(value)}")
        if not allow_empty and not value.strip():
            return self.error(path, "must not be empty")
        try:
            template = compile_template(value, escape_html=escape_html)
        except TemplateInvalid as error:
            return self.error(path, str(error))
        if reads_event_name(template):
            self.warnings.append(FieldError(path, EVENT_NAME_WARNING))
        return template

    # -- the campaign --

    def campaign(self, document: Any) -> CampaignSpec:
        fields = self.fields(document, "", _CAMPAIGN_FIELDS)
        if fields is None:
            return _INVALID
        name = self.text(fields["name"], "name", limit=MAX_NAME_LENGTH) if "name" in fields else _INVALID
        trigger = self.trigger(fields["trigger"]) if "trigger" in fields else _INVALID
        filters = self.filters(fields["filters"]) if "filters" in fields else None
        delay = self.duration(fields["delay"], "delay") if "delay" in fields else timedelta(0)
        window = self.delivery_window(fields["delivery_window"]) if "delivery_window" in fields else None
        message, variants = self.message_or_variants(fields)
        holdout, holdout_text = self.holdout(fields["holdout"]) if "holdout" in fields else (0.0, "")
        goals = self.goals(fields["goals"]) if "goals" in fields else ()
        cancel_if = self.cancel_rules(fields["cancel_if"]) if "cancel_if" in fields else ()
        reentry = self.reentry(fields["reentry"]) if "reentry" in fields else EVERY_TIME
        transactional = self.boolean(fields["transactional"], "transactional") if "transactional" in fields else False
        on_cap = fields.get("on_cap", "suppress")
        if on_cap not in ON_CAP:
            self.error("on_cap", f"expected one of {', '.join(ON_CAP)}, got {on_cap!r}")
        if self.errors:
            return _INVALID
        return CampaignSpec(
            name=name.strip(), trigger=trigger, message=message, filters=filters, delay=delay,
            delivery_window=window, goals=goals, cancel_if=cancel_if, reentry=reentry,
            transactional=transactional, on_cap=on_cap, holdout=holdout, holdout_text=holdout_text,
            variants=variants,
        )

    # -- experiments --

    def holdout(self, value: Any) -> tuple[float, str]:
        hint = f"expected a percentage like 10% (0% to {MAX_HOLDOUT_PERCENT:g}%)"
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
            return 0.0, "0%"
        match = _PERCENT.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            return self.error("holdout", f"{hint}, got {value!r}"), ""
        percent = float(match[1])
        if percent > MAX_HOLDOUT_PERCENT:
            return self.error("holdout", f"{hint}: {value!r} would leave too few users to message"), ""
        return percent / 100.0, f"{percent:g}%"

    def message_or_variants(self, fields: dict[str, Any]) -> tuple[Message, tuple[Variant, ...]]:
        """`message`, or `variants` (2-8 of {name, weight, message}, weights summing to 100):
        exactly one of them. With variants the campaign's `message` is the first variant's."""
        if "variants" in fields and "message" in fields:
            self.error("variants", "a campaign has either message or variants, not both")
            return _INVALID, ()
        if "variants" not in fields:
            if "message" not in fields:
                self.error("message", "missing required field (or variants, for an A/B test)")
                return _INVALID, ()
            return self.message(fields["message"]), ()
        items = self.listing(fields["variants"], "variants", what="variants ({name, weight, message})")
        if items is _INVALID:
            return _INVALID, ()
        if not MIN_VARIANTS <= len(items) <= MAX_VARIANTS:
            self.error("variants", f"expected {MIN_VARIANTS} to {MAX_VARIANTS} variants, got {len(items)}")
            return _INVALID, ()
        start = len(self.errors)
        variants: list[Variant] = []
        names: dict[str, int] = {}
        total = 0
        for index, item in enumerate(items):
            path = _item("variants", index)
            variant_fields = self.fields(item, path, _VARIANT_FIELDS)
            if variant_fields is None:
                continue
            name = self.text(variant_fields["name"], f"{path}.name", limit=100) if "name" in variant_fields else _INVALID
            if name is not _INVALID:
                name = name.strip()
                if name in names:
                    self.error(f"{path}.name", f"{name!r} is also the name of variants[{names[name]}]")
                names.setdefault(name, index)
            weight = variant_fields.get("weight", _INVALID)
            if weight is not _INVALID and (isinstance(weight, bool) or not isinstance(weight, int)):
                weight = self.error(f"{path}.weight", f"expected a whole number from 1 to 99, got {_kind(weight)}")
            elif weight is not _INVALID and not 1 <= weight <= 99:
                weight = self.error(f"{path}.weight", f"expected a whole number from 1 to 99, got {weight}")
            if weight is not _INVALID:
                total += weight
            message = (self.message(variant_fields["message"], f"{path}.message")
                       if "message" in variant_fields else _INVALID)
            if _INVALID not in (name, weight, message):
                variants.append(Variant(name=name, weight=weight, message=message))
        if len(self.errors) > start:
            return _INVALID, ()
        if total != 100:
            self.error("variants", f"the weights add up to {total}; they must add up to 100")
            return _INVALID, ()
        return variants[0].message, tuple(variants)

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            return self.error(path, f"expected true or false, got {_kind(value)}")
        return value

    def trigger(self, value: Any) -> Trigger:
        fields = self.fields(value, "trigger", {"event": True})
        if fields is None or "event" not in fields:
            return _INVALID
        event = self.text(fields["event"], "trigger.event")
        return _INVALID if event is _INVALID else Trigger(event)

    # -- filters --

    def filters(self, value: Any) -> Filters:
        fields = self.fields(value, "filters", {"any_of": True})
        if fields is None or "any_of" not in fields:
            return _INVALID
        groups_path = "filters.any_of"
        groups = self.listing(fields["any_of"], groups_path, what="groups ({all_of: [...]})")
        if groups is _INVALID:
            return _INVALID
        if not groups:
            return self.error(groups_path, "must not be empty (leave filters out to match everyone)")
        parsed = []
        for index, group in enumerate(groups):
            group_path = _item(groups_path, index)
            group_fields = self.fields(group, group_path, {"all_of": True})
            if group_fields is None or "all_of" not in group_fields:
                continue
            conditions_path = f"{group_path}.all_of"
            conditions = self.listing(group_fields["all_of"], conditions_path, what="conditions")
            if conditions is _INVALID:
                continue
            if not conditions:
                self.error(conditions_path, "must not be empty")
                continue
            parsed.append(FilterGroup(tuple(
                self.condition(condition, _item(conditions_path, position), with_source=True)
                for position, condition in enumerate(conditions)
            )))
        return Filters(tuple(parsed))

    def conditions(self, value: Any, path: str) -> tuple[Condition, ...]:
        """A `where` list: conditions on the properties of the event they belong to."""
        items = self.listing(value, path, what="conditions")
        if items is _INVALID:
            return _INVALID
        return tuple(self.condition(item, _item(path, index), with_source=False) for index, item in enumerate(items))

    def condition(self, value: Any, path: str, *, with_source: bool) -> Condition:
        if with_source:
            fields = self.fields(value, path, _CONDITION_FIELDS)
        else:
            if isinstance(value, dict) and "source" in value:
                self.error(_child(path, "source"), "unknown field (where reads this event's own properties)")
                value = {key: item for key, item in value.items() if key != "source"}
            fields = self.fields(value, path, _WHERE_FIELDS)
        if fields is None:
            return _INVALID
        start = len(self.errors)
        source = None
        if with_source and "source" in fields:
            source = fields["source"]
            if source not in SOURCES:
                self.error(_child(path, "source"), f"unknown source {source!r} (expected event or user)")
        if "property" in fields:
            self.text(fields["property"], _child(path, "property"))
        op = fields.get("op")
        if op is not None and op not in OPERATORS:
            self.error(_child(path, "op"), f"unknown operator {op!r} (expected one of {', '.join(OPERATORS)})")
        elif op is not None:
            self.condition_value(op, value.get("value"), "value" in fields, _child(path, "value"))
        if len(self.errors) > start or "property" not in fields or op is None:
            return _INVALID
        operand = fields.get("value")
        return Condition(property=fields["property"], op=op, value=operand, source=source)

    def condition_value(self, op: str, value: Any, present: bool, path: str) -> None:
        if op in VALUELESS_OPERATORS:
            if present:
                self.error(path, f"{op!r} takes no value")
            return
        if not present:
            self.error(path, f"missing required field ({op!r} needs a value)")
            return
        if op in LIST_OPERATORS:
            if not isinstance(value, list):
                self.error(path, f"{op!r} needs a list of values, like [a, b], got {_kind(value)}")
            elif not value:
                self.error(path, f"{op!r} needs at least one value")
            else:
                for index, option in enumerate(value):
                    if not _is_scalar(option):
                        self.error(_item(path, index), f"expected text, a number or a boolean, got {_kind(option)}")
            return
        if op in TIME_OPERATORS:
            try:
                parse_time_reference(value)
            except ValueError as error:
                self.error(path, str(error))
            return
        if not _is_scalar(value):
            hint = f" (use {'in' if op == 'eq' else 'not_in'} for a list)" if op in ("eq", "neq") and isinstance(value, list) else ""
            self.error(path, f"expected text, a number or a boolean, got {_kind(value)}{hint}")
        elif isinstance(value, bool) and op in ("gt", "gte", "lt", "lte", "starts_with"):
            self.error(path, f"{op!r} compares numbers or text, not booleans")

    # -- delivery window --

    def delivery_window(self, value: Any) -> DeliveryWindow:
        path = "delivery_window"
        fields = self.fields(value, path, _WINDOW_FIELDS)
        if fields is None:
            return _INVALID
        start_count = len(self.errors)
        days = self.days(fields["days"], f"{path}.days") if "days" in fields else _INVALID
        start = self.time_of_day(fields["start"], f"{path}.start", allow_end_of_day=False) if "start" in fields else _INVALID
        end = self.time_of_day(fields["end"], f"{path}.end", allow_end_of_day=True) if "end" in fields else _INVALID
        if start is not _INVALID and end is not _INVALID and start == end:
            self.error(f"{path}.end", "the same as start: the window would be empty (24 hours is 00:00 to 24:00)")
        zone = fields.get("fallback_timezone")
        if zone is not None:
            self.timezone_name(zone, f"{path}.fallback_timezone")
        if len(self.errors) > start_count:
            return _INVALID
        return DeliveryWindow(days=days, start=start, end=end, fallback_timezone=zone)

    def timezone_name(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            return self.error(path, f"expected an IANA time zone name as text, got {_kind(value)}")
        if value not in _iana_zone_names():
            return self.error(path, f"{value!r} is not an IANA time zone")
        return value

    def days(self, value: Any, path: str) -> tuple[str, ...]:
        items = self.listing(value, path, what="days (mon, tue, ...)")
        if items is _INVALID:
            return _INVALID
        if not items:
            return self.error(path, "must list at least one day")
        chosen: set[str] = set()
        for index, day in enumerate(items):
            name = day.strip().lower() if isinstance(day, str) else None
            if name not in WEEKDAYS:
                self.error(_item(path, index), f"unknown day {day!r} (expected one of {', '.join(WEEKDAYS)})")
            elif name in chosen:
                self.error(_item(path, index), f"{name!r} is listed twice")
            else:
                chosen.add(name)
        return tuple(day for day in WEEKDAYS if day in chosen)

    def time_of_day(self, value: Any, path: str, *, allow_end_of_day: bool) -> int:
        match = _TIME_OF_DAY.fullmatch(value.strip()) if isinstance(value, str) else None
        if match is None:
            return self.error(path, f"{value!r} is not a time of day (HH:MM, like \"09:00\")")
        hours, minutes = int(match.group(1)), int(match.group(2))
        total = hours * 60 + minutes
        if minutes > 59 or total > MINUTES_PER_DAY or (total == MINUTES_PER_DAY and not allow_end_of_day):
            return self.error(path, f"{value!r} is not a time of day (HH:MM, like \"09:00\")")
        return total

    # -- the message --

    def message(self, value: Any, path: str = "message") -> Message:
        if not isinstance(value, dict):
            return self.error(path, f"expected a mapping, got {_kind(value)}")
        channel = value.get("channel")
        if channel is None:
            self.error(f"{path}.channel", "missing required field")
        elif not isinstance(channel, str) or channel not in MESSAGE_FIELDS:
            self.error(f"{path}.channel", f"unknown channel {channel!r} (expected one of {', '.join(CHANNELS)})")
        if not isinstance(channel, str) or channel not in MESSAGE_FIELDS:
            for key in value:
                if key not in _MESSAGE_FIELD_NAMES and key != "channel":
                    self.error(_child(path, key), "unknown field")
            return _INVALID
        known = {"channel": True, **MESSAGE_FIELDS[channel]}
        article = "an" if channel in ("email", "sms") else "a"
        hint = f" for {article} {channel} message (it has {', '.join(MESSAGE_FIELDS[channel])})"
        fields = self.fields(value, path, known, hints={key: hint for key in _MESSAGE_FIELD_NAMES})
        assert fields is not None
        start = len(self.errors)
        parts: dict[str, Any] = {}
        for name in MESSAGE_FIELDS[channel]:
            if name not in fields:
                continue
            item_path = _child(path, name)
            if channel == "push" and name == "data":
                parts[name] = self.push_data(fields[name], item_path)
            elif channel == "webhook" and name == "body":
                parts[name] = self.webhook_body(fields[name], item_path)
            elif channel == "webhook" and name == "url":
                parts[name] = self.webhook_url(fields[name], item_path)
            else:
                parts[name] = self.template(fields[name], item_path, escape_html=(name == "html"))
        if len(self.errors) > start or any(name not in parts for name, required in MESSAGE_FIELDS[channel].items() if required):
            return _INVALID
        builders: dict[str, Callable[..., Message]] = {
            "email": EmailMessage, "sms": SmsMessage, "voice": VoiceMessage, "push": PushMessage, "webhook": WebhookMessage,
        }
        return builders[channel](**parts)

    def push_data(self, value: Any, path: str) -> tuple[tuple[str, MessageTemplate], ...]:
        if not isinstance(value, dict):
            return self.error(path, f"expected a mapping of keys to text, got {_kind(value)}")
        items = []
        for key, item in value.items():
            item_path = _child(path, key)
            if not isinstance(key, str):
                self.error(item_path, f"a key must be text, got {_kind(key)}")
            elif isinstance(item, bool):
                items.append((key, compile_template("true" if item else "false")))
            elif isinstance(item, (int, float)):
                items.append((key, compile_template(str(item))))
            else:
                items.append((key, self.template(item, item_path, allow_empty=True)))
        return tuple(items)

    def webhook_url(self, value: Any, path: str) -> MessageTemplate:
        template = self.template(value, path)
        if template is not _INVALID and not _FIXED_URL_START.match(template.source.strip()):
            # Only the path and query may come from a user's values, never the host.
            return self.error(path, "must start with http:// or https:// and a host written out (templates may follow the host)")
        return template

    def webhook_body(self, value: Any, path: str) -> TemplateObject:
        if not isinstance(value, dict):
            return self.error(path, f"expected a mapping (the JSON object to send), got {_kind(value)}")
        return self.json_template(value, path)

    def json_template(self, value: Any, path: str) -> JsonTemplate:
        if isinstance(value, dict):
            items = []
            for key, item in value.items():
                if not isinstance(key, str):
                    self.error(_child(path, key), f"a key must be text, got {_kind(key)}")
                    continue
                items.append((key, self.json_template(item, _child(path, key))))
            return TemplateObject(tuple(items))
        if isinstance(value, list):
            return TemplateArray(tuple(self.json_template(item, _item(path, index)) for index, item in enumerate(value)))
        if isinstance(value, str):
            return self.template(value, path, allow_empty=True)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.error(path, f"expected a JSON value, got {_kind(value)}")

    # -- goals, cancel conditions, re-entry --

    def goals(self, value: Any) -> tuple[Goal, ...]:
        items = self.listing(value, "goals", what="goals")
        if items is _INVALID:
            return _INVALID
        goals: list[Goal] = []
        names: dict[str, int] = {}
        primary_at: int | None = None
        for index, item in enumerate(items):
            path = _item("goals", index)
            fields = self.fields(item, path, _GOAL_FIELDS)
            if fields is None:
                continue
            start = len(self.errors)
            name = self.text(fields["name"], f"{path}.name") if "name" in fields else _INVALID
            if name is not _INVALID:
                if name in names:
                    self.error(f"{path}.name", f"{name!r} is also the name of goals[{names[name]}]")
                else:
                    names[name] = index
            primary = fields.get("primary", False)
            if not isinstance(primary, bool):
                self.error(f"{path}.primary", f"expected true or false, got {_kind(primary)}")
            elif primary and primary_at is not None:
                self.error(f"{path}.primary", f"more than one primary goal (goals[{primary_at}] is primary too)")
            elif primary:
                primary_at = index
            event = self.text(fields["event"], f"{path}.event") if "event" in fields else _INVALID
            where = self.conditions(fields["where"], f"{path}.where") if "where" in fields else ()
            match = self.property_names(fields["match_trigger"], f"{path}.match_trigger") if "match_trigger" in fields else ()
            within = self.duration(fields["within"], f"{path}.within", positive=True) if "within" in fields else _INVALID
            if len(self.errors) == start and _INVALID not in (name, event, within):
                goals.append(Goal(name=name, event=event, within=within, primary=primary is True, where=where, match_trigger=match))
        if primary_at is None and goals:
            # A campaign always has a primary goal to report; unmarked, it is the first.
            goals[0] = dataclasses.replace(goals[0], primary=True)
        return tuple(goals)

    def cancel_rules(self, value: Any) -> tuple[CancelRule, ...]:
        items = self.listing(value, "cancel_if", what="cancel conditions")
        if items is _INVALID:
            return _INVALID
        rules = []
        for index, item in enumerate(items):
            path = _item("cancel_if", index)
            fields = self.fields(item, path, _CANCEL_FIELDS)
            if fields is None:
                continue
            start = len(self.errors)
            event = self.text(fields["event"], f"{path}.event") if "event" in fields else _INVALID
            where = self.conditions(fields["where"], f"{path}.where") if "where" in fields else ()
            match = self.property_names(fields["match_trigger"], f"{path}.match_trigger") if "match_trigger" in fields else ()
            if len(self.errors) == start and event is not _INVALID:
                rules.append(CancelRule(event=event, where=where, match_trigger=match))
        return tuple(rules)

    def property_names(self, value: Any, path: str) -> tuple[str, ...]:
        items = self.listing(value, path, what="property names, like [cart_id]")
        if items is _INVALID:
            return _INVALID
        return tuple(self.text(item, _item(path, index)) for index, item in enumerate(items))

    def reentry(self, value: Any) -> Reentry:
        expected = "expected every_time, once or {once_per: <duration>}"
        if isinstance(value, str):
            if value in ("every_time", "once"):
                return Reentry(value)
            return self.error("reentry", f"{expected}, got {value!r}")
        if not isinstance(value, dict):
            return self.error("reentry", f"{expected}, got {_kind(value)}")
        fields = self.fields(value, "reentry", {"once_per": True})
        if fields is None or "once_per" not in fields:
            return _INVALID
        period = self.duration(fields["once_per"], "reentry.once_per", positive=True)
        return _INVALID if period is _INVALID else Reentry("once_per", period)


# The reader and its helpers, for other files read the same way (workspace settings, limits.py).
SpecReader = _Reader
INVALID = _INVALID
child_path = _child
item_path = _item
kind_of = _kind

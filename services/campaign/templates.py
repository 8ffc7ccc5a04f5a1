"""Liquid templates in messages: parsed when a campaign is applied, rendered when a send goes out.

A variable that is not there renders empty, so `{{ first_name | default: 'Hi' }}` reads as it
does in Shopify's Liquid. The html part of an email escapes what it interpolates (a user's
name is not trusted markup); `| safe` opts out. Templates cannot include other templates.

Pure: imports neither grpc nor sqlmodel.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from liquid import BoundTemplate, Environment
from liquid.exceptions import LiquidError

# Messages come from files anyone with apply rights writes: bound the work one render may do.
LOOP_ITERATION_LIMIT = 10_000
OUTPUT_LIMIT = 1_000_000


class TemplateInvalid(ValueError):
    """A template that does not parse or names a filter that does not exist."""


class RenderFailed(ValueError):
    """A template that parsed but could not render with these values (say, divided_by: 0)."""


class _MessageEnvironment(Environment):
    loop_iteration_limit = LOOP_ITERATION_LIMIT
    output_stream_limit = OUTPUT_LIMIT

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=extra)
        # There is no loader: a partial could only fail at send time.
        self.tags.pop("include", None)
        self.tags.pop("render", None)


@functools.cache
def _environment(escape_html: bool) -> Environment:
    return _MessageEnvironment(autoescape=escape_html)


@dataclass(frozen=True)
class MessageTemplate:
    """A template's text and its parsed form; two templates are equal when their text is."""

    source: str
    escape_html: bool = False
    compiled: BoundTemplate | None = field(default=None, compare=False, repr=False)

    def render(self, context: Mapping[str, Any]) -> str:
        compiled = self.compiled or compile_template(self.source, escape_html=self.escape_html).compiled
        try:
            return str(compiled.render(**context))  # type: ignore[union-attr]
        except LiquidError as error:
            raise RenderFailed(_describe(error, self.source)) from None


def compile_template(source: str, *, escape_html: bool = False) -> MessageTemplate:
    """Parses a template, raising TemplateInvalid with a reason a user reads."""
    environment = _environment(escape_html)
    try:
        compiled = environment.from_string(source)
        unknown = sorted(set(compiled.analyze(include_partials=False).filters) - set(environment.filters))
    except LiquidError as error:
        raise TemplateInvalid(f"template does not parse: {_describe(error, source)}") from None
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise TemplateInvalid(f"unknown filter{'s' if len(unknown) > 1 else ''} {names}")
    return MessageTemplate(source, escape_html, compiled)


def _describe(error: LiquidError, source: str) -> str:
    message = getattr(error, "message", None) or str(error).splitlines()[0]
    token = getattr(error, "token", None)
    start = getattr(token, "start_index", None)
    if isinstance(start, int) and getattr(token, "source", source) == source and "\n" in source.strip():
        message += f" (line {source.count(chr(10), 0, start) + 1})"
    return message


# What herald adds to a template's context: names no Segment spec gives a trait or a property,
# so they never hide one. docs/campaigns.md lists them; they win over an attribute so named.
HERALD_NAMES = ("user_id", "event", "event_name", "event_time")


def message_context(
    *,
    user_id: str,
    attributes: Mapping[str, Any],
    event_name: str,
    event_properties: Mapping[str, Any],
    event_time: datetime | None = None,
) -> dict[str, Any]:
    """What a message template sees, the one context every render uses (delivery's Confirm,
    and the console's preview and simulate):

    - the user's attributes at the top level (`{{ first_name }}`);
    - `event`: the trigger event's properties exactly as sent, nothing added, so Segment's
      "Product Added" `name` (the product's name) is `{{ event.name }}`;
    - herald's own names: `user_id`, `event_name` (the trigger event's name, like
      "[Segment] Product Added") and `event_time` (its timestamp, ISO 8601 with an offset).

    herald's names win over attributes of the same names, so a trait cannot pose as `user_id`.
    """
    return {
        **attributes,
        "user_id": user_id,
        "event": dict(event_properties),
        "event_name": event_name,
        "event_time": event_time.isoformat() if event_time is not None else "",
    }


def reads_event_name(template: MessageTemplate) -> bool:
    """Whether a template reads `event.name` in the dotted form, which before herald kept
    properties unshadowed meant the event's own name and now means its `name` property.
    `event['name']` reads the same property and is taken as meaning it."""
    if template.compiled is None:
        return False
    variables = template.compiled.analyze(include_partials=False).variables.get("event", [])
    for variable in variables:
        if list(variable.segments[:2]) != ["event", "name"]:
            continue
        start = getattr(getattr(variable, "span", None), "index", None)
        if not isinstance(start, int) or template.source.startswith("event.name", start):
            return True
    return False

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


def message_context(
    *,
    user_id: str,
    attributes: Mapping[str, Any],
    event_name: str,
    event_properties: Mapping[str, Any],
) -> dict[str, Any]:
    """What a message template sees: the user's attributes at the top level, `user_id`, and
    `event` (the trigger event's properties plus `event.name`, the event's name).

    `user_id` and `event` win over attributes of those names, and `event.name` over a
    property called `name`.
    """
    return {**attributes, "user_id": user_id, "event": {**event_properties, "name": event_name}}

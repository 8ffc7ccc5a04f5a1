"""Text output: aligned tables and times without their fractions."""

from __future__ import annotations

import io
import json

from herald_cli.output import Result, emit, fields, short_time, table


def test_table_pads_columns_and_right_aligns_numbers():
    text = table(("NAME", "SEEN"), [("[Segment] Signed Up", 14), ("[Segment Page] Pricing", 3)], right=(1,))
    assert text.splitlines() == [
        "NAME                    SEEN",
        "[Segment] Signed Up       14",
        "[Segment Page] Pricing     3",
    ]


def test_fields_align_values_and_show_a_dash_for_nothing():
    assert fields([("user id", "u1"), ("anonymous ids", "")]).splitlines() == [
        "user id        u1",
        "anonymous ids  -",
    ]


def test_short_time_drops_the_fraction_and_keeps_the_offset():
    assert short_time("2026-01-05T12:00:30.250000+00:00") == "2026-01-05T12:00:30+00:00"
    assert short_time("2026-01-05T12:00:30+02:00") == "2026-01-05T12:00:30+02:00"
    assert short_time(None) == "-"


def test_emit_with_json_writes_exactly_one_document():
    out = io.StringIO()
    emit(Result([{"name": "Zoë"}], "ignored"), as_json=True, out=out)
    assert json.loads(out.getvalue()) == [{"name": "Zoë"}]


def test_emit_without_json_writes_the_text():
    out = io.StringIO()
    emit(Result({}, "no events yet"), as_json=False, out=out)
    assert out.getvalue() == "no events yet\n"

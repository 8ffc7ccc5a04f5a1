"""A frequency cap end to end: `herald up`, `herald settings apply` with a cap of one message a
day, three campaigns triggered by one Segment track call for one user: exactly one email
arrives, and the other two sends are suppressed as frequency_cap in stats."""

from __future__ import annotations

import pytest

from tests.e2e.harness import launch, wait_for
from tests.e2e.test_segment_e2e import segment_client
from tests.fakes.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

CAMPAIGN = """\
name: Welcome {n}
trigger: {{event: "[Segment] Signed Up"}}
message: {{channel: email, subject: "Welcome {n}", body: "Hello {{{{ first_name }}}}"}}
"""


def test_a_cap_of_one_a_day_lets_exactly_one_of_three_campaigns_through(tmp_path):
    settings = tmp_path / "settings.yaml"
    settings.write_text("frequency_caps:\n  - {channel: any, max: 1, per: 1d}\n")
    with SmtpSink() as smtp, launch(
        tmp_path, HERALD_SMTP_HOST="127.0.0.1", HERALD_SMTP_PORT=str(smtp.port), HERALD_SMTP_FROM="herald@example.com",
    ) as suite:
        assert suite.herald_json("settings", "apply", "-f", str(settings))["changed"] is True
        names = []
        for n in (1, 2, 3):
            path = tmp_path / f"welcome-{n}.yaml"
            path.write_text(CAMPAIGN.format(n=n))
            names.append(suite.herald_json("campaigns", "apply", "-f", str(path))["name"])

        with segment_client(suite) as segment:
            segment.identify("ada", {"email": "ada@example.com", "name": "Ada Lovelace", "timezone": "Europe/Berlin"})
            segment.track("ada", "Signed Up", {"plan": "pro"})

        def settled():
            sends = suite.herald_json("sends", "list", "--user", "ada")
            return sends if len(sends) == 3 and all(s["status"] in ("sent", "suppressed") for s in sends) else None

        sends = wait_for(settled, "all three sends decided")
        assert sorted(s["status"] for s in sends) == ["sent", "suppressed", "suppressed"]
        assert {s["outcome"] for s in sends if s["status"] == "suppressed"} == {"frequency_cap: any max 1 per 1d"}
        wait_for(lambda: smtp.messages, "the one email")
        assert [m.rcpt_tos for m in smtp.messages] == [["ada@example.com"]]
        stats = [suite.herald_json("campaigns", "stats", name) for name in names]
        assert sorted(s["sent"] for s in stats) == [0, 0, 1]
        assert sorted(s["suppressed_by_reason"].get("frequency_cap", 0) for s in stats) == [0, 1, 1]
        assert suite.herald_json("settings", "show")["frequency_caps"] == [{"channel": "any", "max": 1, "per": "1d"}]

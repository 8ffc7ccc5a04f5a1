"""Limits and experiments end to end, on one `herald up` (with an SMTP sink) for the module:

- a cap of one message a day, three campaigns triggered by one Segment track call for one user:
  exactly one email arrives, and the other two sends are suppressed as frequency_cap in stats;
- a campaign with `holdout: 50%` over 200 users through Segment's own library: about half the
  sends end held_out (no email for them), the rest are sent, and `herald campaigns stats` counts
  each group's conversions of the goal."""

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
HOLDOUT = """\
name: Trial nudge
trigger: {event: "[Segment] Trial Started"}
holdout: 50%
message: {channel: email, subject: "Your trial", body: "Hello {{ first_name }}"}
goals:
  - {name: Subscribed, event: "[Segment] Subscribed", within: 7d}
"""
USERS = 200


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    """(suite, smtp sink, run dir): one suite for the module, as both tests need the same."""
    run_dir = tmp_path_factory.mktemp("limits")
    with SmtpSink() as smtp, launch(
        run_dir, HERALD_SMTP_HOST="127.0.0.1", HERALD_SMTP_PORT=str(smtp.port), HERALD_SMTP_FROM="herald@example.com",
    ) as suite:
        yield suite, smtp, run_dir


def test_a_cap_of_one_a_day_lets_exactly_one_of_three_campaigns_through(running):
    suite, smtp, tmp_path = running
    settings = tmp_path / "settings.yaml"
    settings.write_text("frequency_caps:\n  - {channel: any, max: 1, per: 1d}\n")
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
    wait_for(lambda: [m for m in smtp.messages if m.rcpt_tos == ["ada@example.com"]], "the one email")
    assert [m.rcpt_tos for m in smtp.messages if m.rcpt_tos == ["ada@example.com"]] == [["ada@example.com"]]
    stats = [suite.herald_json("campaigns", "stats", name) for name in names]
    assert sorted(s["sent"] for s in stats) == [0, 0, 1]
    assert sorted(s["suppressed_by_reason"].get("frequency_cap", 0) for s in stats) == [0, 1, 1]
    assert suite.herald_json("settings", "show")["frequency_caps"] == [{"channel": "any", "max": 1, "per": "1d"}]


def test_a_50_percent_holdout_over_200_segment_users_shows_both_groups_conversions(running):
    suite, smtp, tmp_path = running
    campaign = tmp_path / "trial.yaml"
    campaign.write_text(HOLDOUT)
    suite.herald_json("campaigns", "apply", "-f", str(campaign))
    users = [f"trial-{n}" for n in range(USERS)]
    with segment_client(suite) as segment:
        for user in users:
            segment.identify(user, {"email": f"{user}@example.com", "name": f"User {user}"})
        for user in users:
            segment.track(user, "Trial Started", {"plan": "pro"})

    def decided():
        sends = suite.herald_json("sends", "list", "--campaign", "Trial nudge", "--limit", "1000")
        return sends if sum(1 for s in sends if s["status"] in ("sent", "held_out")) == USERS else None

    sends = wait_for(decided, f"all {USERS} sends sent or held out", timeout=90, interval=1.0)
    held = {s["user_id"] for s in sends if s["status"] == "held_out"}
    assert 60 < len(held) < 140, len(held)  # 50% of 200, give or take the hash's luck
    trial = {f"{user}@example.com" for user in users}

    def emailed():
        found = {to for m in smtp.messages for to in m.rcpt_tos if to in trial}
        return found if len(found) == USERS - len(held) else None

    emailed_to = wait_for(emailed, "the treatment's emails")
    assert not emailed_to & {f"{user}@example.com" for user in held}  # held-out users got nothing

    converting = users[::3]
    with segment_client(suite) as segment:
        for user in converting:
            segment.track(user, "Subscribed", {"plan": "pro"})
    control = sum(1 for user in converting if user in held)
    treatment = len(converting) - control

    def counted():
        stats = suite.herald_json("campaigns", "stats", "Trial nudge")
        goal = stats["goals"][0]
        return stats if goal["treatment"]["conversions"] + goal["control"]["conversions"] == len(converting) else None

    stats = wait_for(counted, "every conversion counted", interval=1.0)
    assert (stats["sent"], stats["held_out"], stats["holdout"]) == (USERS - len(held), len(held), "50%")
    [goal] = stats["goals"]
    assert goal["treatment"] == {"size": USERS - len(held), "conversions": treatment,
                                 "rate": pytest.approx(treatment / (USERS - len(held)))}
    assert goal["control"] == {"size": len(held), "conversions": control, "rate": pytest.approx(control / len(held))}
    assert goal["conversions"] == treatment
    text = suite.herald("campaigns", "stats", "Trial nudge").stdout
    assert f"{control}/{len(held)}" in text and f"{treatment}/{USERS - len(held)}" in text

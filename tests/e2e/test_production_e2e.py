"""The production shape on this machine (`make run-pg` = `herald up --replicas 2` on PostgreSQL):
two processes of every service and of the gateway, driven by Segment's own Python library.
Every message goes out exactly once and every event is recorded exactly once."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
from herald_common.db import normalise_url
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_URL, require_postgres
from tests.e2e.harness import launch, wait_for
from tests.e2e.test_segment_e2e import segment_client
from tests.fakes.smtp_sink import SmtpSink

pytestmark = pytest.mark.e2e

USERS = 40
WELCOME = """
name: Welcome email
trigger: {event: "[Segment] Signed Up"}
message:
  channel: email
  subject: "Welcome, {{ first_name }}"
  body: "Your {{ event.plan }} plan is ready."
goals:
  - {name: Came back, event: "[Segment Page] Dashboard", within: 1d}
"""


@pytest.fixture
def database():
    """A database of its own on the running PostgreSQL (herald up creates it), dropped after."""
    require_postgres()
    name = f"herald_e2e_{uuid.uuid4().hex[:10]}"
    url = make_url(normalise_url(POSTGRES_URL)).set(database=name)
    yield url.render_as_string(hide_password=False)
    admin = create_engine(make_url(normalise_url(POSTGRES_URL)), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()



def test_two_replicas_of_everything_send_each_message_once_and_record_each_event_once(tmp_path, database):
    campaign_file = tmp_path / "welcome.yaml"
    campaign_file.write_text(WELCOME)
    with SmtpSink() as smtp, launch(
        tmp_path, HERALD_DATABASE_URL=database, HERALD_UP_REPLICAS="2", HERALD_SMTP_HOST="127.0.0.1",
        HERALD_SMTP_PORT=str(smtp.port), HERALD_SMTP_FROM="herald@example.com", HERALD_SETTLE_SECONDS="1",
    ) as suite:
        announced = suite.announced
        for service in ("identity", "ingest", "campaign", "delivery"):
            assert service in announced and f"{service}#2" in announced, announced
        assert announced["gateway replicas"].startswith("2")
        assert suite.herald_json("campaigns", "apply", "-f", str(campaign_file))["created"]

        with segment_client(suite) as segment:
            for n in range(USERS):
                user = f"prod-{n}"
                segment.identify(user, {"email": f"{user}@example.com", "first_name": f"User{n}"})
                segment.track(user, "Signed Up", {"plan": "pro"})
                segment.page(user, name="Dashboard")
        tracked = USERS * 2  # one track and one page each

        wait_for(lambda: len(smtp.messages) >= USERS, f"{USERS} welcome emails")
        time.sleep(2.0)  # a second replica sending again would show up now
        recipients = Counter(rcpt for mail in smtp.messages for rcpt in mail.rcpt_tos)
        assert recipients == Counter({f"prod-{n}@example.com": 1 for n in range(USERS)})
        assert {mail.email["Subject"] for mail in smtp.messages} == {f"Welcome, User{n}" for n in range(USERS)}

        engine = create_engine(normalise_url(database))
        with engine.connect() as connection:
            total, distinct = connection.execute(text("SELECT count(*), count(DISTINCT message_id) FROM ingest.event")).one()
        engine.dispose()
        assert (total, distinct) == (tracked, tracked)

        sends = wait_for(
            lambda: (listed := suite.herald_json("sends", "list", "--limit", "500"))
            and all(s["status"] == "sent" for s in listed) and listed,
            "every send marked sent",
        )
        assert len(sends) == USERS and len({s["id"] for s in sends}) == USERS

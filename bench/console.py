"""Console benchmark: how long each page takes to render (p95) with a big workspace behind it.

    python bench/console.py [--events 1000000] [--users 100000] [--sends 200000] [--requests 40]

The suite runs as `herald up` runs it (SQLite in a temporary data folder). Before it starts,
the workspace is seeded through the services' own stores (their tables, written with their own
SQLAlchemy tables, in large transactions: the fastest honest path; going through the RPCs would
measure ingest, not the console):

- identity: `--users` profiles with an email, each with an anonymous id;
- ingest: `--events` events over the last 30 days, 40 event names (a few frequent, most rare), 1-3
  property sets each, the per-user index, hourly counts and property sets as ingest keeps them,
  and the outbox marked delivered (campaign is not handed a million old events);
- campaign: 8 campaigns applied as drafts through `herald campaigns apply` (a first start of the
  suite), then `--sends` sends of theirs in campaign's table and in delivery's (terminal
  statuses, with provider outcomes: nothing is left for the dispatcher to do).

Then the suite starts again and every page is asked `--requests` times over HTTP, signed in,
for varying users, events and filters: Events, an event's page, Users search by email, a user's
profile, Sends (unfiltered, by status, by campaign, by channel, and its second page), Campaigns,
a campaign's page (stats, chart, latest sends, versions) and its editor. Prints one
JSON line per page (`console_page_p95_ms`) and one for them all; the target is under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from herald_common.db import create_service_engine  # noqa: E402
from herald_common.settings import Settings  # noqa: E402

ADMIN_TOKEN = "bench-console-admin-token"
INTERNAL_TOKEN = "bench-console-internal-token"
TARGET_MS = 300.0
CHUNK = 20_000
NAMES = [f"[Segment] Bench Event {n:02d}" for n in range(40)]
CHANNELS = ("email", "sms", "push", "webhook")
CAMPAIGN = """
name: Bench campaign {n}
trigger: {{event: "{event}"}}
message:
  channel: {channel}
  {fields}
"""
FIELDS = {
    "email": 'subject: "Hi"\n  body: "Hello"', "sms": 'body: "Hello"', "push": 'title: "Hi"\n  body: "Hello"',
    "webhook": 'url: "https://example.com/hook"\n  body: {a: 1}',
}


def emit(figure: str, value, **extra) -> None:
    print(json.dumps({"figure": figure, "value": value, **extra}), flush=True)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(data_dir), HERALD_ADMIN_TOKEN=ADMIN_TOKEN, HERALD_INTERNAL_TOKEN=INTERNAL_TOKEN,
        HERALD_GATEWAY_PORT=str(free_port()), HERALD_CONSOLE_PORT=str(free_port()),
        HERALD_WRITE_KEY="bench-console-write-key",
    )
    for service in ("identity", "ingest", "campaign", "delivery"):
        env[f"HERALD_{service.upper()}_ADDRESS"] = f"127.0.0.1:{free_port()}"
        env[f"HERALD_{service.upper()}_METRICS_ADDRESS"] = ""
    env["HERALD_GATEWAY_METRICS_ADDRESS"] = ""
    return env


def herald(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "herald"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True, timeout=600)


class Suite:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.url = f"http://127.0.0.1:{env['HERALD_CONSOLE_PORT']}"
        with open(log, "wb") as out:
            self.process = subprocess.Popen([str(Path(sys.executable).parent / "herald"), "up"], env=env,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"herald up exited; see {log}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200 and "herald is up" in log.read_text():
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"herald up did not come up; see {log}")
            time.sleep(0.3)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=60)


# ---- seeding -------------------------------------------------------------------------------------


def insert(engine, table, rows) -> None:
    with engine.begin() as connection:
        for start in range(0, len(rows), CHUNK):
            connection.execute(table.insert(), rows[start:start + CHUNK])


def seed_identity(settings: Settings, users: int, now: datetime) -> None:
    from herald_services.identity.store import ALIAS, PROFILE

    engine = create_service_engine(settings, "identity")
    profiles, aliases = [], []
    for n in range(users):
        created = now - timedelta(days=30, seconds=-n)
        email = f"user{n}@bench.example"
        profiles.append({
            "id": f"p{n:07d}", "workspace_id": "default", "user_id": f"user-{n}", "email": email,
            "attributes": {"email": email, "first_name": f"User {n}", "plan": ("free", "pro")[n % 2]},
            "attribute_times": {}, "merged_into": None, "created_at": created, "updated_at": created,
        })
        aliases.append({"workspace_id": "default", "anonymous_id": f"anon-{n}", "profile_id": f"p{n:07d}", "created_at": created})
    insert(engine, PROFILE, profiles)
    insert(engine, ALIAS, aliases)
    engine.dispose()


def seed_ingest(settings: Settings, events: int, users: int, now: datetime, rng: random.Random) -> dict[str, int]:
    from herald_services.ingest import store
    from herald_services.ingest.store import EVENT, EVENT_BY_PROFILE, EVENT_COUNT, EVENT_NAME, PROPERTY_SET

    engine = create_service_engine(settings, "ingest")
    weights = [1.0 / (rank + 1) ** 1.2 for rank in range(len(NAMES))]  # a few frequent, most rare
    start = now - timedelta(days=30)
    step = (now - start) / events
    counts: Counter = Counter()
    hourly: Counter = Counter()
    sets: dict[tuple[str, str], list] = {}
    first_last: dict[str, list] = {}
    event_rows, index_rows = [], []
    with engine.begin() as connection:
        for number in range(1, events + 1):
            name = rng.choices(NAMES, weights)[0]
            user = rng.randrange(users)
            at = start + step * number
            variant = number % 3 if name.endswith(("0", "5")) else 0  # tracking-plan drift on some
            properties = {"price": number % 100, **({"coupon": "X"} if variant == 1 else {}),
                          **({"currency": "EUR"} if variant == 2 else {})}
            event_rows.append({
                "id": number, "workspace_id": "default", "message_id": f"m{number}", "type": "track", "name": name,
                "profile_id": f"p{user:07d}", "user_id": f"user-{user}", "anonymous_id": None,
                "properties": orjson.dumps(properties).decode(), "context": "{}", "timestamp": at, "received_at": at,
            })
            index_rows.append({"workspace_id": "default", "profile_id": f"p{user:07d}", "timestamp": at, "event_id": number})
            counts[name] += 1
            hourly[(name, at.replace(minute=0, second=0, microsecond=0))] += 1
            key = (name, orjson.dumps(sorted(properties)).decode())
            entry = sets.setdefault(key, [0, at, at])
            entry[0] += 1
            entry[2] = at
            first_last.setdefault(name, [at, at])[1] = at
            if len(event_rows) == CHUNK:
                connection.execute(EVENT.insert(), event_rows)
                connection.execute(EVENT_BY_PROFILE.insert(), index_rows)
                event_rows, index_rows = [], []
        if event_rows:
            connection.execute(EVENT.insert(), event_rows)
            connection.execute(EVENT_BY_PROFILE.insert(), index_rows)
        connection.execute(EVENT_NAME.insert(), [
            {"workspace_id": "default", "name": name, "hidden": False, "defined_by_hand": False, "description": "",
             "first_seen": first, "last_seen": last} for name, (first, last) in first_last.items()
        ])
        connection.execute(EVENT_COUNT.insert(), [
            {"workspace_id": "default", "name": name, "hour": hour, "count": count} for (name, hour), count in hourly.items()
        ])
        connection.execute(PROPERTY_SET.insert(), [
            {"workspace_id": "default", "name": name, "properties": props, "count": count, "first_seen": first,
             "last_seen": last} for (name, props), (count, first, last) in sets.items()
        ])
        state = store.IngestStateRecord.__table__
        index_state = store.EventByProfileStateRecord.__table__
        connection.execute(state.delete().where(state.c.key.in_([store.LAST_EVENT_ID, store.DELIVERED_EVENT_ID])))
        connection.execute(state.insert(), [{"key": store.LAST_EVENT_ID, "value": events},
                                            {"key": store.DELIVERED_EVENT_ID, "value": events}])
        connection.execute(index_state.delete().where(index_state.c.key == store.INDEXED_EVENT_ID))
        connection.execute(index_state.insert(), [{"key": store.INDEXED_EVENT_ID, "value": events}])
    engine.dispose()
    return dict(counts)


def seed_sends(settings: Settings, campaigns: dict[str, tuple[str, str]], sends: int, users: int, now: datetime,
               rng: random.Random) -> None:
    """campaigns: id -> (name, channel). Sends in campaign's table and delivery's, as they end up."""
    from herald_services.campaign.store import SendRecord as CampaignSend
    from herald_services.delivery.store import SEND

    ids = sorted(campaigns)
    start = now - timedelta(days=30)
    step = (now - start) / sends
    campaign_rows, delivery_rows = [], []
    outcomes = {"sent": "accepted by the provider", "failed": "550 mailbox unavailable",
                "suppressed": "unsubscribed", "cancelled": "cancel_if"}
    for number in range(sends):
        campaign_id = ids[number % len(ids)]
        _, channel = campaigns[campaign_id]
        user = rng.randrange(users)
        status = rng.choices(list(outcomes), [85, 5, 7, 3])[0]
        created = start + step * number
        send_id = f"s{number:08d}"
        sent_at = created + timedelta(seconds=5) if status in ("sent", "failed") else None
        campaign_rows.append({
            "id": send_id, "workspace_id": "default", "campaign_id": campaign_id, "version": 1, "confirmed_version": 1,
            "profile_id": f"p{user:07d}", "user_id": f"user-{user}", "channel": channel, "trigger_event_id": str(number),
            "trigger_name": "x", "trigger_properties": "{}", "triggered_at": created, "trigger_at": created,
            "settle_until": None, "due_at": created, "status": status, "outcome": outcomes[status], "sent_at": sent_at,
            "handed_off": True, "created_at": created,
        })
        delivery_rows.append({
            "id": send_id, "workspace_id": "default", "campaign_id": campaign_id, "profile_id": f"p{user:07d}",
            "user_id": f"user-{user}", "channel": channel, "trigger_at": created, "delay_seconds": 0, "settle_seconds": 0,
            "window": None, "fallback_timezone": "", "timezone": "", "ready_at": created, "due_at": created,
            "wake_at": None, "status": status, "outcome": outcomes[status], "sent_at": sent_at, "attempts": 1,
            "message": None, "claimed_by": None, "lease_until": None, "created_at": created, "updated_at": created,
        })
    engine = create_service_engine(settings, "campaign")
    insert(engine, CampaignSend.__table__, campaign_rows)
    engine.dispose()
    engine = create_service_engine(settings, "delivery")
    insert(engine, SEND, delivery_rows)
    engine.dispose()


def apply_campaigns(env: dict[str, str], folder: Path) -> None:
    for n in range(8):
        channel = CHANNELS[n % len(CHANNELS)]
        path = folder / f"campaign-{n}.yaml"
        path.write_text(CAMPAIGN.format(n=n, event=f"[Segment] Bench Trigger {n}", channel=channel, fields=FIELDS[channel]))
        herald("campaigns", "apply", "-f", str(path), "--draft", env=env)


def campaign_ids(settings: Settings) -> dict[str, tuple[str, str]]:
    from sqlalchemy import text

    engine = create_service_engine(settings, "campaign")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, name FROM campaign")).all()
    engine.dispose()
    return {campaign_id: (name, CHANNELS[int(name.rsplit(" ", 1)[1]) % len(CHANNELS)]) for campaign_id, name in rows}


# ---- measuring ---------------------------------------------------------------------------------


def sign_in(client: httpx.Client) -> None:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/login", data={"token": ADMIN_TOKEN, "csrf_token": token})
    assert answer.status_code == 303, answer.text


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure(client: httpx.Client, pages: dict[str, list[str]]) -> dict[str, list[float]]:
    timings: dict[str, list[float]] = defaultdict(list)
    for _ in range(2):  # warm the caches and connections once per page
        for paths in pages.values():
            client.get(paths[0])
    for page, paths in pages.items():
        for path in paths:
            started = time.perf_counter()
            answer = client.get(path)
            elapsed = (time.perf_counter() - started) * 1000
            if answer.status_code != 200:
                raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:500]}")
            timings[page].append(elapsed)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--sends", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=40, help="requests per page")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="herald-bench-console-"))
    data_dir = folder / "var"
    env = environment(data_dir)
    settings = Settings(data_dir=data_dir, database_url=None)
    log = folder / "suite.log"
    rng = random.Random(12)
    now = datetime.now(UTC)

    started = time.monotonic()
    herald("migrate", env=env)
    say(f"seeding {args.users:,} users, {args.events:,} events in {folder} ...")
    seed_identity(settings, args.users, now)
    counts = seed_ingest(settings, args.events, args.users, now, rng)
    suite = Suite(env, folder / "suite-seeding.log")
    try:
        apply_campaigns(env, folder)
    finally:
        suite.stop()
    campaigns = campaign_ids(settings)
    say(f"seeding {args.sends:,} sends ...")
    seed_sends(settings, campaigns, args.sends, args.users, now, rng)
    seeded = time.monotonic() - started
    emit("console_bench_seeded", {"events": args.events, "users": args.users, "sends": args.sends},
         seconds=round(seeded, 1))

    suite = Suite(env, log)
    try:
        n = args.requests
        names = sorted(counts, key=counts.get)
        users = [rng.randrange(args.users) for _ in range(n)]
        campaign_names = sorted(name for name, _ in campaigns.values())
        with httpx.Client(base_url=suite.url, timeout=30) as client:
            sign_in(client)
            first = client.get("/sends?status=sent")
            found = re.search(r'href="(/sends\?[^"]*before=[^"]+)" rel="next"', first.text)
            if not found:
                raise SystemExit(f"/sends?status=sent has no next page ({first.status_code}):\n{first.text[-3000:]}")
            cursor = found.group(1).replace("&amp;", "&")
            pages = {
                "events": ["/events"] * n,
                "event": ["/events/" + quote(names[i % len(names)], safe="") for i in range(n)],  # rare to frequent
                "users_search": [f"/users?q=user{u}@bench.example" for u in users],
                "user": [f"/users/user-{u}" for u in users],
                "sends": ["/sends"] * n,
                "sends_by_status": [f"/sends?status={('sent', 'failed', 'suppressed', 'cancelled')[i % 4]}" for i in range(n)],
                "sends_by_campaign": [f"/sends?campaign={quote(campaign_names[i % len(campaign_names)])}" for i in range(n)],
                "sends_by_channel": [f"/sends?channel={CHANNELS[i % len(CHANNELS)]}" for i in range(n)],
                "sends_next_page": [cursor] * n,
                "campaigns": ["/campaigns"] * n,
                "campaign": [f"/campaigns/{quote(campaign_names[i % len(campaign_names)])}" for i in range(n)],
                "campaign_editor": [f"/campaigns/{quote(campaign_names[i % len(campaign_names)])}/edit" for i in range(n)],
            }
            timings = measure(client, pages)
    finally:
        suite.stop()
    every = []
    for page, values in timings.items():
        every += values
        emit("console_page_p95_ms", round(percentile(values, 0.95), 1), page=page, p50_ms=round(percentile(values, 0.5), 1),
             requests=len(values), target_ms=TARGET_MS)
    overall = percentile(every, 0.95)
    emit("console_page_p95_ms", round(overall, 1), page="overall", requests=len(every), target_ms=TARGET_MS,
         events=args.events, users=args.users, sends=args.sends)
    return 0 if overall < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())

"""Simulate benchmark: events replayed per second by `herald campaigns simulate`, and the
campaign process's memory for a short and a long period.

    python bench/simulate.py [--events 1000000] [--users 10000] [--days 7] [--quick]

identity, ingest and campaign run as `herald up` runs them (`python -m herald_services.<name>.main`,
SQLite in a temporary data folder, migrated first). identity gets the users through Identify
calls; the event log is written straight into ingest's database, as ingest records it (the
write path has its own benchmark, bench/ingest.py), with ingest's outbox and per-user index
cursors at its end so neither works during the replay.

The events: 20 names over the users, spread evenly over `--days`; 10% trigger the simulated
campaign (filters on the event and the user, a 1 h delay, a delivery window, cancel_if and a
2-day goal), 3% are its goal event, 2% its cancel event, the rest match nothing (ingest leaves
them out of the pages, and counts them). The replay is one Simulate call, timed from the CLI's
side of it. Memory: the campaign process's peak RSS (VmHWM) after replaying the last 3 days
only (past the goal's 2-day window, so the users in flight reach the whole run's), then after
the whole period in a fresh process: with the same users in flight and more than twice the
events, the two stay close; `users_in_flight_peak` says how many users the replay held at most.

First, the replay alone in this process (services/campaign/simulation.py with the same event
mix, users handed in as identity would): `simulate_domain_events_per_s`, and tracemalloc's peak
for the period and for one twice as long at the same rate, which follows the users in flight,
not the events.
Prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from herald.campaign.v1 import campaign_pb2
from herald.identity.v1 import identity_pb2
from herald_common import access
from herald_common.access import Caller
from herald_common.clients import CampaignClient, IdentityClient
from herald_common.protoconv import set_timestamp
from herald_common.settings import Settings

sys.path.insert(0, str(ROOT / "bench"))
from campaigns import CANCEL, FILTERED, GOAL, OTHER, TRIGGER, emit, free_port  # noqa: E402

# The filtered campaign of bench/campaigns.py and its event names: the same campaign the live
# OnEvents benchmark measures is the one replayed here.
CAMPAIGN = FILTERED.format(name="Bench simulated", event=TRIGGER, cancel=CANCEL, goal=GOAL)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def caller(folder: Path) -> Caller:
    """What the bench's calls carry: identity's Identify is the gateway's (internal token), the
    Simulate call the CLI's (admin token); the tokens are those the services keep in the data dir."""
    tokens = Settings(data_dir=folder)
    return Caller(admin_token=access.admin_token(tokens)[0], internal_token=access.internal_token(tokens)[0])


async def identify_users(address: str, users: int, who: Caller) -> list[str]:
    identity = IdentityClient(address, 120, caller=who)
    for _ in range(300):
        try:
            await identity.ensure_workspace(workspace_id="default", name="Default", write_key="wk_bench")
            break
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.2)
    rng = random.Random(3)
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", ""]
    profiles: list[str] = []
    now = datetime.now(UTC)
    for start in range(0, users, 500):
        request = identity_pb2.IdentifyRequest(workspace_id="default")
        for n in range(start, min(users, start + 500)):
            traits = {"email": f"user-{n}@example.com", "first_name": f"U{n}",
                      "plan": rng.choice(["Pro", "Free", "Enterprise"])}
            zone = rng.choice(zones)
            if zone:
                traits["timezone"] = zone
            call = request.calls.add(message_id=f"id-{n}", user_id=f"user-{n}", traits_json=orjson.dumps(traits),
                                     context_json=b"{}")
            set_timestamp(call.timestamp, now)
        response = await identity.identify(request)
        profiles += [result.profile_id for result in response.results]
    await identity.close()
    return profiles


def write_event_log(folder: Path, profiles: list[str], events: int, days: float, until: datetime) -> None:
    from herald_common.db import create_service_engine
    from herald_services.ingest import store
    from sqlalchemy import update

    settings = Settings(data_dir=folder)
    engine = create_service_engine(settings, "ingest")
    rng = random.Random(7)
    start = until - timedelta(days=days)
    step = timedelta(days=days) / events
    with engine.begin() as connection:
        rows = []
        for n in range(1, events + 1):
            roll = rng.random()
            name = TRIGGER if roll < 0.10 else (GOAL if roll < 0.13 else (CANCEL if roll < 0.15 else rng.choice(OTHER)))
            user = rng.randrange(len(profiles))
            properties = {"price": rng.choice([10, 50, 99.5, "60"]), "locale": rng.choice(["EU", "US", "UK"]),
                          "cart_id": f"cart-{user}-{rng.randrange(3)}"}
            at = start + step * n
            rows.append((n, "default", f"bench-{n}", "track", name, profiles[user], f"user-{user}", None,
                         orjson.dumps(properties).decode(), "{}", at, at))
            if len(rows) == 20_000:
                store.insert_events(connection, rows)
                rows = []
        if rows:
            store.insert_events(connection, rows)
        for key in (store.LAST_EVENT_ID, store.DELIVERED_EVENT_ID):
            connection.execute(update(store.STATE).where(store.STATE.c.key == key).values(value=events))
        connection.execute(update(store.EVENT_BY_PROFILE_STATE)
                           .where(store.EVENT_BY_PROFILE_STATE.c.key == store.INDEXED_EVENT_ID).values(value=events))
    engine.dispose()


async def simulate(address: str, since: datetime, until: datetime, who: Caller,
                   pids: dict[str, int]) -> tuple[campaign_pb2.SimulateResponse, float, dict[str, float]]:
    """One Simulate call: its response, its wall seconds, and the CPU seconds each service
    process spent during it."""
    campaign = CampaignClient(address, 3600, caller=who)
    for _ in range(300):
        try:
            await campaign.stub.ListCampaigns(campaign_pb2.ListCampaignsRequest(workspace_id="default"),
                                              metadata=campaign.metadata("ListCampaigns"))
            break
        except grpc.aio.AioRpcError:
            await asyncio.sleep(0.2)
    request = campaign_pb2.SimulateRequest(workspace_id="default", source_yaml=CAMPAIGN)
    set_timestamp(request.since, since)
    set_timestamp(request.until, until)
    cpu_before = {service: cpu_seconds(pid) for service, pid in pids.items()}
    started = time.monotonic()
    response = await campaign.stub.Simulate(request, timeout=3600, metadata=campaign.metadata("Simulate"))
    elapsed = time.monotonic() - started
    cpu = {service: cpu_seconds(pid) - cpu_before[service] for service, pid in pids.items()}
    await campaign.close()
    return response, elapsed, cpu


def start(module: str, env: dict, log: Path | None = None) -> subprocess.Popen:
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, "-m", f"herald_services.{module}.main"], env=env, stdout=out, stderr=out)


def domain_run(events: int, users: int, days: float, *, trace: bool = True) -> dict:
    """The replay alone (services/campaign/simulation.py), in this process: the same event mix,
    the users given as identity would give them, timed, with tracemalloc's peak."""
    import tracemalloc

    from herald_services.campaign.simulation import SimEvent, Simulation, SimUser
    from herald_services.campaign.spec import parse_campaign

    rng = random.Random(11)
    people = {}
    for n in range(users):
        attributes = {"email": f"user-{n}@example.com", "plan": rng.choice(["Pro", "Free", "Enterprise"])}
        zone = rng.choice(["Europe/Berlin", "America/New_York", "Asia/Tokyo", ""])
        if zone:
            attributes["timezone"] = zone
        people[f"p{n}"] = SimUser(user_id=f"user-{n}", attributes=attributes)
    until = datetime.now(UTC)
    start, step = until - timedelta(days=days), timedelta(days=days) / events

    def pages():
        page = []
        for n in range(1, events + 1):
            roll = rng.random()
            if roll >= 0.15:
                continue  # ingest leaves these out of the pages and counts them
            name = TRIGGER if roll < 0.10 else (GOAL if roll < 0.13 else CANCEL)
            user = rng.randrange(users)
            at = start + step * n
            page.append(SimEvent(str(n), name, f"p{user}", f"user-{user}",
                                 {"price": rng.choice([10, 50, 99.5, "60"]), "locale": rng.choice(["EU", "US", "UK"]),
                                  "cart_id": f"cart-{user}-{rng.randrange(3)}"}, at, at))
            if len(page) == 5000:
                yield page
                page = []
        yield page

    simulation = Simulation(parse_campaign(CAMPAIGN), campaign_id="bench", settle=timedelta(seconds=60))
    if trace:
        tracemalloc.start()
    elapsed = cpu = 0.0
    for page in pages():  # made outside the timing; the replay's own allocations traced
        for profile in simulation.unknown_users(page):
            simulation.users[profile] = people[profile]
        started, cpu_started = time.perf_counter(), time.process_time()
        simulation.replay(page)
        elapsed += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
    result = simulation.finish()
    peak = 0
    if trace:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return {"events": events, "seconds": elapsed, "cpu_seconds": cpu, "peak_mb": peak / 2**20,
            "users_in_flight_peak": result.users_in_flight_peak, "would_send": result.would_send}


async def main_async(args) -> int:
    # The same event rate over the period and over twice as long: both span weekends (the window
    # holds Friday evening's sends until Monday) and outlast the 2-day goal windows, so the users
    # in flight are alike while the events double.
    for label, days in ((f"{args.days:g}d", args.days), (f"{2 * args.days:g}d", 2 * args.days)):
        run = domain_run(round(args.events * days / args.days), args.users, days)
        emit(f"simulate_domain_peak_mb_{label}", round(run["peak_mb"], 1), unit="MB (tracemalloc peak)",
             events=run["events"], users_in_flight_peak=run["users_in_flight_peak"])
    if args.domain_only:
        return 0
    run = domain_run(args.events, args.users, args.days, trace=False)
    emit("simulate_domain_events_per_s", round(run["events"] / run["seconds"]), unit="events/s",
         events=run["events"], seconds=round(run["seconds"], 2), cpu_seconds=round(run["cpu_seconds"], 2),
         cpu_us_per_event=round(run["cpu_seconds"] / run["events"] * 1e6, 2),
         note="the replay alone, in process: no gRPC, no database")
    with tempfile.TemporaryDirectory(prefix="herald-bench-simulate-") as name:
        folder = Path(name)
        ports = {service: free_port() for service in ("identity", "ingest", "campaign", "delivery")}
        env = {**os.environ, "HERALD_DATA_DIR": str(folder), "HERALD_LOG_LEVEL": "info",
               **{f"HERALD_{s.upper()}_ADDRESS": f"127.0.0.1:{p}" for s, p in ports.items()}}
        env.pop("HERALD_DATABASE_URL", None)
        subprocess.run([sys.executable, "-m", "herald_cli", "migrate"], env=env, check=True, capture_output=True)
        identity = start("identity", env)
        processes = [identity]
        try:
            who = caller(folder)
            profiles = await identify_users(f"127.0.0.1:{ports['identity']}", args.users, who)
            until = datetime.now(UTC).replace(microsecond=0)
            started = time.monotonic()
            write_event_log(folder, profiles, args.events, args.days, until)
            emit("simulate_setup_seconds", round(time.monotonic() - started, 1), events=args.events, users=args.users)
            processes.append(start("ingest", env))
            figures = {}
            short = min(3.0, args.days / 2)
            for label, since in (("short", until - timedelta(days=short)), ("whole", until - timedelta(days=args.days))):
                campaign = start("campaign", env, args.campaign_log)  # a fresh process per run: its peak is that run's
                try:
                    pids = {"campaign": campaign.pid, "ingest": processes[1].pid, "identity": identity.pid}
                    response, elapsed, cpu = await simulate(f"127.0.0.1:{ports['campaign']}", since, until, who, pids)
                    figures[label] = (response, elapsed, peak_rss_mb(campaign.pid), cpu)
                finally:
                    campaign.terminate()
                    campaign.wait(10)
            response, elapsed, _, cpu = figures["whole"]
            emit("simulate_events_per_s", round(response.events_replayed / elapsed), unit="events/s",
                 target=100_000, events=response.events_replayed, seconds=round(elapsed, 2),
                 triggered=response.triggered, entered=response.entered, would_send=response.would_send,
                 conversions=sum(g.conversions for g in response.goals), load_average=os.getloadavg()[0])
            # CPU time is steadier than wall time on a shared machine: the figure to compare runs by.
            emit("simulate_cpu_us_per_event", round(sum(cpu.values()) / response.events_replayed * 1e6, 2),
                 unit="CPU microseconds per event (campaign + ingest + identity)",
                 **{f"{service}_cpu_s": round(seconds, 2) for service, seconds in cpu.items()})
            emit("simulate_cpu_events_per_s", round(response.events_replayed / sum(cpu.values())),
                 unit="events per CPU second (all three processes)")
            for label, (response, elapsed, rss, _) in figures.items():
                emit(f"simulate_peak_rss_mb_{label}", round(rss, 1), unit="MB", events=response.events_replayed,
                     users_in_flight_peak=response.users_in_flight_peak, seconds=round(elapsed, 2))
            small, large = figures["short"], figures["whole"]
            emit("simulate_memory_ratio", round(large[2] / small[2], 3), unit="ratio",
                 events_ratio=round(large[0].events_replayed / max(1, small[0].events_replayed), 2),
                 note="peak RSS of the whole period over that of its last 3 days")
        finally:
            for process in processes:
                process.terminate()
                process.wait(10)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=7)
    parser.add_argument("--campaign-log", type=Path, default=None, help="append campaign's log to this file")
    parser.add_argument("--domain-only", action="store_true", help="only the replay's memory, in process")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (20,000 events, 1,000 users)")
    args = parser.parse_args()
    if args.quick:
        args.events, args.users = min(args.events, 20_000), min(args.users, 1_000)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

"""Campaign benchmark: trigger evaluation throughput through OnEvents with 10 and with 10,000
live campaigns.

    python bench/campaigns.py [--events 200000] [--batch 500] [--inflight 4] [--rounds 6] [--quick]

For each size, a fresh campaign service is started as `herald up` starts it
(`python -m herald_services.campaign.main`, SQLite in a temporary data folder, migrated first),
with a delivery stand-in in this process (a real gRPC server answering delivery's Schedule).

The campaign mix is the same in both runs except for its size: 4 campaigns are triggered by the
benchmark's events (2 with filters on event properties and user attributes, 2 instant; goals and
a cancel condition on other benchmark events), and every other campaign is triggered by events
the benchmark never sends (half of them with filters). So per-event work is the same and only
the number of campaigns grows: the ratio shows whether evaluation scans campaigns.

The benchmark's events: 20 names over 10,000 users; 10% are trigger events, 5% goal or cancel
events, the rest match nothing. They go to OnEvents in batches (as ingest's outbox sends them),
a few requests in flight, serialised before the clock starts. Before it starts, the WAL that
applying the campaigns left is checkpointed, so neither size pays for its setup's writes.
Prints one JSON line per figure. Every call carries its token, as in production; --tls adds
mutual TLS between every process (bench/security.py compares the two with the code before tokens).

What recording decision steps (herald explain) costs: the same events go through two services
with the small catalogue side by side, HERALD_EXPLAIN=on and off, in --rounds slices taken in
turn (which goes first alternates). `explain_overhead_ratio` is 1 - on/off of the best slice
rate of each; `explain_cpu_overhead_ratio` the same from the services' CPU seconds per event
(steadier when other work shares the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import orjson

ROOT = Path(__file__).resolve().parent.parent
SECURITY = {False: "tokens", True: "tokens+mtls"}
sys.path.insert(0, str(ROOT))

from herald.campaign.v1 import campaign_pb2
from herald.delivery.v1 import delivery_pb2, delivery_pb2_grpc
from herald_common import access
from herald_common.access import bearer
from herald_common import tls
from herald_common.grpcclient import open_channel
from herald_common.grpcserver import Registration, create_server, mark_serving
from herald_common.settings import Settings

TRIGGER = "[Segment] Bench Added"
GOAL = "[Segment] Bench Purchased"
CANCEL = "[Segment] Bench Emptied"
OTHER = [f"[Segment] Bench Other {n}" for n in range(17)]

FILTERED = """
name: {name}
trigger: {{event: "{event}"}}
filters:
  any_of:
    - all_of:
        - {{source: event, property: price, op: gt, value: 45}}
        - {{source: user, property: plan, op: neq, value: Enterprise}}
    - all_of:
        - {{source: event, property: locale, op: in, value: [EU, UK]}}
delay: 1h
delivery_window: {{days: [mon, tue, wed, thu, fri], start: "09:00", end: "18:00", fallback_timezone: Europe/Berlin}}
message: {{channel: email, subject: "Hi {{{{ first_name }}}}", body: "Costs {{{{ event.price }}}}"}}
cancel_if:
  - event: "{cancel}"
    match_trigger: [cart_id]
goals:
  - {{name: Bought, primary: true, event: "{goal}", within: 2d}}
"""

INSTANT = """
name: {name}
trigger: {{event: "{event}"}}
message: {{channel: push, title: "Welcome", body: "{{{{ event.plan | default: 'free' }}}} plan"}}
goals:
  - {{name: Came back, event: "{goal}", within: 1d}}
"""


class SinkDelivery(delivery_pb2_grpc.DeliveryServiceServicer):
    def __init__(self) -> None:
        self.ids: set[str] = set()

    @property
    def scheduled(self) -> int:  # distinct sends (a hand-over may be repeated; delivery keeps the first)
        return len(self.ids)

    async def Schedule(self, request, context):
        self.ids.update(send.id for send in request.sends)
        return delivery_pb2.ScheduleResponse(sends=request.sends)

    async def Cancel(self, request, context):
        return delivery_pb2.CancelResponse(cancelled=1)

    async def CancelSends(self, request, context):
        return delivery_pb2.CancelResponse(cancelled=len(request.send_ids))


def emit(figure: str, value, **extra) -> None:
    print(json.dumps({"figure": figure, "value": value, **extra}), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def campaign_files(count: int) -> list[str]:
    files = [
        FILTERED.format(name="Bench filtered A", event=TRIGGER, cancel=CANCEL, goal=GOAL),
        FILTERED.format(name="Bench filtered B", event=TRIGGER, cancel=CANCEL, goal=GOAL),
        INSTANT.format(name="Bench instant A", event=TRIGGER, goal=GOAL),
        INSTANT.format(name="Bench instant B", event=OTHER[0], goal=GOAL),
    ]
    for n in range(count - len(files)):
        event = f"[Segment] Elsewhere {n % 500}"
        template = FILTERED if n % 2 == 0 else INSTANT
        files.append(template.format(name=f"Elsewhere {n}", event=event, cancel=f"[Segment] Elsewhere cancel {n % 50}",
                                     goal=f"[Segment] Elsewhere goal {n % 50}"))
    return files


def make_batches(events: int, batch: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    batches = []
    serial = 0
    now = time.time()
    for _ in range(events // batch):
        request = campaign_pb2.OnEventsRequest()
        for _ in range(batch):
            serial += 1
            roll = rng.random()
            name = TRIGGER if roll < 0.10 else (GOAL if roll < 0.13 else (CANCEL if roll < 0.15 else rng.choice(OTHER[1:])))
            user = rng.randrange(10_000)
            properties = {"price": rng.choice([10, 50, 99.5, "60"]), "locale": rng.choice(["EU", "US", "UK"]),
                          "cart_id": f"cart-{user}-{rng.randrange(3)}", "Coupon used": rng.random() < 0.5}
            event = request.events.add(
                id=str(serial), workspace_id="default", message_id=f"bench-{serial}", type="track", name=name,
                profile_id=f"p{user:05d}", user_id=f"user-{user}", properties_json=orjson.dumps(properties),
                sequence=serial,
            )
            event.timestamp.FromSeconds(int(now))
            event.received_at.FromSeconds(int(now))
        batches.append(request.SerializeToString())
    return batches


def security_env(folder: Path, use_tls: bool) -> dict[str, str]:
    """--tls: mutual TLS between every process of the run, from a CA made for it (tests/fakes/tls)."""
    if not use_tls:
        return {}
    from tests.fakes.tls import suite_pki

    pki = suite_pki(folder / "pki")
    return {"HERALD_TLS_CERT_FILE": str(pki.cert), "HERALD_TLS_KEY_FILE": str(pki.key),
            "HERALD_TLS_CLIENT_CA_FILE": str(pki.ca)}


class CampaignUnderTest:
    """One campaign service as `herald up` starts it (its own SQLite data folder, migrated
    first), with a delivery stand-in answering Schedule in this process, and a channel to it."""

    def __init__(self, folder: Path, use_tls: bool = False, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.use_tls = use_tls
        self.extra_env = env or {}
        self.delivery = SinkDelivery()

    async def start(self) -> None:
        folder = self.folder
        tls_env = security_env(folder, self.use_tls)
        # The run's tokens (and certificates): the delivery stand-in checks them as delivery does.
        own = Settings(data_dir=folder, **{key.removeprefix("HERALD_").lower(): value for key, value in tls_env.items()})
        name = delivery_pb2.DESCRIPTOR.services_by_name["DeliveryService"].full_name
        self.server, delivery_port, health = create_server(
            "127.0.0.1:0", [Registration(delivery_pb2_grpc.add_DeliveryServiceServicer_to_server, self.delivery, name)],
            settings=own,
        )
        await self.server.start()
        await mark_serving(health, [name])
        port = free_port()
        env = {
            **os.environ, "HERALD_DATA_DIR": str(folder), "HERALD_CAMPAIGN_ADDRESS": f"127.0.0.1:{port}",
            "HERALD_DELIVERY_ADDRESS": f"127.0.0.1:{delivery_port}", "HERALD_LOG_LEVEL": "warning",
            "HERALD_IDENTITY_ADDRESS": f"127.0.0.1:{free_port()}", **tls_env, **self.extra_env,
        }
        env.pop("HERALD_DATABASE_URL", None)
        subprocess.run([sys.executable, "-m", "herald_cli", "migrate"], env=env, check=True, capture_output=True)
        self.service = subprocess.Popen([sys.executable, "-m", "herald_services.campaign.main"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.channel = open_channel(f"127.0.0.1:{port}", tls.channel_credentials(own))
        await asyncio.wait_for(self.channel.channel_ready(), 60)
        # What its real callers send: the CLI the admin token, ingest the internal one.
        self.as_admin = (bearer(access.admin_token(own)[0]),)
        self.as_ingest = (bearer(access.internal_token(own)[0]),)
        self.on_events = self.channel.unary_unary("/herald.campaign.v1.CampaignService/OnEvents")

    async def stop(self) -> None:
        await self.channel.close()
        self.service.terminate()
        self.service.wait(10)
        await self.server.stop(None)

    async def apply(self, files: list[str]) -> float:
        """Applies the campaigns, 8 at a time; returns the seconds it took. The WAL this leaves
        is then checkpointed, so timing starts with an empty one."""
        apply = self.channel.unary_unary("/herald.campaign.v1.CampaignService/ApplyCampaign",
                                         request_serializer=campaign_pb2.ApplyCampaignRequest.SerializeToString,
                                         response_deserializer=campaign_pb2.ApplyCampaignResponse.FromString)
        started = time.monotonic()
        queue = list(files)

        async def applier():
            while queue:
                request = campaign_pb2.ApplyCampaignRequest(workspace_id="default", source_yaml=queue.pop())
                await apply(request, timeout=60, metadata=self.as_admin)

        await asyncio.gather(*(applier() for _ in range(8)))
        seconds = time.monotonic() - started
        _checkpoint(self.folder / "campaign.db")
        return seconds

    async def send(self, batches: list[bytes], inflight: int) -> float:
        """OnEvents for every batch, `inflight` requests at a time; returns the seconds taken."""
        pending = list(reversed(batches))
        started = time.monotonic()

        async def sender():
            while pending:
                await self.on_events(pending.pop(), timeout=60, metadata=self.as_ingest)

        await asyncio.gather(*(sender() for _ in range(inflight)))
        return time.monotonic() - started

    async def settle(self, poll: float = 1.0) -> int:
        """Sends go to delivery in the background: waits until the count stops moving."""
        previous, deadline = -1, time.monotonic() + 30
        while self.delivery.scheduled != previous and time.monotonic() < deadline:
            previous = self.delivery.scheduled
            await asyncio.sleep(poll)
        return self.delivery.scheduled

    def cpu_seconds(self) -> float:
        """CPU (user + system, every thread) the service process used so far (Linux /proc)."""
        fields = Path(f"/proc/{self.service.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def step_rows(self) -> int:
        import sqlite3

        with sqlite3.connect(self.folder / "campaign.db", timeout=30) as connection:
            return connection.execute("SELECT count(*) FROM decision_step").fetchone()[0]


def warmup_of(batches: list[bytes]) -> list[bytes]:
    return batches[: max(1, len(batches) // 20)]


def fresh_ids(batches: list[bytes]) -> list[bytes]:
    """The batches with event ids the warm-up did not use, so nothing is skipped as already processed."""
    return [_renumber(body, 10_000_000) for body in batches]


def event_count(batches: list[bytes]) -> int:
    return sum(len(campaign_pb2.OnEventsRequest.FromString(body).events) for body in batches)


async def run_size(count: int, batches: list[bytes], inflight: int, folder: Path, use_tls: bool = False) -> dict:
    service = CampaignUnderTest(folder, use_tls)
    await service.start()
    try:
        apply_seconds = await service.apply(campaign_files(count))
        for body in warmup_of(batches):
            await service.on_events(body, timeout=60, metadata=service.as_ingest)
        measured = fresh_ids(batches)
        elapsed = await service.send(measured, inflight)
        events = event_count(measured)
        scheduled = await service.settle()
        return {"events_per_s": events / elapsed, "events": events, "seconds": elapsed,
                "apply_seconds": apply_seconds, "scheduled": scheduled}
    finally:
        await service.stop()


async def run_explain(count: int, batches: list[bytes], inflight: int, folder: Path, rounds: int,
                      use_tls: bool = False) -> dict:
    """The same events through two campaign services side by side, one recording decision steps
    (HERALD_EXPLAIN=on) and one not (off), in `rounds` slices taken in turn, the first of each
    slice alternating between them, so load from elsewhere on the machine falls on both alike.
    Each slice is timed from the caller (wall) and by the service's CPU, read once its sends
    reached delivery (so the hand-over's work is in both)."""
    services = {mode: CampaignUnderTest(folder / mode, use_tls, {"HERALD_EXPLAIN": mode}) for mode in ("on", "off")}
    for mode, service in services.items():
        (folder / mode).mkdir()
        await service.start()
    try:
        files = campaign_files(count)
        for service in services.values():
            await service.apply(files)
            for body in warmup_of(batches):
                await service.on_events(body, timeout=60, metadata=service.as_ingest)
            await service.settle(poll=0.25)
        measured = fresh_ids(batches)
        rounds = min(rounds, len(measured))
        per_round = len(measured) // rounds
        slices = [measured[start:start + per_round] for start in range(0, per_round * rounds, per_round)]
        slices[-1].extend(measured[per_round * rounds:])
        rates: dict[str, list[float]] = {"on": [], "off": []}
        cpu = {"on": 0.0, "off": 0.0}
        for number, part in enumerate(slices):
            events = event_count(part)
            for mode in (("on", "off") if number % 2 == 0 else ("off", "on")):
                service = services[mode]
                before = service.cpu_seconds()
                elapsed = await service.send(part, inflight)
                await service.settle(poll=0.25)
                cpu[mode] += service.cpu_seconds() - before
                rates[mode].append(events / elapsed)
        events = event_count(measured)
        return {"rates": rates, "cpu": cpu, "events": events,
                "scheduled": {mode: service.delivery.scheduled for mode, service in services.items()},
                "step_rows": {mode: service.step_rows() for mode, service in services.items()}}
    finally:
        for service in services.values():
            await service.stop()


def _checkpoint(database: Path) -> None:
    """Moves what applying left in the WAL into the database file before the clock starts, so
    both sizes begin evaluating with an empty WAL: otherwise the larger catalogue's setup
    writes are checkpointed during, and counted against, its evaluation."""
    import sqlite3

    with sqlite3.connect(database, timeout=30) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _renumber(body: bytes, offset: int) -> bytes:
    request = campaign_pb2.OnEventsRequest.FromString(body)
    for event in request.events:
        event.id = str(int(event.id) + offset)
    return request.SerializeToString()


async def main_async(args) -> int:
    batches = make_batches(args.events, args.batch)
    results = {}
    sizes = (10, 200) if args.quick else tuple(args.sizes)
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"herald-bench-campaigns-{size}-") as folder:
            results[size] = await run_size(size, batches, args.inflight, Path(folder), args.tls)
        r = results[size]
        emit(f"campaign_eval_events_per_s_{size}", round(r["events_per_s"]), unit="events/s", events=r["events"],
             seconds=round(r["seconds"], 2), campaigns=size, sends_scheduled=r["scheduled"],
             apply_seconds=round(r["apply_seconds"], 1), security=SECURITY[args.tls])
    small, large = (results[s]["events_per_s"] for s in sizes)
    emit("campaign_scaling_ratio", round(large / small, 3), unit="ratio", target=0.9)

    with tempfile.TemporaryDirectory(prefix="herald-bench-campaigns-explain-") as folder:
        r = await run_explain(sizes[0], batches, args.inflight, Path(folder), args.rounds, args.tls)
    on, off = max(r["rates"]["on"]), max(r["rates"]["off"])
    cpu_on, cpu_off = (r["cpu"][mode] / r["events"] * 1e6 for mode in ("on", "off"))
    emit("explain_overhead_ratio", round(1 - on / off, 3), unit="ratio", target=0.10,
         on_events_per_s=round(on), off_events_per_s=round(off),
         rounds=args.rounds, events=r["events"], campaigns=sizes[0],
         on_rates=[round(rate) for rate in r["rates"]["on"]], off_rates=[round(rate) for rate in r["rates"]["off"]],
         sends_scheduled_on=r["scheduled"]["on"], sends_scheduled_off=r["scheduled"]["off"],
         step_rows_on=r["step_rows"]["on"], step_rows_off=r["step_rows"]["off"], security=SECURITY[args.tls])
    # CPU is steadier than wall rates on a shared machine: the same ratio, from the service's CPU per event.
    emit("explain_cpu_overhead_ratio", round(1 - cpu_off / cpu_on, 3), unit="ratio", target=0.10,
         on_cpu_us_per_event=round(cpu_on, 1), off_cpu_us_per_event=round(cpu_off, 1), events=r["events"])
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--inflight", type=int, default=4)
    parser.add_argument("--sizes", type=int, nargs=2, default=[10, 10_000], metavar=("SMALL", "LARGE"),
                        help="the two catalogue sizes compared (default 10 and 10,000)")
    parser.add_argument("--rounds", type=int, default=6,
                        help="slices of the events for the explain on/off comparison, taken in turn (default 6)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (200 campaigns, few events)")
    parser.add_argument("--tls", action="store_true", default=os.environ.get("HERALD_BENCH_TLS") == "1",
                        help="mutual TLS between the processes (HERALD_BENCH_TLS=1); tokens are always checked")
    args = parser.parse_args()
    if args.quick:
        args.events = min(args.events, 5_000)
        args.rounds = min(args.rounds, 2)
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())

"""Delivery benchmark: a million pending sends, then dispatch to a real SMTP server.

    python bench/delivery.py [--pending 1000000] [--burst 20000] [--paced 10000] [--paced-rate 1000] [--quick]

1. Migrates a fresh data folder (`herald migrate`, SQLite) and starts delivery as users start it
   (`python -m herald_services.delivery.main`, configured by environment variables), with
   email going over SMTP to an aiosmtpd sink and Confirm/MarkSent answered by a scripted
   campaign that always says go; the sink and the campaign each run in their own process.
2. Schedules --pending sends due over the next three days (Schedule calls of 5,000) and reports
   delivery's resident memory: `delivery_rss_mb_1m_pending` (sends live in the database).
3. Burst: --burst sends all due at the same instant; `dispatch_sends_per_s` is how many the sink
   accepted per second from that instant until the last one. Then the same burst again with three
   frequency caps on every send (a rolling day, a rolling week on email, a calendar day; none
   reached, so every send is checked and counted and none is held back):
   `dispatch_sends_per_s_with_caps`, and its ratio to the plain burst (target: at least 0.9).
4. Paced: --paced sends due one after another at --paced-rate a second; lateness is the sink's
   accept time minus each send's due time: `dispatch_lateness_p99_s` (and p50).
5. Checks at the sink that every dispatched send arrived exactly once.

Prints one JSON object per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEDULE_BATCH = 5000


def emit(figure: str, value, unit: str, **extra) -> None:
    print(json.dumps({"figure": figure, "value": value, "unit": unit, **extra}), flush=True)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- the other processes --------------------------------------------------------------------


def run_sink(port: int, out: Path) -> None:
    """An aiosmtpd SMTP server that appends "<recipient> <accept time>" per message to out."""
    from aiosmtpd.controller import Controller

    file = open(out, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            accepted = time.time()
            for recipient in envelope.rcpt_tos:
                file.write(f"{recipient} {accepted:.6f}\n")
            return "250 2.0.0 accepted"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    while not stop["now"]:
        time.sleep(0.2)
    controller.stop()
    file.close()


def run_campaign(port: int) -> None:
    """campaign's Confirm (always go, one email to <send id>@bench.example) and MarkSent."""
    import uvloop
    from herald_common.testing import start_scripted_campaign

    async def serve() -> None:
        server, _, campaign = await start_scripted_campaign(f"127.0.0.1:{port}")
        go = campaign.go

        from herald.campaign.v1 import campaign_pb2

        caps = campaign_pb2.SendPolicy(frequency_caps=[
            campaign_pb2.FrequencyCap(channel="any", max=10, per_seconds=86_400, per="1d"),
            campaign_pb2.FrequencyCap(channel="email", max=20, per_seconds=7 * 86_400, per="7d"),
            campaign_pb2.FrequencyCap(channel="any", max=5, calendar_day=True, per="calendar_day"),
        ])

        def decide(send_id: str):
            answer = go(send_id, addresses=[("email", f"{send_id}@bench.example")], subject="Your cart", body="Come back",
                        timezone="Europe/Berlin")
            if send_id.startswith("capped-"):
                answer.policy.CopyFrom(caps)
            return answer

        campaign.decide = decide
        stopping = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stopping.set)
        await stopping.wait()
        await server.stop(None)

    uvloop.run(serve())


# ---- the driver --------------------------------------------------------------------------------


def rss_mb(pid: int) -> tuple[float, float]:
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sends(prefix: str, count: int, due_of) -> list:
    from herald.delivery.v1 import delivery_pb2
    from herald_common.protoconv import timestamp

    return [
        delivery_pb2.ScheduledSend(
            id=f"{prefix}{i}", workspace_id="default", campaign_id="bench", profile_id=f"p{i % 50_000}",
            user_id=f"u{i % 50_000}", channel="email", trigger_at=timestamp(due_of(i)),
        )
        for i in range(count)
    ]


async def schedule_all(client, prefix: str, count: int, due_of, concurrency: int = 2) -> float:
    started = time.perf_counter()
    queue = list(range(0, count, SCHEDULE_BATCH))

    async def worker():
        while queue:
            start = queue.pop(0)
            await client.schedule(sends(f"{prefix}{start}-", min(SCHEDULE_BATCH, count - start), lambda i, s=start: due_of(s + i)))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def read_sink(out: Path) -> list[tuple[str, float]]:
    if not out.exists():
        return []
    found = []
    for line in out.read_text().splitlines():
        recipient, _, at = line.rpartition(" ")
        if recipient:
            found.append((recipient.split("@", 1)[0], float(at)))
    return found


async def wait_for_sink(out: Path, count: int, process: subprocess.Popen, timeout: float) -> list[tuple[str, float]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        arrived = read_sink(out)
        if len(arrived) >= count:
            return arrived
        if process.poll() is not None:
            raise SystemExit(f"delivery exited with {process.returncode}")
        await asyncio.sleep(0.25)
    return read_sink(out)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def wait_for_port(port: int, process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a bench process exited with {process.returncode}; see {log_path}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            await asyncio.sleep(0.1)
    raise SystemExit(f"nothing answered on {port} within {timeout}s; see {log_path}")


async def run(args) -> int:
    from herald_common.clients import DeliveryClient

    folder = Path(args.data_dir or tempfile.mkdtemp(prefix="herald-bench-delivery-"))
    data_dir = folder / "var"
    sink_out = folder / "sink.txt"
    smtp_port, campaign_port, delivery_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(data_dir),
        HERALD_DELIVERY_ADDRESS=f"127.0.0.1:{delivery_port}",
        HERALD_CAMPAIGN_ADDRESS=f"127.0.0.1:{campaign_port}",
        HERALD_IDENTITY_ADDRESS=f"127.0.0.1:{free_port()}",
        HERALD_SMTP_HOST="127.0.0.1",
        HERALD_SMTP_PORT=str(smtp_port),
        HERALD_SMTP_FROM="bench@herald.example",
        HERALD_LOG_LEVEL="warning",
    )
    herald = Path(sys.executable).parent / "herald"
    subprocess.run([str(herald), "migrate"], env=env, check=True, capture_output=True)
    log_path = folder / "processes.log"
    log = open(log_path, "wb")  # noqa: SIM115
    helpers = [
        subprocess.Popen([sys.executable, __file__, "--role", "sink", str(smtp_port), str(sink_out)], env=env, stdout=log, stderr=log),
        subprocess.Popen([sys.executable, __file__, "--role", "campaign", str(campaign_port)], env=env, stdout=log, stderr=log),
    ]
    profile = ["-m", "cProfile", "-o", str(args.profile)] if args.profile else []
    delivery = subprocess.Popen([sys.executable, *profile, "-m", "herald_services.delivery.main"], env=env, stdout=log, stderr=log)
    from herald_common.access import Caller
    from herald_common.settings import Settings

    client = DeliveryClient(f"127.0.0.1:{delivery_port}", 120, caller=Caller.internal(Settings(data_dir=data_dir)))
    status = 0
    try:
        for port, process in ((smtp_port, helpers[0]), (campaign_port, helpers[1]), (delivery_port, delivery)):
            await wait_for_port(port, process, log_path)
        say(f"delivery pid {delivery.pid}, data in {data_dir}; scheduling {args.pending:,} pending sends ...")

        # 1. a million pending sends, due over the next three days
        now = datetime.now(UTC)
        rng = random.Random(7)
        offsets = [rng.uniform(3600, 3 * 86400) for _ in range(args.pending)]
        took = await schedule_all(client, "pending-", args.pending, lambda i: now + timedelta(seconds=offsets[i]))
        await asyncio.sleep(2)
        rss, peak = rss_mb(delivery.pid)
        emit("delivery_rss_mb_1m_pending", round(rss, 1), "MB", pending=args.pending, peak_mb=round(peak, 1), target="<= 250")
        emit("schedule_sends_per_s", round(args.pending / took), "sends/s", batch=SCHEDULE_BATCH)

        # 2. a burst due at one instant
        due = datetime.now(UTC) + timedelta(seconds=max(3.0, args.burst / 10_000 + 2))
        await schedule_all(client, "burst-", args.burst, lambda i: due)
        say(f"burst of {args.burst:,} due at {due.time()} ...")
        await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
        pids = {"delivery": delivery.pid, "sink": helpers[0].pid, "campaign": helpers[1].pid}
        cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        arrived = await wait_for_sink(sink_out, args.burst, delivery, timeout=120 + args.burst / 100)
        cpu_used = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
        burst = [at for name, at in arrived if name.startswith("burst-")]
        span = max(burst) - due.timestamp()
        emit("dispatch_sends_per_s", round(len(burst) / span), "sends/s", sends=len(burst), seconds=round(span, 2),
             target=">= 1000", note="all due at one instant; sink accepts per second from that instant to the last")
        emit("dispatch_cpu_ms_per_send", round(cpu_used["delivery"] * 1000 / max(1, len(burst)), 3), "ms",
             note="delivery's CPU (user + system) during the burst, per send (up to a 0.25 s poll of the sink)",
             sink_ms=round(cpu_used["sink"] * 1000 / max(1, len(burst)), 3),
             campaign_ms=round(cpu_used["campaign"] * 1000 / max(1, len(burst)), 3),
             delivery_cores=round(cpu_used["delivery"] / span, 2))
        emit("dispatch_burst_lateness_p99_s", round(percentile([at - due.timestamp() for at in burst], 0.99), 3), "s",
             note="queueing inside a burst, not timer accuracy")
        plain_rate = len(burst) / span

        # 2b. the same burst with three frequency caps on every send
        due = datetime.now(UTC) + timedelta(seconds=max(3.0, args.burst / 10_000 + 2))
        await schedule_all(client, "capped-", args.burst, lambda i: due)
        say(f"burst of {args.burst:,} with three caps due at {due.time()} ...")
        await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
        cpu_before = cpu_seconds(delivery.pid)
        arrived = await wait_for_sink(sink_out, 2 * args.burst, delivery, timeout=120 + args.burst / 100)
        capped_cpu = cpu_seconds(delivery.pid) - cpu_before
        capped = [at for name, at in arrived if name.startswith("capped-")]
        span = max(capped) - due.timestamp()
        emit("dispatch_sends_per_s_with_caps", round(len(capped) / span), "sends/s", sends=len(capped),
             seconds=round(span, 2), caps=3, ratio_to_plain=round(len(capped) / span / plain_rate, 3),
             target="ratio >= 0.9", note="as the burst above, every send checked against 3 caps and counted")
        plain_cpu_ms = cpu_used["delivery"] * 1000 / max(1, len(burst))
        capped_cpu_ms = capped_cpu * 1000 / max(1, len(capped))
        emit("dispatch_cpu_ms_per_send_with_caps", round(capped_cpu_ms, 3), "ms",
             ratio_to_plain=round(capped_cpu_ms / plain_cpu_ms, 3) if plain_cpu_ms else None,
             note="delivery's CPU per send of the capped burst (steady against other load on the machine)")

        # 3. paced sends: lateness of the timer and the pipeline
        first = datetime.now(UTC) + timedelta(seconds=max(3.0, args.paced / 5_000 + 2))
        step = 1.0 / args.paced_rate
        await schedule_all(client, "paced-", args.paced, lambda i: first + timedelta(seconds=i * step))
        say(f"{args.paced:,} paced sends at {args.paced_rate:g}/s from {first.time()} ...")
        arrived = await wait_for_sink(sink_out, 2 * args.burst + args.paced, delivery,
                                      timeout=60 + args.paced / args.paced_rate * 3)
        due_of = {f"paced-{start}-{i}": first.timestamp() + (start + i) * step
                  for start in range(0, args.paced, SCHEDULE_BATCH) for i in range(min(SCHEDULE_BATCH, args.paced - start))}
        lateness = [at - due_of[name] for name, at in arrived if name in due_of]
        if lateness:
            emit("dispatch_lateness_p99_s", round(percentile(lateness, 0.99), 3), "s", sends=len(lateness),
                 rate_per_s=args.paced_rate, target="<= 1")
            emit("dispatch_lateness_p50_s", round(percentile(lateness, 0.5), 3), "s")

        # 4. none lost, none twice
        await asyncio.sleep(1)
        counts = Counter(name for name, _ in read_sink(sink_out))
        expected = 2 * args.burst + args.paced
        repeats = sum(n - 1 for n in counts.values() if n > 1)
        emit("dispatch_delivered", len(counts), "sends", expected=expected, repeats=repeats)
        if len(counts) != expected or repeats:
            say(f"MISMATCH: {len(counts)} distinct of {expected} arrived, {repeats} twice")
            status = 1
        rss, peak = rss_mb(delivery.pid)
        emit("delivery_rss_mb_after_dispatch", round(rss, 1), "MB", peak_mb=round(peak, 1))
    finally:
        await client.close()
        for process in (delivery, *helpers):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (delivery, *helpers):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()
    return status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--role"]:
        role, port = argv[1], int(argv[2])
        if role == "sink":
            run_sink(port, Path(argv[3]))
        else:
            run_campaign(port)
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--paced", type=int, default=10_000)
    parser.add_argument("--paced-rate", type=float, default=1000.0)
    parser.add_argument("--data-dir", help="where to keep the run (default: a new temporary folder)")
    parser.add_argument("--profile", metavar="FILE", help="run delivery under cProfile, writing the profile to FILE")
    parser.add_argument("--quick", action="store_true", help="a small smoke run: 2,000 pending, 200 burst, 200 paced")
    args = parser.parse_args(argv)
    if args.quick:
        args.pending, args.burst, args.paced, args.paced_rate = 2_000, 200, 200, 200.0
    import uvloop

    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

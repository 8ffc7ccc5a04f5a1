"""Ingest benchmark: Segment batches over HTTP into a suite started as `herald up` starts it.

    python bench/ingest.py [--seconds 30] [--connections 32] [--users 10000]

1. Measures this machine's SQLite batched-insert limit: SQLAlchemy Core executemany of
   100-row batches of ~300-byte rows, one transaction per batch, WAL with synchronous=FULL
   (herald's own settings), for a few seconds.
2. Starts a campaign receiver (a real gRPC server implementing campaign's OnEvents) in this
   process and `herald up` in a fresh data folder, with ingest's outbox pointed at the receiver.
3. Runs a separate load process that posts /v1/batch requests of 100 mixed events
   (20 identify, 60 track, 20 page) with Basic auth for --seconds, and reports latencies.
4. Counts events that were recorded durably and handed to the receiver during the load
   window, checks the count against ingest's database, and prints one JSON line per figure.

Identify calls go to identity, not to the event log, so they are not counted as events
handed on; `gateway_calls_per_s` counts every call the gateway accepted. Every gRPC call carries
its token, as in production; --tls adds mutual TLS between every process (bench/security.py
compares the two with the code before tokens).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 100


EXTRA: dict = {}


def emit(figure: str, value, **extra) -> None:
    print(json.dumps({"figure": figure, "value": value, **extra, **EXTRA}), flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- 1. the SQLite limit ------------------------------------------------------------------


def sqlite_insert_limit(folder: Path, seconds: float = 5.0) -> float:
    from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, event, insert

    engine = create_engine(f"sqlite:///{folder / 'limit.db'}")

    @event.listens_for(engine, "connect")
    def _pragmas(connection, _record):
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")

    metadata = MetaData()
    table = Table("row", metadata, Column("id", Integer, primary_key=True), Column("key", String(64)), Column("body", Text))
    metadata.create_all(engine)
    body = "x" * 260  # with the key and the id, ~300 bytes a row
    inserted, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        rows = [{"key": f"{inserted + i:032x}", "body": body} for i in range(BATCH)]
        with engine.begin() as connection:
            connection.execute(insert(table), rows)
        inserted += BATCH
    rate = inserted / (time.perf_counter() - started)
    engine.dispose()
    return rate


# ---- 3. the load process ------------------------------------------------------------------


def make_batch(serial: int, users: int, prefix: str) -> bytes:
    import orjson

    events = []
    for i in range(BATCH):
        n = serial * BATCH + i
        user = f"user-{(n * 7919) % users}"
        message_id = f"{prefix}-{n}"
        slot = i % 5
        if slot == 0:
            events.append({
                "type": "identify", "userId": user, "messageId": message_id,
                "traits": {"name": f"Ada {user}", "email": f"{user}@example.com", "plan": "Pro" if n % 3 else "Free",
                           "timezone": "Europe/Berlin"},
            })
        elif slot == 4:
            events.append({
                "type": "page", "userId": user, "messageId": message_id, "name": "Pricing",
                "properties": {"url": "https://shop.example/pricing", "path": "/pricing", "referrer": ""},
            })
        else:
            events.append({
                "type": "track", "userId": user, "messageId": message_id, "event": "Added item to cart",
                "properties": {"price": 10 + n % 90, "locale": "EU", "cart_id": f"cart-{n % 5000}", "sku": f"sku-{n % 731}"},
                "context": {"library": {"name": "analytics-python", "version": "2.4.0"}, "ip": "203.0.113.7"},
            })
    return orjson.dumps({"batch": events, "sentAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, body: bytes) -> tuple[int, bytes, dict]:
    """One HTTP/1.1 request on a kept-alive connection. A raw client: httpx spent ~10 ms of CPU
    per 30 KB request here, enough to make the load process the bottleneck."""
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    headers = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    payload = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, payload, headers


async def load(url: str, write_key: str, seconds: float, connections: int, users: int) -> dict:
    import orjson

    host, port = url.removeprefix("http://").split(":")
    auth = base64.b64encode(f"{write_key}:".encode()).decode()
    head = (
        f"POST /v1/batch HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Basic {auth}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    prefix = os.urandom(4).hex()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    accepted_calls = 0
    serial = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal serial, accepted_calls
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < deadline:
                serial += 1
                body = make_batch(serial, users, prefix)
                started = time.perf_counter()
                status, payload, headers = await _post(reader, writer, head, body)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    accepted_calls += BATCH - len(orjson.loads(payload).get("rejected", []))
                elif status in (429, 503):
                    await asyncio.sleep(float(headers.get("retry-after", "1")))
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "statuses": statuses,
        "accepted_calls": accepted_calls,
        "elapsed": elapsed,
        "p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else None,
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)] if latencies else None,
        "cpu_seconds": sum(os.times()[:2]),
    }


# ---- 2 and 4. the suite, the receiver, the counting ---------------------------------------


async def run(args) -> int:
    from herald_common.testing import start_recording_campaign

    EXTRA["security"] = "tokens+mtls" if args.tls else "tokens"
    folder = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    limit = sqlite_insert_limit(folder)
    emit("sqlite_insert_limit_rows_per_s", round(limit), rows=BATCH, row_bytes=300, synchronous="FULL")

    receiver_port = free_port()
    data_dir = folder / "var"
    tls_env = {}
    if args.tls:  # mutual TLS between every process of the run, from a CA made for it
        from herald_common.settings import Settings

        sys.path.insert(0, str(ROOT))
        from tests.fakes.tls import suite_pki

        pki = suite_pki(folder / "pki")
        tls_env = {"HERALD_TLS_CERT_FILE": str(pki.cert), "HERALD_TLS_KEY_FILE": str(pki.key),
                   "HERALD_TLS_CLIENT_CA_FILE": str(pki.ca)}
        receiver_settings = Settings(data_dir=data_dir, tls_cert_file=pki.cert, tls_key_file=pki.key,
                                     tls_client_ca_file=pki.ca)
    else:
        from herald_common.settings import Settings

        receiver_settings = Settings(data_dir=data_dir)
    # The campaign stand-in asks for ingest's token (and certificate) as campaign does.
    server, _, receiver = await start_recording_campaign(f"127.0.0.1:{receiver_port}", keep_events=False,
                                                         settings=receiver_settings)
    gateway_port = free_port()
    env = dict(
        os.environ,
        **tls_env,
        HERALD_DATA_DIR=str(data_dir),
        HERALD_GATEWAY_PORT=str(gateway_port),
        HERALD_IDENTITY_ADDRESS=f"127.0.0.1:{free_port()}",
        HERALD_INGEST_ADDRESS=f"127.0.0.1:{free_port()}",
        HERALD_CAMPAIGN_ADDRESS=f"127.0.0.1:{receiver_port}",
        HERALD_DELIVERY_ADDRESS=f"127.0.0.1:{free_port()}",
        HERALD_WRITE_KEY="bench-write-key",
    )
    env.pop("HERALD_DATABASE_URL", None)
    herald = Path(sys.executable).parent / "herald"
    log_path = folder / "suite.log"
    with open(log_path, "wb") as log:
        suite = subprocess.Popen([str(herald), "up", "--without", "campaign"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await _wait_for_gateway(gateway_port, suite, log_path)
        print(f"suite up (logs: {log_path}); loading for {args.seconds:.0f}s ...", file=sys.stderr)
        cpu_before = _cpu_by_process(suite.pid)
        own_before = sum(os.times()[:2])
        started = time.monotonic()
        loader = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--load", f"http://127.0.0.1:{gateway_port}", "bench-write-key",
            str(args.seconds), str(args.connections), str(args.users),
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await loader.communicate()
        ended = time.monotonic()
        cpu_after = _cpu_by_process(suite.pid)
        own_cpu = sum(os.times()[:2]) - own_before
        report = json.loads(output.decode().strip().splitlines()[-1])
        # Events handed on by the end of the load window: the load stops at started + elapsed.
        window_end = started + report["elapsed"]
        in_window = max((count for at, count in receiver.arrivals if at <= window_end), default=0)
        await _drain(receiver, data_dir, timeout=60)
        durable = _count_events(data_dir)
        handed = len(receiver.seen_ids)
    finally:
        os.killpg(suite.pid, signal.SIGTERM)
        suite.wait(timeout=30)
        await server.stop(None)

    seconds = report["elapsed"]
    rate = in_window / seconds
    emit("ingest_events_per_s", round(rate), window_s=round(seconds, 1), handed_in_window=in_window,
         mix="20% identify, 60% track, 20% page", connections=args.connections)
    emit("sqlite_insert_limit_rows_per_s", round(limit))
    emit("ingest_ratio_to_limit", round(rate / limit, 3))
    emit("gateway_calls_per_s", round(report["accepted_calls"] / seconds), statuses=report["statuses"])
    emit("gateway_latency_p50_ms", round(report["p50_ms"], 1))
    emit("gateway_latency_p99_ms", round(report["p99_ms"], 1))
    emit("events_durable_after_drain", durable, handed_to_receiver=handed, repeats=receiver.repeats)
    window = ended - started
    emit("cpu_share_during_load", {name: round((cpu_after.get(name, 0) - cpu_before.get(name, 0)) / window, 2)
                                    for name in cpu_after}, note="cores used per process of the suite",
         load_process=round(report["cpu_seconds"] / window, 2), receiver=round(own_cpu / window, 2))
    if durable != handed or receiver.repeats:
        print(f"MISMATCH: {durable} events stored, {handed} handed on, {receiver.repeats} repeats", file=sys.stderr)
        return 1
    return 0


async def _wait_for_gateway(port: int, suite: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if suite.poll() is not None:
                raise SystemExit(f"herald up exited with {suite.returncode}; see {log_path}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/health")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the gateway did not answer within {timeout}s; see {log_path}")


def _cpu_by_process(root_pid: int) -> dict[str, float]:
    """CPU seconds (user + system) of herald up and each of its children, by service name."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parent, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
        if int(entry.name) == root_pid:
            name = "herald_up"
        elif parent == root_pid:
            module = next((a.decode() for a in cmdline if a.startswith(b"herald_services.")), "child")
            name = module.split(".")[1]
        else:
            continue
        found[name] = found.get(name, 0.0) + (utime + stime) / ticks
    return found


def _count_events(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "ingest.db") as connection:
        return connection.execute("SELECT count(*) FROM event").fetchone()[0]


async def _drain(receiver, data_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(receiver.seen_ids) >= _count_events(data_dir):
            return
        await asyncio.sleep(0.5)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        url, key, seconds, connections, users = sys.argv[2:7]
        report = asyncio.run(load(url, key, float(seconds), int(connections), int(users)))
        print(json.dumps(report))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--tls", action="store_true", default=os.environ.get("HERALD_BENCH_TLS") == "1",
                        help="mutual TLS between the processes (HERALD_BENCH_TLS=1); tokens are always checked")
    args = parser.parse_args()
    import uvloop

    return uvloop.run(run(args))


if __name__ == "__main__":
    sys.exit(main())

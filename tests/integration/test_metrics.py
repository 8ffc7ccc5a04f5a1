"""Prometheus metrics: services count what they do, and /metrics over HTTP shows it.

Every service of a test process shares the process's metrics, so tests compare a scrape taken
after the calls with one taken before.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import httpx
import orjson
import pytest
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common import healthcheck, metrics
from herald_common.db import create_service_engine, migrate
from herald_common.protoconv import timestamp
from herald_common.settings import Settings
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import WORKSPACE, WRITE_KEY, free_port

RECORD = "/herald.ingest.v1.IngestService/Record"
IDENTIFY = "/herald.identity.v1.IdentityService/Identify"


@pytest.fixture
def settings(sqlite_settings):
    """Metrics do not depend on the storage: SQLite only."""
    return sqlite_settings


@pytest.fixture
def endpoint():
    served = metrics.serve_metrics("127.0.0.1:0", service="test")
    yield served
    served.close()


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """{(sample name, sorted labels): value} read over HTTP, as Prometheus would."""
    answer = httpx.get(url, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def track(message_id: str, kind: str = "track", event: str = "Signed Up") -> ingest_pb2.IncomingEvent:
    return ingest_pb2.IncomingEvent(
        message_id=message_id,
        type=kind,
        event=event,
        user_id="u-metrics",
        properties_json=orjson.dumps({"plan": "Pro", "name": event}),
        context_json=b"{}",
        received_at=timestamp(datetime.now(UTC)),
    )


async def test_recorded_events_identity_calls_and_rpcs_show_on_the_metrics_endpoint(services, endpoint):
    before = scrape(endpoint.url)
    await services.identity.identify(
        identity_pb2.IdentifyRequest(
            workspace_id=WORKSPACE,
            calls=[
                identity_pb2.IdentifyCall(user_id="u-metrics", traits_json=b'{"plan": "Pro"}', context_json=b"{}"),
                identity_pb2.IdentifyCall(user_id="u-other", traits_json=b"{}", context_json=b"{}"),
            ],
        )
    )
    batch = [track("mm1"), track("mm2"), track("mm3", kind="page", event="Pricing"), track("mm1")]
    await services.ingest.record(ingest_pb2.RecordRequest(workspace_id=WORKSPACE, events=batch))
    await services.campaign.wait_for(3)

    after = scrape(endpoint.url)
    moved = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)  # noqa: E731
    assert moved("herald_identity_calls_total", call="identify") == 2
    assert moved("herald_events_recorded_total", type="track") == 2
    assert moved("herald_events_recorded_total", type="page") == 1
    assert moved("herald_events_not_recorded_total", outcome="duplicate") == 1
    assert moved("herald_grpc_server_requests_total", method=RECORD, code="OK") == 1
    assert moved("herald_grpc_server_handling_seconds_count", method=RECORD) == 1
    # ingest resolved the user through identity before recording
    assert moved("herald_identity_calls_total", call="resolve") >= 1
    for _ in range(50):  # the cursor is written just after campaign's answer
        if value(scrape(endpoint.url), "herald_ingest_outbox_backlog") == 0:
            break
        await asyncio.sleep(0.05)
    after = scrape(endpoint.url)
    assert value(after, "herald_ingest_outbox_backlog") == 0
    assert moved("herald_ingest_outbox_delivered_total") >= 3


async def test_refused_rpc_is_counted_under_its_status_code(services, endpoint):
    before = scrape(endpoint.url)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await services.ingest.record(ingest_pb2.RecordRequest(workspace_id="", events=[track("r1")]))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    after = scrape(endpoint.url)
    assert value(after, "herald_grpc_server_requests_total", method=RECORD, code="INVALID_ARGUMENT") - value(
        before, "herald_grpc_server_requests_total", method=RECORD, code="INVALID_ARGUMENT"
    ) == 1


async def test_gateway_counts_requests_by_endpoint_and_status(services, endpoint):
    from herald_services.gateway.main import build as build_gateway

    gateway = await build_gateway(services.settings, host="127.0.0.1", port=0)
    await gateway.start()
    try:
        before = scrape(endpoint.url)
        async with httpx.AsyncClient(base_url=gateway.url) as client:
            ok = await client.post("/v1/track", json={"userId": "u-gw", "event": "Signed Up"}, auth=(WRITE_KEY, ""))
            unknown = await client.post("/track", json={"userId": "u-gw", "event": "x"}, auth=("wk_nobody", ""))
            missing = await client.get("/no/such/path")
        assert (ok.status_code, unknown.status_code, missing.status_code) == (200, 401, 404)
        health = await asyncio.to_thread(healthcheck.check_http, f"{gateway.url}/health")
        assert health == (True, f"{gateway.url}/health: 200")
        after = scrape(endpoint.url)
    finally:
        await gateway.stop()

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("herald_gateway_http_requests_total", endpoint="track", status="200") == 1
    assert moved("herald_gateway_http_requests_total", endpoint="track", status="401") == 1
    assert moved("herald_gateway_http_requests_total", endpoint="other", status="404") == 1
    assert moved("herald_gateway_http_request_seconds_count", endpoint="track") == 2


def test_suite_metrics_for_campaign_and_delivery_are_exposed(endpoint):
    before = scrape(endpoint.url)
    metrics.count_campaign_decision("scheduled")
    metrics.count_send("email", "sent")
    with metrics.time_provider("smtp"):
        pass
    metrics.set_scheduler_backlog(7)
    after = scrape(endpoint.url)
    assert value(after, "herald_campaign_decisions_total", outcome="scheduled") - value(
        before, "herald_campaign_decisions_total", outcome="scheduled"
    ) == 1
    assert value(after, "herald_sends_total", channel="email", status="sent") - value(
        before, "herald_sends_total", channel="email", status="sent"
    ) == 1
    assert value(after, "herald_provider_latency_seconds_count", provider="smtp") - value(
        before, "herald_provider_latency_seconds_count", provider="smtp"
    ) == 1
    assert value(after, "herald_delivery_scheduler_backlog") == 7
    assert value(after, "process_cpu_seconds_total") > 0


def test_empty_metrics_address_serves_nothing_and_a_taken_port_is_not_fatal():
    assert metrics.serve_metrics("") is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert metrics.serve_metrics(f"127.0.0.1:{taken.getsockname()[1]}") is None


def test_bind_host_changes_where_a_service_listens_not_where_it_is_dialled():
    settings = Settings(bind_host="0.0.0.0", identity_address="identity:7101", ingest_metrics_address="127.0.0.1:9102")
    assert settings.listen_address_of("identity") == "0.0.0.0:7101"
    assert settings.metrics_address_of("ingest") == "0.0.0.0:9102"
    listening = settings.listening_as("identity")
    assert (listening.identity_address, listening.ingest_address) == ("0.0.0.0:7101", settings.ingest_address)
    assert Settings().listening_as("identity").identity_address == "127.0.0.1:7101"
    assert Settings(gateway_metrics_address="").metrics_address_of("gateway") == ""
    with pytest.raises(ValueError, match="HERALD_DELIVERY_METRICS_ADDRESS"):
        Settings(delivery_metrics_address="9104")


def test_image_healthcheck_finds_the_local_service_from_its_settings(monkeypatch):
    monkeypatch.setenv("HERALD_INGEST_ADDRESS", "ingest:7202")
    monkeypatch.setenv("HERALD_GATEWAY_PORT", "8181")
    monkeypatch.setenv("HERALD_BIND_HOST", "0.0.0.0")
    assert healthcheck.local_target("ingest") == ("grpc", "127.0.0.1:7202")
    assert healthcheck.local_target("gateway") == ("http", "http://127.0.0.1:8181/health")
    monkeypatch.setenv("HERALD_BIND_HOST", "10.1.2.3")
    assert healthcheck.local_target("ingest") == ("grpc", "10.1.2.3:7202")
    with pytest.raises(SystemExit):
        healthcheck.local_target("mailer")


def _wait_for(probe, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_service_process_serves_metrics_and_answers_the_image_healthcheck(tmp_path: Path):
    """`python -m herald_services.identity.main` as the container runs it: bind host, metrics, health."""
    settings = Settings(data_dir=tmp_path, sqlite_synchronous="NORMAL")
    engine = create_service_engine(settings, "identity")
    migrate(engine, "identity")
    engine.dispose()
    grpc_port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "HERALD_DATA_DIR": str(tmp_path),
        "HERALD_BIND_HOST": "127.0.0.1",
        "HERALD_IDENTITY_ADDRESS": f"localhost:{grpc_port}",
        "HERALD_IDENTITY_METRICS_ADDRESS": f"localhost:{metrics_port}",
        "HERALD_SERVICE": "identity",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "herald_services.identity.main"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    healthcheck = [sys.executable, "-m", "herald_common.healthcheck"]
    try:
        _wait_for(lambda: subprocess.run([*healthcheck, f"127.0.0.1:{grpc_port}"], check=True, capture_output=True))
        samples = scrape(f"http://127.0.0.1:{metrics_port}/metrics")
        assert value(samples, "herald_service_info", service="identity") == 1
        # the healthcheck's own Check call was counted by the interceptor
        assert value(samples, "herald_grpc_server_requests_total", method="/grpc.health.v1.Health/Check", code="OK") >= 1
        by_env = subprocess.run(healthcheck, env=env, capture_output=True, text=True)
        assert by_env.returncode == 0, by_env.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=20)[0].decode()
    assert process.returncode == 0, output
    down = subprocess.run([*healthcheck, f"127.0.0.1:{grpc_port}", "--timeout", "1"], capture_output=True, text=True)
    assert down.returncode == 1
    assert "not serving" in down.stderr

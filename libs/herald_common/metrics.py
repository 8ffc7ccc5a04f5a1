"""Prometheus metrics for the whole suite, and the HTTP endpoint each process serves them on.

Every process serves `GET /metrics` (Prometheus text format) on its own address:
HERALD_<SERVICE>_METRICS_ADDRESS, by default 127.0.0.1:9101 (identity), 9102 (ingest),
9103 (campaign), 9104 (delivery), 9105 (gateway). An empty value serves nothing; port 0 picks
a free port. HERALD_BIND_HOST, when set, replaces the host (0.0.0.0 in Kubernetes).
`herald_common.service.run()` starts the endpoint for every gRPC service, so a service whose
main.py calls `run(name, build)` needs no wiring of its own.

Every metric of the suite is defined here, once per process, so a service only calls them.
Label values are fixed words (never a workspace, user or campaign id), so the number of series
stays small. Counters are named without `_total`; prometheus_client adds it on exposition.

What each service calls:

- every gRPC service: nothing. `grpcserver.ServiceInterceptor` counts each unary call
  (`herald_grpc_server_requests_total{method, code}`) and times it
  (`herald_grpc_server_handling_seconds{method}`).
- identity: `count_identity_calls(call, n)` per Identify/Alias/Group/Resolve item.
- ingest: `count_events_recorded(types)` after a commit, `count_events_not_recorded(outcome, n)`,
  `set_outbox_backlog(n)` and `count_outbox_delivered(n)` from the outbox dispatcher.
- campaign:
    `metrics.count_campaign_decision(outcome)` once per (campaign, triggering event) decision,
    outcome one of CAMPAIGN_DECISION_OUTCOMES: "scheduled" (a send asked of delivery now),
    "settling" (a send waits for the settle period before its filters are evaluated),
    "suppressed" (filters, frequency limit, unsubscribed, paused campaign...), "duplicate"
    (an event id already seen), "confirmed" / "refused" (delivery's Confirm answered yes / no),
    "converted" (a goal event recorded a conversion).
- delivery:
    `metrics.count_send(channel, status)` when a send reaches a final status: channel one of
    email, sms, voice, push, webhook; status one of SEND_STATUSES ("sent", "failed",
    "suppressed", "cancelled").
    `with metrics.time_provider(provider.name): attempt = await provider.send(...)` around every
    provider attempt (or `metrics.observe_provider_latency(provider, seconds)`), provider being
    the provider's `name` ("smtp", "twilio", "apns", "fcm", "webhook", "outbox").
    `metrics.set_scheduler_backlog(n)` with the number of sends due or scheduled but not yet
    sent (status scheduled or sending), after each scheduler pass.
- gateway: `instrument_asgi(app, endpoints)` wraps the ASGI app
  (`herald_gateway_http_requests_total{endpoint, status}`, `herald_gateway_http_request_seconds`).

Tests start several services in one process: they share these metrics (read deltas), and pass
an empty metrics address or start the endpoint themselves with `serve_metrics("127.0.0.1:0")`.
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from threading import Thread
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from herald_common.logs import get_logger

log = get_logger(__name__)

# Metric objects are process-wide by nature (a scrape reads what every part of the process
# counted), so they are built once, at import, into herald's own registry rather than the
# library's default one: nothing another package registers can collide with these names.
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

# Seconds: from sub-millisecond batched RPCs to a provider that takes its full 10 s timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

SERVICE_INFO = Gauge(
    "herald_service_info", "1 for each herald service this process serves.", ["service"], registry=REGISTRY
)

GRPC_REQUESTS = Counter(
    "herald_grpc_server_requests",
    "Unary gRPC calls handled, by full method name and status code.",
    ["method", "code"],
    registry=REGISTRY,
)
GRPC_HANDLING_SECONDS = Histogram(
    "herald_grpc_server_handling_seconds",
    "Time from a unary gRPC call's arrival to its answer.",
    ["method"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

IDENTITY_CALLS = Counter(
    "herald_identity_calls",
    "Segment calls applied by identity, one per item of a batched RPC.",
    ["call"],
    registry=REGISTRY,
)

EVENTS_RECORDED = Counter(
    "herald_events_recorded", "Events written to ingest's event log, by Segment type.", ["type"], registry=REGISTRY
)
EVENTS_NOT_RECORDED = Counter(
    "herald_events_not_recorded",
    "Events ingest did not record: a messageId already recorded (duplicate) or refused (rejected).",
    ["outcome"],
    registry=REGISTRY,
)
OUTBOX_BACKLOG = Gauge(
    "herald_ingest_outbox_backlog",
    "Events recorded by ingest that campaign has not acknowledged yet.",
    registry=REGISTRY,
)
OUTBOX_DELIVERED = Counter(
    "herald_ingest_outbox_delivered", "Events handed to campaign's OnEvents and acknowledged.", registry=REGISTRY
)

CAMPAIGN_DECISION_OUTCOMES = ("scheduled", "settling", "suppressed", "duplicate", "confirmed", "refused", "converted")
CAMPAIGN_DECISIONS = Counter(
    "herald_campaign_decisions", "Campaign decisions, by outcome.", ["outcome"], registry=REGISTRY
)

SEND_STATUSES = ("sent", "failed", "suppressed", "cancelled")
SENDS = Counter("herald_sends", "Sends that reached a final status, by channel and status.", ["channel", "status"], registry=REGISTRY)
PROVIDER_LATENCY = Histogram(
    "herald_provider_latency_seconds",
    "Duration of one provider attempt (SMTP, Twilio, APNs, FCM, webhook, outbox), whatever its outcome.",
    ["provider"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
SCHEDULER_BACKLOG = Gauge(
    "herald_delivery_scheduler_backlog",
    "Sends delivery holds that are not final yet (scheduled or sending).",
    registry=REGISTRY,
)

GATEWAY_REQUESTS = Counter(
    "herald_gateway_http_requests",
    "HTTP requests answered by the gateway, by endpoint and status code.",
    ["endpoint", "status"],
    registry=REGISTRY,
)
GATEWAY_REQUEST_SECONDS = Histogram(
    "herald_gateway_http_request_seconds",
    "Time to answer one gateway HTTP request, by endpoint.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)


# ---- what services call -------------------------------------------------------------------


def observe_rpc(method: str, code: str, seconds: float) -> None:
    GRPC_REQUESTS.labels(method, code).inc()
    GRPC_HANDLING_SECONDS.labels(method).observe(seconds)


def count_identity_calls(call: str, count: int = 1) -> None:
    if count:
        IDENTITY_CALLS.labels(call).inc(count)


def count_events_recorded(types: Iterable[str]) -> None:
    """One increment per event type in a committed batch, not one per event."""
    for kind, count in Tally(types).items():
        EVENTS_RECORDED.labels(kind).inc(count)


def count_events_not_recorded(outcome: str, count: int) -> None:
    if count:
        EVENTS_NOT_RECORDED.labels(outcome).inc(count)


def set_outbox_backlog(events: int) -> None:
    OUTBOX_BACKLOG.set(max(0, events))


def count_outbox_delivered(events: int) -> None:
    OUTBOX_DELIVERED.inc(events)


def count_campaign_decision(outcome: str, count: int = 1) -> None:
    CAMPAIGN_DECISIONS.labels(outcome).inc(count)


def count_send(channel: str, status: str) -> None:
    SENDS.labels(channel, status).inc()


def observe_provider_latency(provider: str, seconds: float) -> None:
    PROVIDER_LATENCY.labels(provider).observe(seconds)


@contextmanager
def time_provider(provider: str) -> Iterator[None]:
    """Times one provider attempt, also when it raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        PROVIDER_LATENCY.labels(provider).observe(time.perf_counter() - started)


def set_scheduler_backlog(sends: int) -> None:
    SCHEDULER_BACKLOG.set(max(0, sends))


# ---- the gateway's HTTP side --------------------------------------------------------------


def instrument_asgi(app: Callable[..., Any], endpoints: dict[str, str]) -> Callable[..., Any]:
    """Wraps an ASGI app to count and time HTTP requests.

    endpoints maps a path to its endpoint label (e.g. "/v1/track" -> "track"); "/health" is
    labelled "health" and any other path "other", so a scan of random paths adds no series.
    """

    def endpoint_of(path: str) -> str:
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
        if path == "/health":
            return "health"
        return endpoints.get(path, "other")

    async def instrumented(scope, receive, send):
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [0]

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_and_note)
        finally:
            endpoint = endpoint_of(scope["path"])
            GATEWAY_REQUESTS.labels(endpoint, str(status[0] or 500)).inc()
            GATEWAY_REQUEST_SECONDS.labels(endpoint).observe(time.perf_counter() - started)

    return instrumented


# ---- the endpoint -------------------------------------------------------------------------


@dataclass
class MetricsEndpoint:
    """A running /metrics HTTP server (a daemon thread)."""

    host: str
    port: int
    _server: Any
    _thread: Thread

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def split_address(address: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port)."""
    host, separator, port = address.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"{address!r} is not host:port")
    return host.strip("[]") or "0.0.0.0", int(port)


def serve_metrics(address: str | None, *, service: str | None = None) -> MetricsEndpoint | None:
    """Serves REGISTRY on address; None or "" serves nothing.

    A port that cannot be bound is logged, not fatal: the service itself still works, and a
    Prometheus that cannot scrape it shows the target as down.
    """
    if service is not None:
        SERVICE_INFO.labels(service).set(1)
    if not address:
        return None
    host, port = split_address(address)
    try:
        server, thread = start_http_server(port, addr=host, registry=REGISTRY)
    except OSError as error:
        log.error("metrics_unavailable", address=address, reason=str(error))
        return None
    endpoint = MetricsEndpoint(host, server.server_port, server, thread)
    log.info("metrics_listening", service=service, host=host, port=endpoint.port)
    return endpoint

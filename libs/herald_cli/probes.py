"""Readiness probes: the standard gRPC health check, and the gateway's GET /health."""

from __future__ import annotations

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc
from herald_common import tls
from herald_common.grpcclient import open_channel

from herald_cli.supervisor import Probe


def grpc_health(address: str, timeout: float = 1.0, settings=None) -> Probe:
    """grpc.health.v1 Check (open to every caller: no token); over TLS when settings say so."""
    credentials, options = (tls.channel_credentials(settings), tls.channel_options(settings)) if settings else (None, ())

    async def probe() -> bool:
        # A fresh channel each time: a long-lived one would back off after refused connections.
        async with open_channel(address, credentials, options) as channel:
            try:
                response = await health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=timeout
                )
            except grpc.aio.AioRpcError:
                return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    return probe


def http_health(url: str, timeout: float = 1.0) -> Probe:
    async def probe() -> bool:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            try:
                response = await client.get(url)
            except httpx.HTTPError:
                return False
        return response.status_code == 200

    return probe

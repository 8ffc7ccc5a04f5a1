"""Asks a herald process whether it is serving; exits 0 if it is, 1 if not. The image's HEALTHCHECK.

    python -m herald_common.healthcheck [ADDRESS] [--service NAME] [--timeout SECONDS]

ADDRESS is a gRPC service's host:port; it checks grpc.health.v1 Check (the overall status, or
NAME's). Without ADDRESS it checks the service named by HERALD_SERVICE (as the image sets it)
on this host, at the port of its address setting: a gRPC health Check, or for the gateway a
GET of its /health.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.request
from collections.abc import Sequence

LOCAL_HOST = "127.0.0.1"


def check_grpc(address: str, service: str = "", timeout: float = 3.0) -> tuple[bool, str]:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            answer = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=service), timeout=timeout
            )
        except grpc.RpcError as error:
            return False, f"{address}: {error.code().name} {error.details() or ''}".strip()
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
    return answer.status == health_pb2.HealthCheckResponse.SERVING, f"{address}: {status}"


def check_http(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 - a fixed local URL
            return answer.status == 200, f"{url}: {answer.status}"
    except OSError as error:
        return False, f"{url}: {error}"


def local_target(component: str) -> tuple[str, str]:
    """("grpc", host:port) or ("http", url) of the component running in this container."""
    from herald_common.settings import SERVICES, load_settings

    settings = load_settings()
    # A service bound to every interface answers on loopback; one bound to an address, there.
    host = settings.bind_host if settings.bind_host not in (None, "", "0.0.0.0", "::") else LOCAL_HOST
    host = f"[{host}]" if ":" in host else host
    if component == "gateway":
        return "http", f"http://{host}:{settings.gateway_port}/health"
    if component not in SERVICES:
        raise SystemExit(f"healthcheck: HERALD_SERVICE={component!r} is not one of {', '.join((*SERVICES, 'gateway'))}")
    return "grpc", f"{host}:{settings.port_of(component)}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m herald_common.healthcheck", description=__doc__.splitlines()[0])
    parser.add_argument("address", nargs="?", help="host:port of a gRPC service (default: HERALD_SERVICE's, locally)")
    parser.add_argument("--service", default="", help="the gRPC service name to check (default: the whole server)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the answer")
    args = parser.parse_args(argv)
    if args.address:
        healthy, said = check_grpc(args.address, args.service, args.timeout)
    else:
        component = os.environ.get("HERALD_SERVICE", "")
        if not component:
            parser.error("give ADDRESS, or set HERALD_SERVICE")
        kind, target = local_target(component)
        if kind == "http":
            healthy, said = check_http(target, args.timeout)
        else:
            healthy, said = check_grpc(target, args.service, args.timeout)
    print(("serving " if healthy else "not serving ") + said, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())

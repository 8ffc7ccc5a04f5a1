"""Asks a herald process whether it is serving; exits 0 if it is, 1 if not. The image's HEALTHCHECK.

    python -m herald_common.healthcheck [ADDRESS] [--service NAME] [--timeout SECONDS]

ADDRESS is a gRPC service's host:port; it checks grpc.health.v1 Check (the overall status, or
NAME's), over TLS when HERALD_TLS_CERT_FILE or HERALD_TLS_CA_FILE is set (checking, for the
local service, that the certificate names HERALD_SERVICE, unless HERALD_TLS_SERVER_NAME is set). Without ADDRESS it checks the service named by HERALD_SERVICE (as the image sets it)
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


def check_grpc(
    address: str, service: str = "", timeout: float = 3.0, settings=None, server_name: str | None = None
) -> tuple[bool, str]:
    """Over TLS when the settings (HERALD_TLS_*) say the suite runs it, checking the certificate
    against server_name when given (a pod dials itself on 127.0.0.1, its certificate names its
    Service); health needs no token."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from herald_common import tls

    credentials = tls.channel_credentials(settings) if settings is not None else None
    options = tls.channel_options(settings) if settings is not None else ()
    if credentials is not None and server_name and not options:
        options = (("grpc.ssl_target_name_override", server_name),)
    channel = grpc.secure_channel(address, credentials, options) if credentials else grpc.insecure_channel(address)
    with channel:
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
    from herald_common.settings import load_settings

    settings = load_settings()
    if args.address:
        healthy, said = check_grpc(args.address, args.service, args.timeout, settings)
    else:
        component = os.environ.get("HERALD_SERVICE", "")
        if not component:
            parser.error("give ADDRESS, or set HERALD_SERVICE")
        kind, target = local_target(component)
        if kind == "http":
            healthy, said = check_http(target, args.timeout)
        else:
            healthy, said = check_grpc(target, args.service, args.timeout, settings, server_name=component)
    print(("serving " if healthy else "not serving ") + said, file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())

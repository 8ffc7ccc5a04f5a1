"""TLS for every gRPC server and client of the suite, from CONTRACT.md's variables.

- A server serves TLS when HERALD_TLS_CERT_FILE and HERALD_TLS_KEY_FILE are set; with
  HERALD_TLS_CLIENT_CA_FILE it also requires every caller to present a certificate that CA
  issued (mutual TLS).
- Every client of the suite (services, the gateway, the CLI, the console, the probes) dials
  with TLS when HERALD_TLS_CERT_FILE or HERALD_TLS_CA_FILE is set. It trusts HERALD_TLS_CA_FILE
  for the services' certificates, else HERALD_TLS_CLIENT_CA_FILE (the usual setup: one CA, e.g.
  cert-manager's, issues every certificate of the suite), else the system's roots. It presents
  HERALD_TLS_CERT_FILE / HERALD_TLS_KEY_FILE as its client certificate, so under mutual TLS a
  certificate must allow both server and client authentication.
- HERALD_TLS_SERVER_NAME, when set, is the name clients check the services' certificates
  against instead of the host they dial (a certificate issued for one name, dialled by IP).
"""

from __future__ import annotations

from pathlib import Path

import grpc


def tls_enabled(settings) -> bool:
    """Whether this process's clients dial with TLS."""
    return bool(settings.tls_cert_file or settings.tls_ca_file)


def server_credentials(settings) -> grpc.ServerCredentials | None:
    """The servers' credentials, or None for plaintext (no certificate configured)."""
    if not settings.tls_cert_file:
        return None
    key, chain = _read(settings.tls_key_file), _read(settings.tls_cert_file)
    client_ca = _read(settings.tls_client_ca_file) if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def channel_credentials(settings) -> grpc.ChannelCredentials | None:
    """The clients' credentials, or None for plaintext."""
    if not tls_enabled(settings):
        return None
    trusted = settings.tls_ca_file or settings.tls_client_ca_file
    return grpc.ssl_channel_credentials(
        root_certificates=_read(trusted) if trusted else None,
        private_key=_read(settings.tls_key_file) if settings.tls_cert_file else None,
        certificate_chain=_read(settings.tls_cert_file) if settings.tls_cert_file else None,
    )


def channel_options(settings) -> tuple[tuple[str, str], ...]:
    name = getattr(settings, "tls_server_name", None)
    return (("grpc.ssl_target_name_override", name),) if name and tls_enabled(settings) else ()


def _read(path: Path | str) -> bytes:
    return Path(path).read_bytes()


def client_side(settings) -> dict:
    """A Caller's TLS keywords: credentials and channel options."""
    return {"credentials": channel_credentials(settings), "channel_options": channel_options(settings)}

"""herald's settings, typed, from the environment (CONTRACT.md's variables)."""

from __future__ import annotations

from pathlib import Path

from herald_common.webhook_secret import secret_key
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("identity", "ingest", "campaign", "delivery")

DEFAULT_PORTS = {"identity": 7101, "ingest": 7102, "campaign": 7103, "delivery": 7104}

DEFAULT_METRICS_PORTS = {"identity": 9101, "ingest": 9102, "campaign": 9103, "delivery": 9104, "gateway": 9105}

PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "password", "xxx", "todo"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HERALD_", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    identity_database_url: str | None = None
    ingest_database_url: str | None = None
    campaign_database_url: str | None = None
    delivery_database_url: str | None = None
    # PostgreSQL: each service's schema is <prefix><service>; a prefix isolates a test run.
    database_schema_prefix: str = ""
    # SQLite: FULL makes every acknowledged batch survive a power cut, not only a crash.
    sqlite_synchronous: str = Field("FULL", pattern="^(OFF|NORMAL|FULL|EXTRA)$")
    # Page cache per SQLite connection; the event log's indexes take random writes, and a
    # small cache spills and re-reads their pages.
    sqlite_cache_mb: int = Field(64, gt=0)

    write_key: str | None = None
    # The tokens every gRPC call presents (access.py): the admin token opens management calls,
    # the internal token the calls between services. Unset: generated once in the data dir.
    admin_token: str | None = None
    internal_token: str | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    # Where each service listens, and where the others reach it.
    identity_address: str = f"127.0.0.1:{DEFAULT_PORTS['identity']}"
    ingest_address: str = f"127.0.0.1:{DEFAULT_PORTS['ingest']}"
    campaign_address: str = f"127.0.0.1:{DEFAULT_PORTS['campaign']}"
    delivery_address: str = f"127.0.0.1:{DEFAULT_PORTS['delivery']}"
    # When set, every server a process starts listens on this host instead of the host of its
    # own address setting, which stays what the others dial (Kubernetes: 0.0.0.0, while
    # HERALD_IDENTITY_ADDRESS=identity:7101 names the Service).
    bind_host: str | None = None
    # Where each process serves Prometheus /metrics; empty serves nothing, port 0 picks one.
    identity_metrics_address: str = f"127.0.0.1:{DEFAULT_METRICS_PORTS['identity']}"
    ingest_metrics_address: str = f"127.0.0.1:{DEFAULT_METRICS_PORTS['ingest']}"
    campaign_metrics_address: str = f"127.0.0.1:{DEFAULT_METRICS_PORTS['campaign']}"
    delivery_metrics_address: str = f"127.0.0.1:{DEFAULT_METRICS_PORTS['delivery']}"
    gateway_metrics_address: str = f"127.0.0.1:{DEFAULT_METRICS_PORTS['gateway']}"

    # The web console (services/console): where it listens, and whether its session cookie is
    # marked Secure (set it when the console is served over HTTPS, e.g. behind an Ingress).
    console_host: str = "127.0.0.1"
    console_port: int = Field(8090, ge=0, le=65535)
    console_secure_cookie: bool = False

    settle_seconds: int = Field(60, ge=0)
    # Region used to read phone numbers written without a country code.
    default_phone_region: str = "US"
    # Deadline of every call from one service to another.
    rpc_timeout_seconds: float = Field(10.0, gt=0)
    log_level: str = "info"
    # How many events the gateway lets wait on ingest before it answers 429.
    gateway_max_inflight_events: int = Field(20_000, gt=0)

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False

    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_base_url: str = "https://api.twilio.com"

    apns_key_file: Path | None = None
    apns_key_id: str | None = None
    apns_team_id: str | None = None
    apns_topic: str | None = None
    apns_base_url: str = "https://api.push.apple.com"

    fcm_credentials_file: Path | None = None
    fcm_project_id: str | None = None
    fcm_base_url: str = "https://fcm.googleapis.com"

    # One process of several replicas of a service: where this one listens. Its own
    # HERALD_<SERVICE>_ADDRESS then lists every replica (comma-separated) for the callers.
    listen_address: str | None = None
    # The gateway binds with SO_REUSEPORT, so several gateway processes share one port.
    gateway_reuse_port: bool = False

    # TLS on every gRPC server and client (tls.py): the services' certificate and key; with a
    # client CA, mutual TLS. Clients trust tls_ca_file, else the client CA, else system roots.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    tls_ca_file: Path | None = None
    tls_server_name: str | None = None

    # Webhooks are always signed, Standard Webhooks style, with `whsec_<base64>` secrets
    # (webhook_secret.py): unset, one is generated once and kept in the data dir. The previous
    # secret signs too during a rotation.
    webhook_secret: str | None = None
    webhook_secret_previous: str | None = None
    # Retired with the sha256= header scheme: refused when set, so nobody relies on it unknowingly.
    webhook_signature_header: str | None = None

    # delivery: a send overdue by more than this is suppressed as "stale" (seconds, or 30m/24h/2d).
    stale_after: str = "24h"
    # The workspace default time zone: used for a delivery window when neither the user nor the
    # campaign has one. Unset: such a send is suppressed as no_timezone.
    default_timezone: str | None = None
    # delivery: sends released by a campaign resume go out at most this many per second.
    release_per_second: float = Field(50.0, gt=0)
    # delivery: provider attempts for a retryable failure before the send is failed.
    provider_max_attempts: int = Field(5, ge=1)
    provider_timeout_seconds: float = Field(10.0, gt=0)

    # herald explain: campaign and delivery record each decision as a step (off: nothing is
    # recorded, and explain shows only what was recorded while it was on).
    explain: bool = True
    # How long decision steps are kept (seconds, or 30m/24h/30d); older ones are pruned.
    explain_retention: str = "30d"

    @field_validator("smtp_password", "twilio_auth_token", "write_key", "admin_token", "internal_token")
    @classmethod
    def _refuse_placeholders(cls, value: str | None, info) -> str | None:
        if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(f"HERALD_{info.field_name.upper()} is a placeholder; set a real value")
        return value

    @field_validator("webhook_secret", "webhook_secret_previous")
    @classmethod
    def _standard_webhooks_secret(cls, value: str | None, info) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            secret_key(value)
        except ValueError as error:
            raise ValueError(f"HERALD_{info.field_name.upper()} {error}") from None
        return value.strip()

    @field_validator("tls_cert_file", "tls_key_file", "tls_client_ca_file", "tls_ca_file", mode="before")
    @classmethod
    def _tls_file_is_readable(cls, value, info):
        if value is None or not str(value).strip():
            return None
        path = Path(str(value).strip())
        if not path.is_file():
            raise ValueError(f"HERALD_{info.field_name.upper()} {str(path)!r}: no such file")
        try:
            path.read_bytes()
        except OSError as error:
            raise ValueError(f"HERALD_{info.field_name.upper()} {str(path)!r} cannot be read: {error.strerror}") from None
        return path

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> Settings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError("HERALD_TLS_CERT_FILE and HERALD_TLS_KEY_FILE go together: set both (the certificate "
                             "and its private key) or neither")
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError("HERALD_TLS_CLIENT_CA_FILE (mutual TLS) needs HERALD_TLS_CERT_FILE and HERALD_TLS_KEY_FILE: "
                             "the certificate every service serves with and presents as a client")
        return self

    @field_validator("webhook_signature_header")
    @classmethod
    def _retired_signature_header(cls, value: str | None) -> None:
        if value is not None and value.strip():
            raise ValueError(
                "HERALD_WEBHOOK_SIGNATURE_HEADER is no longer used: webhooks are signed the Standard Webhooks way "
                "(headers webhook-id, webhook-timestamp, webhook-signature: v1,<base64>; see README). "
                "Unset it and have the receiver check those headers"
            )
        return None

    @field_validator(
        "identity_metrics_address",
        "ingest_metrics_address",
        "campaign_metrics_address",
        "delivery_metrics_address",
        "gateway_metrics_address",
    )
    @classmethod
    def _metrics_address_is_host_port(cls, value: str, info) -> str:
        value = value.strip()
        host, separator, port = value.rpartition(":")
        if value and (not separator or not port.isdigit() or int(port) > 65535):
            raise ValueError(f"HERALD_{info.field_name.upper()} {value!r} is not host:port (or empty for none)")
        return value

    @field_validator("stale_after", "explain_retention")
    @classmethod
    def _is_a_duration(cls, value: str, info) -> str:
        _duration_seconds(value, f"HERALD_{info.field_name.upper()}")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _default_timezone_is_iana(cls, value: str | None) -> str | None:
        if value:
            import zoneinfo

            if value in ("localtime", "Factory") or value not in zoneinfo.available_timezones():
                raise ValueError(f"HERALD_DEFAULT_TIMEZONE {value!r} is not an IANA time zone name")
        return value or None

    @property
    def stale_after_seconds(self) -> float:
        return _duration_seconds(self.stale_after, "HERALD_STALE_AFTER")

    @property
    def explain_retention_seconds(self) -> float:
        return _duration_seconds(self.explain_retention, "HERALD_EXPLAIN_RETENTION")

    def database_url_for(self, service: str) -> str | None:
        """The service's own URL, else the shared one; None means SQLite in the data dir."""
        return getattr(self, f"{service}_database_url", None) or self.database_url

    def address_of(self, service: str) -> str:
        return getattr(self, f"{service}_address")

    def port_of(self, service: str) -> int:
        return int(self.address_of(service).rsplit(":", 1)[1])

    def listen_address_of(self, service: str) -> str:
        """Where the service itself listens: its address, with HERALD_BIND_HOST as host when set."""
        return self._with_bind_host(self.address_of(service))

    def metrics_address_of(self, component: str) -> str:
        """Where a service (or the gateway) serves /metrics; empty means nowhere."""
        return self._with_bind_host(getattr(self, f"{component}_metrics_address"))

    def listening_as(self, service: str) -> Settings:
        """A copy whose own address is the one to listen on, for a service's build():
        HERALD_LISTEN_ADDRESS when this process is one of several replicas, with
        HERALD_BIND_HOST as host when set."""
        own = self.listen_address or self.address_of(service)
        if own == self.address_of(service) and not self.bind_host:
            return self
        return self.model_copy(update={f"{service}_address": self._with_bind_host(own)})

    def _with_bind_host(self, address: str) -> str:
        if not address or not self.bind_host:
            return address
        host = f"[{self.bind_host}]" if ":" in self.bind_host else self.bind_host
        return f"{host}:{address.rsplit(':', 1)[1]}"


_DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def _duration_seconds(value: str, name: str) -> float:
    """'86400', '30m', '24h', '2d', '1h30m' -> seconds."""
    import re

    text = str(value).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+)([dhms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{name} {value!r} is not a duration like 3600, 30m, 24h or 2d")
    return float(sum(int(n) * _DURATION_UNITS[u] for n, u in parts))


def load_settings(**overrides) -> Settings:
    return Settings(**overrides)

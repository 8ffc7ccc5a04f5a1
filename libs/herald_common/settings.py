"""herald's settings, typed, from the environment (CONTRACT.md's variables)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("identity", "ingest", "campaign", "delivery")

DEFAULT_PORTS = {"identity": 7101, "ingest": 7102, "campaign": 7103, "delivery": 7104}

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

    write_key: str | None = None
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    # Where each service listens, and where the others reach it.
    identity_address: str = f"127.0.0.1:{DEFAULT_PORTS['identity']}"
    ingest_address: str = f"127.0.0.1:{DEFAULT_PORTS['ingest']}"
    campaign_address: str = f"127.0.0.1:{DEFAULT_PORTS['campaign']}"
    delivery_address: str = f"127.0.0.1:{DEFAULT_PORTS['delivery']}"

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

    @field_validator("smtp_password", "twilio_auth_token", "write_key")
    @classmethod
    def _refuse_placeholders(cls, value: str | None, info) -> str | None:
        if value is not None and value.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(f"HERALD_{info.field_name.upper()} is a placeholder; set a real value")
        return value

    def database_url_for(self, service: str) -> str | None:
        """The service's own URL, else the shared one; None means SQLite in the data dir."""
        return getattr(self, f"{service}_database_url", None) or self.database_url

    def address_of(self, service: str) -> str:
        return getattr(self, f"{service}_address")

    def port_of(self, service: str) -> int:
        return int(self.address_of(service).rsplit(":", 1)[1])


def load_settings(**overrides) -> Settings:
    return Settings(**overrides)

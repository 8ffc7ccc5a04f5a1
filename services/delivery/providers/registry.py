"""Builds delivery's providers from the settings: each channel goes to the provider configured
for it, and everything else to the local outbox. A half-configured provider is refused at
start with the variable to fix."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

from herald_common.settings import Settings
from herald_common.webhook_secret import resolve_webhook_secret

from .apns import ApnsProvider, load_signing_key
from .base import Provider, ProviderSet
from .fcm import FcmProvider, ServiceAccount
from .outbox import OutboxProvider
from .smtp import SmtpProvider
from .twilio import TwilioProvider
from .webhook import WebhookProvider


class ProviderConfigError(ValueError):
    """A provider's settings are incomplete or unusable; the message names the variable."""


def _require_all(group: str, values: dict[str, object]) -> bool:
    """True when every variable of ``group`` is set, False when none is; an error otherwise."""
    missing = [name for name, value in values.items() if value in (None, "")]
    if len(missing) == len(values):
        return False
    if missing:
        given = [name for name in values if name not in missing]
        raise ProviderConfigError(
            f"{group}: {', '.join(given)} set but {', '.join(missing)} missing; set all or none"
        )
    return True


def _read(path: Path, variable: str) -> bytes:
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as error:
        raise ProviderConfigError(f"{variable} {path}: cannot read it: {error.strerror or error}")


def smtp_provider(settings: Settings, tls_context: ssl.SSLContext | None = None) -> SmtpProvider | None:
    if not settings.smtp_host:
        return None
    if not settings.smtp_from:
        raise ProviderConfigError("HERALD_SMTP_FROM is required when HERALD_SMTP_HOST is set")
    if bool(settings.smtp_user) != bool(settings.smtp_password):
        raise ProviderConfigError("HERALD_SMTP_USER and HERALD_SMTP_PASSWORD go together; set both or neither")
    return SmtpProvider(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        user=settings.smtp_user,
        password=settings.smtp_password,
        starttls=settings.smtp_starttls,
        timeout=settings.provider_timeout_seconds,
        tls_context=tls_context,
    )


def twilio_provider(settings: Settings) -> TwilioProvider | None:
    values = {
        "HERALD_TWILIO_ACCOUNT_SID": settings.twilio_account_sid,
        "HERALD_TWILIO_AUTH_TOKEN": settings.twilio_auth_token,
        "HERALD_TWILIO_FROM": settings.twilio_from,
    }
    if not _require_all("twilio", values):
        return None
    return TwilioProvider(
        settings.twilio_account_sid or "",
        settings.twilio_auth_token or "",
        settings.twilio_from or "",
        base_url=settings.twilio_base_url,
        timeout=settings.provider_timeout_seconds,
    )


def apns_provider(settings: Settings) -> ApnsProvider | None:
    values = {
        "HERALD_APNS_KEY_FILE": settings.apns_key_file,
        "HERALD_APNS_KEY_ID": settings.apns_key_id,
        "HERALD_APNS_TEAM_ID": settings.apns_team_id,
        "HERALD_APNS_TOPIC": settings.apns_topic,
    }
    if not _require_all("apns", values) or settings.apns_key_file is None:
        return None
    pem = _read(settings.apns_key_file, "HERALD_APNS_KEY_FILE")
    try:
        key = load_signing_key(pem)
    except ValueError as error:
        raise ProviderConfigError(f"HERALD_APNS_KEY_FILE {settings.apns_key_file}: {error}")
    return ApnsProvider(
        signing_key=key,
        key_id=settings.apns_key_id or "",
        team_id=settings.apns_team_id or "",
        topic=settings.apns_topic or "",
        base_url=settings.apns_base_url,
        timeout=settings.provider_timeout_seconds,
    )


def fcm_provider(settings: Settings) -> FcmProvider | None:
    path = settings.fcm_credentials_file
    if path is None or str(path) == "":
        return None
    raw = _read(path, "HERALD_FCM_CREDENTIALS_FILE")
    try:
        info = json.loads(raw)
        if not isinstance(info, dict):
            raise ValueError("not a JSON object")  # noqa: TRY004
        account = ServiceAccount.from_json(info)
    except ValueError as error:
        raise ProviderConfigError(f"HERALD_FCM_CREDENTIALS_FILE {path}: {error}")
    if not (settings.fcm_project_id or account.project_id):
        raise ProviderConfigError(
            f"HERALD_FCM_PROJECT_ID is unset and HERALD_FCM_CREDENTIALS_FILE {path} has no project_id"
        )
    return FcmProvider(
        account,
        project_id=settings.fcm_project_id,
        base_url=settings.fcm_base_url,
        timeout=settings.provider_timeout_seconds,
    )


def build_providers(settings: Settings, *, smtp_tls_context: ssl.SSLContext | None = None) -> ProviderSet:
    """email->smtp, sms/voice->twilio, push->apns/fcm, webhook->webhook when configured; the
    rest to the outbox in ``$HERALD_DATA_DIR``. Raises ProviderConfigError naming the variable."""
    routes: dict[tuple[str, str], Provider] = {}
    if (smtp := smtp_provider(settings, smtp_tls_context)) is not None:
        routes[("email", "email")] = smtp
    if (twilio := twilio_provider(settings)) is not None:
        routes[("sms", "phone")] = twilio
        routes[("voice", "phone")] = twilio
    if (apns := apns_provider(settings)) is not None:
        routes[("push", "apns")] = apns
    if (fcm := fcm_provider(settings)) is not None:
        routes[("push", "fcm")] = fcm
    try:
        secret, _ = resolve_webhook_secret(settings.webhook_secret, settings.data_dir)
    except ValueError as error:
        raise ProviderConfigError(str(error)) from None
    routes[("webhook", "url")] = WebhookProvider(
        secret=secret,
        previous_secret=settings.webhook_secret_previous,
        timeout=settings.provider_timeout_seconds,
    )
    return ProviderSet(routes=routes, fallback=OutboxProvider(settings.data_dir))

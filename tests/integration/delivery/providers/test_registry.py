"""build_providers: which provider each channel gets from the settings, end to end through the
local stand-ins, and the errors that name the variable to fix."""

from __future__ import annotations

import base64

import json

import pytest
from herald_common.settings import Settings
from herald_services.delivery.providers.apns import ApnsProvider
from herald_services.delivery.providers.base import Address, Message
from herald_services.delivery.providers.fcm import FcmProvider
from herald_services.delivery.providers.outbox import OutboxProvider
from herald_services.delivery.providers.registry import (
    ProviderConfigError,
    build_providers,
)
from herald_services.delivery.providers.smtp import SmtpProvider
from herald_services.delivery.providers.twilio import TwilioProvider
from herald_services.delivery.providers.webhook import WebhookProvider

from tests.fakes import ApnsServer, FcmServer, SmtpSink, TwilioServer, WebhookReceiver


REGISTRY_SECRET = "whsec_" + base64.b64encode(b"registry-secret-of-twenty-four+").decode()


def settings(tmp_path, **values) -> Settings:
    return Settings(data_dir=tmp_path, **values)


async def test_nothing_configured_routes_everything_but_webhooks_to_the_outbox(tmp_path):
    providers = build_providers(settings(tmp_path))
    try:
        for channel, kind in [("email", "email"), ("sms", "phone"), ("voice", "phone"), ("push", "apns"), ("push", "fcm")]:
            assert isinstance(providers.for_address(channel, kind), OutboxProvider)
        assert isinstance(providers.for_address("webhook", "url"), WebhookProvider)
        attempt = await providers.for_address("sms", "phone").send(
            Message(send_id="s1", channel="sms", body="hi"), Address("phone", "+14155552671"))
        assert attempt.accepted
        assert json.loads((tmp_path / "outbox.jsonl").read_text())["send_id"] == "s1"
    finally:
        await providers.close()


async def test_every_provider_configured_sends_through_its_stand_in(tmp_path):
    sid, token = "AC" + "c" * 32, "twilio-token-9"
    with SmtpSink() as sink, TwilioServer(sid, token) as twilio, ApnsServer() as apns, FcmServer() as fcm, \
            WebhookReceiver() as hook:
        providers = build_providers(settings(
            tmp_path,
            smtp_host=sink.host, smtp_port=sink.port, smtp_from="news@herald.example",
            twilio_account_sid=sid, twilio_auth_token=token, twilio_from="+15005550006", twilio_base_url=twilio.url,
            apns_key_file=apns.write_key(tmp_path / "AuthKey.p8"), apns_key_id=apns.key_id,
            apns_team_id=apns.team_id, apns_topic=apns.topic, apns_base_url=apns.url,
            fcm_credentials_file=fcm.write_credentials(tmp_path / "sa.json"), fcm_base_url=fcm.url,
            webhook_secret=REGISTRY_SECRET,
        ))
        try:
            assert isinstance(providers.for_address("email", "email"), SmtpProvider)
            assert providers.for_address("sms", "phone") is providers.for_address("voice", "phone")
            assert isinstance(providers.for_address("sms", "phone"), TwilioProvider)
            assert isinstance(providers.for_address("push", "apns"), ApnsProvider)
            assert isinstance(providers.for_address("push", "fcm"), FcmProvider)
            sends = [
                (Message("e", "email", subject="S", body="B"), Address("email", "a@example.com")),
                (Message("t", "sms", body="B"), Address("phone", "+14155552671")),
                (Message("v", "voice", body="B"), Address("phone", "+14155552671")),
                (Message("i", "push", title="T", body="B"), Address("apns", "ab" * 32)),
                (Message("a", "push", title="T", body="B"), Address("fcm", "android-token")),
                (Message("w", "webhook", data={"x": 1}, url=hook.url + "/w"), Address("url", hook.url + "/w")),
            ]
            for message, address in sends:
                attempt = await providers.for_address(message.channel, address.kind).send(message, address)
                assert attempt.accepted, (message.channel, address.kind, attempt)
        finally:
            await providers.close()
        assert len(sink.messages) == 1 and len(twilio.messages) == 1 and len(twilio.calls) == 1
        assert len(apns.pushes) == 1 and len(fcm.messages) == 1
        assert WebhookReceiver.signature_valid(hook.requests[0], REGISTRY_SECRET)
        assert not (tmp_path / "outbox.jsonl").exists()


async def test_fcm_project_id_setting_wins_over_the_credentials_file(tmp_path):
    with FcmServer(project_id="from-setting") as fcm:
        path = fcm.write_credentials(tmp_path / "sa.json", project_id="from-file")
        providers = build_providers(settings(tmp_path, fcm_credentials_file=path, fcm_project_id="from-setting",
                                             fcm_base_url=fcm.url))
        try:
            provider = providers.for_address("push", "fcm")
            assert isinstance(provider, FcmProvider) and provider.project_id == "from-setting"
            attempt = await provider.send(Message("a", "push", title="T", body="B"), Address("fcm", "tok"))
            assert attempt.accepted
        finally:
            await providers.close()


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"smtp_host": "mail.example.com"}, "HERALD_SMTP_FROM"),
        ({"smtp_host": "mail.example.com", "smtp_from": "a@b.c", "smtp_user": "u"}, "HERALD_SMTP_PASSWORD"),
        ({"twilio_account_sid": "AC1", "twilio_from": "+1"}, "HERALD_TWILIO_AUTH_TOKEN"),
        ({"apns_key_id": "K", "apns_team_id": "T", "apns_topic": "t"}, "HERALD_APNS_KEY_FILE"),
        ({"apns_key_file": "/nonexistent/AuthKey.p8", "apns_key_id": "K", "apns_team_id": "T", "apns_topic": "t"},
         "HERALD_APNS_KEY_FILE /nonexistent/AuthKey.p8: cannot read it"),
        ({"fcm_credentials_file": "/nonexistent/sa.json"}, "HERALD_FCM_CREDENTIALS_FILE /nonexistent/sa.json"),
    ],
)
def test_misconfiguration_names_the_variable(tmp_path, values, named):
    with pytest.raises(ProviderConfigError, match=named.replace("+", r"\+")):
        build_providers(settings(tmp_path, **values))


def test_unusable_key_and_credentials_files_are_refused(tmp_path):
    not_a_key = tmp_path / "AuthKey.p8"
    not_a_key.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ProviderConfigError, match="HERALD_APNS_KEY_FILE"):
        build_providers(settings(tmp_path, apns_key_file=not_a_key, apns_key_id="K", apns_team_id="T",
                                 apns_topic="t"))
    no_project = tmp_path / "sa.json"
    creds = FcmServer().credentials(token_uri="https://oauth2.example/token")
    del creds["project_id"]
    no_project.write_text(json.dumps(creds))
    with pytest.raises(ProviderConfigError, match="HERALD_FCM_PROJECT_ID is unset"):
        build_providers(settings(tmp_path, fcm_credentials_file=no_project))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ProviderConfigError, match="HERALD_FCM_CREDENTIALS_FILE"):
        build_providers(settings(tmp_path, fcm_credentials_file=broken))

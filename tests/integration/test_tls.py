"""TLS and mutual TLS on the suite's gRPC servers, with a CA, a certificate it issued for the
suite (server and client use) and a stranger's certificate from another CA."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import pytest
from herald.ingest.v1 import ingest_pb2
from herald_common.access import Caller
from herald_common.clients import IdentityClient, IngestClient
from herald_common.healthcheck import check_grpc
from herald_common.protoconv import set_timestamp
from herald_common.settings import Settings

from tests.fakes.tls import suite_pki
from tests.integration.conftest import WORKSPACE, WRITE_KEY
from tests.integration.console.conftest import start_services


@pytest.fixture
def pki(tmp_path_factory):
    return suite_pki(tmp_path_factory.mktemp("pki"))


def tls_settings(settings: Settings, pki, *, mutual: bool) -> Settings:
    update = {"tls_cert_file": pki.cert, "tls_key_file": pki.key}
    update["tls_client_ca_file" if mutual else "tls_ca_file"] = pki.ca
    return settings.model_copy(update=update)


async def answers(client) -> bool:
    try:
        await client.list_workspaces()
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.UNAVAILABLE, error
        return False
    finally:
        await client.close()
    return True


async def test_services_serve_tls_and_refuse_a_plaintext_client(sqlite_settings, pki):
    wired, running = await start_services(tls_settings(sqlite_settings, pki, mutual=False), names=("identity",))
    try:
        address = wired.identity_address
        assert await answers(IdentityClient(address, 5, caller=Caller.admin(wired)))
        plaintext = wired.model_copy(update={"tls_cert_file": None, "tls_key_file": None, "tls_ca_file": None})
        assert not await answers(IdentityClient(address, 5, caller=Caller.admin(plaintext)))
        # probes too: `herald up`'s and the image's HEALTHCHECK ask over TLS, needing no token
        assert (await asyncio.to_thread(check_grpc, address, settings=wired))[0]
        assert not (await asyncio.to_thread(check_grpc, address, timeout=1, settings=plaintext))[0]
    finally:
        for service in running.values():
            await service.stop()


async def test_mutual_tls_lets_in_the_suites_certificates_only(sqlite_settings, pki):
    wired, running = await start_services(tls_settings(sqlite_settings, pki, mutual=True),
                                          names=("identity", "ingest"))
    try:
        address = wired.identity_address
        assert await answers(IdentityClient(address, 5, caller=Caller.admin(wired)))
        no_certificate = wired.model_copy(update={"tls_cert_file": None, "tls_key_file": None,
                                                  "tls_client_ca_file": None, "tls_ca_file": pki.ca})
        assert not await answers(IdentityClient(address, 5, caller=Caller.admin(no_certificate)))
        stranger = wired.model_copy(update={"tls_cert_file": pki.stranger_cert, "tls_key_file": pki.stranger_key})
        assert not await answers(IdentityClient(address, 5, caller=Caller.admin(stranger)))

        # Between services too: a Record at ingest makes ingest call identity's Resolve over mTLS.
        admin = IdentityClient(address, 5, caller=Caller.admin(wired))
        await admin.ensure_workspace(workspace_id=WORKSPACE, name="Default", write_key=WRITE_KEY)
        await admin.close()
        ingest = IngestClient(wired.ingest_address, 5, caller=Caller.internal(wired))
        event = ingest_pb2.IncomingEvent(message_id="tls-1", type="track", event="Signed Up", user_id="u-tls")
        set_timestamp(event.received_at, datetime.now(UTC))
        recorded = await ingest.record(ingest_pb2.RecordRequest(workspace_id=WORKSPACE, events=[event]))
        await ingest.close()
        assert recorded.results[0].outcome == ingest_pb2.RecordResult.OUTCOME_RECORDED
    finally:
        for service in reversed(list(running.values())):
            await service.stop()


def test_tls_settings_name_what_is_missing(pki, tmp_path):
    with pytest.raises(ValueError, match="HERALD_TLS_CERT_FILE and HERALD_TLS_KEY_FILE go together"):
        Settings(tls_cert_file=pki.cert)
    with pytest.raises(ValueError, match="HERALD_TLS_CLIENT_CA_FILE .mutual TLS. needs HERALD_TLS_CERT_FILE"):
        Settings(tls_client_ca_file=pki.ca)
    with pytest.raises(ValueError, match="HERALD_TLS_KEY_FILE '.*missing.key': no such file"):
        Settings(tls_cert_file=pki.cert, tls_key_file=tmp_path / "missing.key")
    assert Settings(tls_cert_file="", tls_key_file="").tls_cert_file is None

"""The four real services ask every call for its token: the admin token opens management calls,
the internal token the calls between services, and neither opens the other's (access.py)."""

from __future__ import annotations

import asyncio
import io

import grpc
import pytest
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from herald.campaign.v1 import campaign_pb2
from herald.delivery.v1 import delivery_pb2
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common.access import Caller
from herald_common.clients import CampaignClient, DeliveryClient, IdentityClient, IngestClient

from herald_services.console.backend import Backend, ServiceFailed
from tests.integration.conftest import WORKSPACE, WRITE_KEY
from tests.integration.console.conftest import start_services

CLIENTS = {"identity": IdentityClient, "ingest": IngestClient, "campaign": CampaignClient, "delivery": DeliveryClient}
# One management call and one call between services of each service.
MANAGEMENT = {
    "identity": ("ListWorkspaces", identity_pb2.ListWorkspacesRequest()),
    "ingest": ("ListEvents", ingest_pb2.ListEventsRequest(workspace_id=WORKSPACE)),
    "campaign": ("ListCampaigns", campaign_pb2.ListCampaignsRequest(workspace_id=WORKSPACE)),
    "delivery": ("ListSends", delivery_pb2.ListSendsRequest(workspace_id=WORKSPACE)),
}
BETWEEN_SERVICES = {
    "identity": ("Resolve", identity_pb2.ResolveRequest(workspace_id=WORKSPACE)),
    "ingest": ("Record", ingest_pb2.RecordRequest(workspace_id=WORKSPACE)),
    "campaign": ("OnEvents", campaign_pb2.OnEventsRequest()),
    "delivery": ("Schedule", delivery_pb2.ScheduleRequest()),
}


@pytest.fixture
async def suite(sqlite_settings):
    wired, running = await start_services(sqlite_settings)
    clients = []

    def client(service: str, caller: Caller):
        made = CLIENTS[service](wired.address_of(service), 10, caller=caller)
        clients.append(made)
        return made

    await client("identity", Caller.admin(wired)).ensure_workspace(workspace_id=WORKSPACE, name="Default",
                                                                    write_key=WRITE_KEY)
    yield wired, client
    for made in clients:
        await made.close()
    for service in reversed(list(running.values())):
        await service.stop()


async def call(client, method: str, request, *, metadata=None):
    return await getattr(client.stub, method)(request, timeout=10, metadata=metadata or client.metadata(method))


async def test_a_management_call_needs_the_admin_token(suite):
    settings, client = suite
    for service in CLIENTS:
        await _needs_the_admin_token(settings, client, service)


async def _needs_the_admin_token(settings, client, service: str) -> None:
    method, request = MANAGEMENT[service]
    admin = client(service, Caller.admin(settings))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await getattr(admin.stub, method)(request, timeout=10)  # no token at all
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "needs the admin token (HERALD_ADMIN_TOKEN, or the admin_token file in the data dir)" in refused.value.details()
    assert "none was sent" in refused.value.details()

    await call(admin, method, request)  # with it, the call is answered

    with pytest.raises(grpc.aio.AioRpcError) as wrong:
        await call(admin, method, request, metadata=(("authorization", "Bearer not-the-token"),))
    assert wrong.value.code() == grpc.StatusCode.UNAUTHENTICATED and "not-the-token" not in wrong.value.details()

    internal = client(service, Caller.internal(settings))
    with pytest.raises(grpc.aio.AioRpcError) as between:
        await call(internal, method, request)
    assert between.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert between.value.details().endswith("the internal token does not open management calls")


async def test_the_admin_token_does_not_open_a_call_between_services_and_the_internal_token_does(suite):
    settings, client = suite
    for service, (method, request) in BETWEEN_SERVICES.items():
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(client(service, Caller.admin(settings)), method, request)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, service
        assert refused.value.details().endswith("the admin token does not open calls between services")
        await call(client(service, Caller.internal(settings)), method, request)


async def test_health_answers_without_a_token_for_kubernetes_probes(suite):
    settings, _ = suite
    for service in CLIENTS:
        async with grpc.aio.insecure_channel(settings.address_of(service)) as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_users_record_is_asked_of_identity_by_campaign_and_the_cli_alike(suite):
    """GetUser is one RPC for both callers: the CLI's `users show` and campaign's filters."""
    settings, client = suite
    request = identity_pb2.GetUserRequest(workspace_id=WORKSPACE, id="nobody")
    for caller in (Caller.admin(settings), Caller.internal(settings)):
        with pytest.raises(grpc.aio.AioRpcError) as answer:
            await call(client("identity", caller), "GetUser", request)
        assert answer.value.code() == grpc.StatusCode.NOT_FOUND  # let in, and told there is no such user


@pytest.fixture
def herald(monkeypatch, capsys):
    from herald_cli.main import main

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=io.StringIO()))

    async def run(*argv: str, data_dir) -> tuple[int, str]:
        monkeypatch.setenv("HERALD_DATA_DIR", str(data_dir))
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(argv))
        return code, capsys.readouterr().err

    yield run
    structlog.reset_defaults()


async def test_the_cli_finds_the_admin_token_in_the_data_dir(suite, herald, monkeypatch, tmp_path_factory):
    settings, _ = suite
    monkeypatch.setenv("HERALD_IDENTITY_ADDRESS", settings.identity_address)
    monkeypatch.delenv("HERALD_ADMIN_TOKEN", raising=False)
    code, err = await herald("users", "show", "nobody", data_dir=settings.data_dir)
    assert (code, err) == (1, "herald: no user 'nobody' in workspace 'default'\n")  # let in: identity answered

    elsewhere = tmp_path_factory.mktemp("another-data-dir")
    code, err = await herald("users", "show", "nobody", data_dir=elsewhere)
    assert code == 1
    assert err.startswith(f"herald: identity at {settings.identity_address} refused the call: "
                          "herald.identity.v1.IdentityService/GetUser needs the admin token or the suite's internal "
                          "token; the token sent is neither. The CLI sends HERALD_ADMIN_TOKEN")

    monkeypatch.setenv("HERALD_ADMIN_TOKEN", (settings.data_dir / "admin_token").read_text().strip())
    code, err = await herald("users", "show", "nobody", data_dir=elsewhere)
    assert (code, err) == (1, "herald: no user 'nobody' in workspace 'default'\n")  # the variable wins


async def test_the_consoles_calls_carry_the_admin_token(suite, tmp_path_factory):
    settings, _ = suite
    backend = Backend.from_settings(settings)
    stranger = Backend.from_settings(settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("stranger")}))
    try:
        assert await backend.workspaces() == [(WORKSPACE, "Default")]
        with pytest.raises(ServiceFailed) as refused:
            await stranger.workspaces()
        assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        await backend.close()
        await stranger.close()

"""The CLI's calls into the suite: herald_common's clients, each failure turned into one line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
from herald_common.access import Caller
from herald_common.clients import (
    CampaignClient,
    DeliveryClient,
    IdentityClient,
    IngestClient,
)
from herald_common.settings import Settings

from herald_cli.errors import CliError, describe_rpc_error

CLIENTS = {"identity": IdentityClient, "ingest": IngestClient, "campaign": CampaignClient, "delivery": DeliveryClient}


@asynccontextmanager
async def connect(service: str, settings: Settings, timeout: float | None = None) -> AsyncIterator:
    """A client of service with a deadline on every call, calling with the admin token
    (HERALD_ADMIN_TOKEN, else the data dir's admin_token file); an RPC failure becomes a CliError."""
    address = settings.address_of(service)
    timeout = timeout or settings.rpc_timeout_seconds
    client = CLIENTS[service](address, timeout, caller=Caller.admin(settings))
    try:
        yield client
    except grpc.aio.AioRpcError as error:
        raise CliError(describe_rpc_error(error, service=service, address=address, timeout=timeout)) from None
    finally:
        await client.close()

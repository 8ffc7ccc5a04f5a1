"""herald up --replicas: the processes it plans and the addresses callers dial."""

from __future__ import annotations

import pytest
from herald_cli.suite import Component, settings_with, with_replicas
from herald_common.grpcclient import channel_target
from herald_common.settings import Settings


def test_one_address_is_dialled_as_is_and_a_list_becomes_an_ipv4_target():
    assert channel_target("127.0.0.1:7101") == "127.0.0.1:7101"
    assert channel_target("identity:7101") == "identity:7101"
    assert channel_target("127.0.0.1:7101,127.0.0.1:8101") == "ipv4:127.0.0.1:7101,127.0.0.1:8101"
    assert channel_target("[::1]:7101,[::1]:8101") == "ipv6:[::1]:7101,[::1]:8101"
    with pytest.raises(ValueError, match="IP:port"):
        channel_target("identity:7101,identity-2:7101")


def test_replicas_get_their_own_listen_addresses_and_callers_get_the_list(tmp_path):
    settings = Settings(data_dir=tmp_path)
    parts = [Component("identity", "127.0.0.1:7101", 0), Component("gateway", "127.0.0.1:8080", 1)]
    planned, shared = with_replicas(settings, parts, 2)
    assert [(p.label, p.replica) for p in planned] == [("identity", 1), ("identity#2", 2), ("gateway", 1), ("gateway#2", 2)]
    first, second = planned[0], planned[1]
    assert dict(first.env) == {"HERALD_LISTEN_ADDRESS": "127.0.0.1:7101"}
    assert dict(second.env)["HERALD_LISTEN_ADDRESS"] == second.address != first.address
    assert dict(second.env)["HERALD_IDENTITY_METRICS_ADDRESS"].startswith("127.0.0.1:")
    assert shared["HERALD_IDENTITY_ADDRESS"] == f"127.0.0.1:7101,{second.address}"
    assert shared["HERALD_GATEWAY_REUSE_PORT"] == "1"
    assert planned[2].address == planned[3].address == "127.0.0.1:8080"
    assert settings_with(settings, shared).identity_address == shared["HERALD_IDENTITY_ADDRESS"]
    # its own process listens on its own address, whatever the list says
    assert Settings(identity_address=shared["HERALD_IDENTITY_ADDRESS"], listen_address=second.address).listening_as(
        "identity"
    ).identity_address == second.address


def test_one_replica_changes_nothing(tmp_path):
    parts = [Component("identity", "127.0.0.1:7101", 0)]
    assert with_replicas(Settings(data_dir=tmp_path), parts, 1) == (parts, {})

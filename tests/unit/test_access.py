"""access.py: every method classified on purpose, tokens checked, tokens kept once in the data dir."""

from __future__ import annotations

import stat
import threading

import pytest
from herald.campaign.v1 import campaign_pb2
from herald.delivery.v1 import delivery_pb2
from herald.identity.v1 import identity_pb2
from herald.ingest.v1 import ingest_pb2
from herald_common import access
from herald_common.access import ADMIN, ADMIN_OR_INTERNAL, INTERNAL, Caller, Gate, Rule, rule_of
from herald_common.keyfiles import kept_secret
from herald_common.settings import Settings

DESCRIPTORS = (identity_pb2.DESCRIPTOR, ingest_pb2.DESCRIPTOR, campaign_pb2.DESCRIPTOR, delivery_pb2.DESCRIPTOR)
ADMIN_TOKEN, INTERNAL_TOKEN = "admin-" + "a" * 40, "internal-" + "b" * 40


def every_method() -> set[str]:
    return {
        f"/{service.full_name}/{method.name}"
        for descriptor in DESCRIPTORS
        for service in descriptor.services_by_name.values()
        for method in service.methods
    }


def test_every_method_of_every_service_is_classified_on_purpose():
    listed = set(access.RULES)
    missing = sorted(every_method() - listed)
    assert not missing, (
        f"classify these in libs/herald_common/access.py METHODS (who calls them: a service -> INTERNAL or "
        f"ADMIN_OR_INTERNAL, the CLI or console -> ADMIN): {missing}"
    )
    assert not sorted(listed - every_method()), "access.METHODS lists methods no service has"
    assert all(callers.strip() for methods in access.METHODS.values() for _, callers in methods.values())


def test_calls_between_services_are_internal_and_management_calls_admin():
    assert rule_of("/herald.ingest.v1.IngestService/Record") is INTERNAL
    assert rule_of("/herald.campaign.v1.CampaignService/OnEvents") is INTERNAL
    assert rule_of("/herald.campaign.v1.CampaignService/MarkSentBatch") is INTERNAL
    assert rule_of("/herald.identity.v1.IdentityService/GetUser") is ADMIN_OR_INTERNAL
    assert rule_of("/herald.campaign.v1.CampaignService/ApplyCampaign") is ADMIN
    assert rule_of("/herald.identity.v1.IdentityService/DeleteUser") is ADMIN
    assert rule_of("/herald.identity.v1.IdentityService/SomethingNew") is ADMIN  # unlisted: the admin token
    assert rule_of("/grpc.health.v1.Health/Check") is Rule.OPEN
    assert rule_of("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") is Rule.OPEN


@pytest.fixture
def gate() -> Gate:
    return Gate(admin_token=ADMIN_TOKEN, internal_token=INTERNAL_TOKEN)


def test_the_admin_token_opens_management_calls_and_not_calls_between_services(gate):
    admin = f"Bearer {ADMIN_TOKEN}"
    assert gate.refusal("/herald.campaign.v1.CampaignService/ApplyCampaign", admin) is None
    assert gate.refusal("/herald.identity.v1.IdentityService/GetUser", admin) is None
    refused = gate.refusal("/herald.campaign.v1.CampaignService/OnEvents", admin)
    assert refused == (
        "herald.campaign.v1.CampaignService/OnEvents is called by herald's own services and needs the suite's "
        "internal token (HERALD_INTERNAL_TOKEN, or the internal_token file in the data dir); the admin token "
        "does not open calls between services"
    )


def test_the_internal_token_opens_calls_between_services_and_not_management_calls(gate):
    internal = f"bearer {INTERNAL_TOKEN}"  # the scheme is case-insensitive
    assert gate.refusal("/herald.ingest.v1.IngestService/Record", internal) is None
    assert gate.refusal("/herald.identity.v1.IdentityService/GetUser", internal) is None
    refused = gate.refusal("/herald.identity.v1.IdentityService/DeleteUser", internal)
    assert refused.endswith("the internal token does not open management calls")


def test_a_missing_malformed_or_wrong_token_is_refused_saying_what_is_expected_never_the_token(gate):
    method = "/herald.campaign.v1.CampaignService/ApplyCampaign"
    assert gate.refusal(method, None) == (
        "herald.campaign.v1.CampaignService/ApplyCampaign needs the admin token (HERALD_ADMIN_TOKEN, or the "
        "admin_token file in the data dir) as `authorization: Bearer <token>` metadata; none was sent"
    )
    assert gate.refusal(method, ADMIN_TOKEN).endswith("the authorization sent is not of that form")
    assert gate.refusal(method, "Basic " + ADMIN_TOKEN).endswith("the authorization sent is not of that form")
    wrong = gate.refusal(method, "Bearer guess")
    assert wrong.endswith("the token sent is not it")
    assert gate.refusal("/herald.identity.v1.IdentityService/GetUser", "Bearer guess").endswith("is neither")
    for message in (wrong, gate.refusal(method, None), gate.refusal("/herald.ingest.v1.IngestService/Record", None)):
        assert ADMIN_TOKEN not in message and INTERNAL_TOKEN not in message and "guess" not in message


def test_health_and_reflection_are_open_without_a_token(gate):
    assert gate.refusal("/grpc.health.v1.Health/Check", None) is None
    assert gate.refusal("/grpc.health.v1.Health/Watch", None) is None
    assert gate.refusal("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", None) is None


def test_the_internal_token_may_not_be_the_admin_token():
    with pytest.raises(ValueError, match="HERALD_INTERNAL_TOKEN must differ from HERALD_ADMIN_TOKEN"):
        Gate(admin_token="same-token-value", internal_token="same-token-value")


def test_a_caller_with_both_tokens_presents_each_method_its_real_callers_token():
    both = Caller(admin_token=ADMIN_TOKEN, internal_token=INTERNAL_TOKEN)
    assert both.authorization(access.CAMPAIGN, "ApplyCampaign") == ("authorization", f"Bearer {ADMIN_TOKEN}")
    assert both.authorization(access.CAMPAIGN, "OnEvents") == ("authorization", f"Bearer {INTERNAL_TOKEN}")
    assert both.authorization(access.IDENTITY, "GetUser") == ("authorization", f"Bearer {INTERNAL_TOKEN}")
    only_admin = Caller(admin_token=ADMIN_TOKEN)
    assert only_admin.authorization(access.CAMPAIGN, "OnEvents") == ("authorization", f"Bearer {ADMIN_TOKEN}")


def test_tokens_are_generated_once_into_the_data_dir_with_mode_0600(tmp_path):
    settings = Settings(data_dir=tmp_path)
    admin, where = access.admin_token(settings)
    internal, internal_where = access.internal_token(settings)
    assert (where, internal_where) == (str(tmp_path / "admin_token"), str(tmp_path / "internal_token"))
    assert admin != internal and len(admin) >= 40
    assert access.admin_token(settings) == (admin, where) and access.internal_token(settings)[0] == internal
    for name in ("admin_token", "internal_token"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no private file left behind


def test_the_variables_win_over_the_kept_files(tmp_path):
    settings = Settings(data_dir=tmp_path, admin_token="from-the-variable-1", internal_token="from-the-variable-2")
    assert access.admin_token(settings) == ("from-the-variable-1", "HERALD_ADMIN_TOKEN")
    assert access.internal_token(settings) == ("from-the-variable-2", "HERALD_INTERNAL_TOKEN")
    assert not (tmp_path / "admin_token").exists()


def test_a_placeholder_token_is_refused():
    with pytest.raises(ValueError, match="HERALD_ADMIN_TOKEN is a placeholder"):
        Settings(admin_token="changeme")


def test_processes_starting_at_once_agree_on_one_generated_secret(tmp_path):
    path = tmp_path / "internal_token"
    found: list[str] = []
    start = threading.Barrier(8)

    def take() -> None:
        start.wait()
        found.append(kept_secret(path)[0])

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and path.read_text().strip() == found[0]


def test_an_empty_kept_file_is_replaced_by_a_new_secret(tmp_path):
    path = tmp_path / "admin_token"
    path.write_text("\n")
    value, generated = kept_secret(path)
    assert generated and path.read_text().strip() == value

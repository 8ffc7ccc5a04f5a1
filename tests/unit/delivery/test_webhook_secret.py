"""The webhook secret: `whsec_<base64>` from HERALD_WEBHOOK_SECRET, else generated once and kept in
the data dir (mode 0600); a malformed one, or the retired sha256= header setting, refused at start."""

from __future__ import annotations

import base64
import stat

import pytest
from herald_common.settings import Settings
from herald_common.webhook_secret import WEBHOOK_SECRET_FILE, resolve_webhook_secret, secret_key
from pydantic import ValidationError

GOOD = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def test_a_whsec_secret_is_its_base64_decoded_key():
    assert secret_key(GOOD) == bytes(range(32))


@pytest.mark.parametrize("value, reason", [
    ("0123456789abcdef0123456789", "must start with whsec_"),
    ("whsec_", "no key after whsec_"),
    ("whsec_not base64!", "not base64"),
    ("whsec_" + base64.b64encode(b"short").decode(), "5 bytes"),
])
def test_a_malformed_secret_is_refused_with_the_reason(value, reason):
    with pytest.raises(ValueError, match=reason):
        secret_key(value)


@pytest.mark.parametrize("variable", ["webhook_secret", "webhook_secret_previous"])
def test_settings_refuse_a_malformed_secret_naming_the_variable(tmp_path, variable):
    with pytest.raises(ValidationError, match=f"HERALD_{variable.upper()}.*whsec_"):
        Settings(data_dir=tmp_path, **{variable: "sha256-era-secret-value"})
    assert Settings(data_dir=tmp_path, **{variable: GOOD}).model_dump()[variable] == GOOD


def test_the_retired_signature_header_setting_is_refused_saying_what_replaced_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HERALD_WEBHOOK_SIGNATURE_HEADER", "X-Herald-Signature")
    with pytest.raises(ValidationError, match="HERALD_WEBHOOK_SIGNATURE_HEADER.*webhook-signature"):
        Settings(data_dir=tmp_path)


def test_without_a_configured_secret_one_is_generated_once_and_kept_private(tmp_path):
    secret, source = resolve_webhook_secret(None, tmp_path)
    path = tmp_path / WEBHOOK_SECRET_FILE
    assert source == f"generated, kept in {path}"
    assert len(secret_key(secret)) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_webhook_secret(None, tmp_path) == (secret, str(path))


def test_a_configured_secret_wins_and_writes_nothing(tmp_path):
    assert resolve_webhook_secret(GOOD, tmp_path) == (GOOD, "HERALD_WEBHOOK_SECRET")
    assert not (tmp_path / WEBHOOK_SECRET_FILE).exists()


def test_a_damaged_kept_secret_is_refused_naming_the_file(tmp_path):
    (tmp_path / WEBHOOK_SECRET_FILE).write_text("garbage\n")
    with pytest.raises(ValueError, match=f"{WEBHOOK_SECRET_FILE}.*whsec_"):
        resolve_webhook_secret(None, tmp_path)

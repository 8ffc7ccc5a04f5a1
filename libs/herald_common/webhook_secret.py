"""The secret webhooks are signed with, Standard Webhooks style: `whsec_` + base64 of the key.

HERALD_WEBHOOK_SECRET when set; otherwise one generated once and kept in the data dir, so a
laptop run signs from its first webhook and the receiver can be given the secret to check.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from pathlib import Path

from herald_common.keyfiles import kept_secret

PREFIX = "whsec_"
WEBHOOK_SECRET_FILE = "webhook_secret"
# The Standard Webhooks specification asks for a key of 24 to 64 bytes.
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
GENERATED_KEY_BYTES = 32


def secret_key(value: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError saying what is wrong with it."""
    value = value.strip()
    if not value.startswith(PREFIX):
        raise ValueError(f"must start with {PREFIX} followed by the base64 of {MIN_KEY_BYTES} to {MAX_KEY_BYTES} "
                         "random bytes (Standard Webhooks; herald no longer signs sha256= headers)")
    encoded = value[len(PREFIX):]
    if not encoded:
        raise ValueError(f"has no key after {PREFIX}")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"the part after {PREFIX} is not base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"its key is {len(key)} bytes; Standard Webhooks keys are {MIN_KEY_BYTES} to {MAX_KEY_BYTES} "
                         f"bytes (make one: python -c \"import base64, os; print('{PREFIX}' + "
                         f"base64.b64encode(os.urandom(32)).decode())\")")
    return key


def generate_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(GENERATED_KEY_BYTES)).decode()


def resolve_webhook_secret(configured: str | None, data_dir: Path) -> tuple[str, str]:
    """(secret, where it came from): HERALD_WEBHOOK_SECRET, else the data dir's file, else a new
    one written there (mode 0600); keyfiles.kept_secret makes processes starting at once agree."""
    if configured:
        return configured, "HERALD_WEBHOOK_SECRET"
    path = data_dir / WEBHOOK_SECRET_FILE
    secret, generated = kept_secret(path, generate=generate_secret, check=_usable_kept_secret)
    return secret, (f"generated, kept in {path}" if generated else str(path))


def _usable_kept_secret(value: str) -> None:
    try:
        secret_key(value)
    except ValueError as error:
        raise ValueError(f"(the kept webhook secret) {error}") from None

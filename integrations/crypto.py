"""Credentials encryption at rest: MultiFernet over FIELD_ENCRYPTION_KEYS (first key encrypts)."""
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from integrations.redaction import secrets_register_mapping


class DecryptionError(Exception):
    """No configured key opens the stored value; never fall back to returning ciphertext."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: credentials cannot be encrypted.")
    try:
        return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"FIELD_ENCRYPTION_KEYS holds an invalid Fernet key: {exc}") from None


def get_fernet() -> MultiFernet:
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_json(value: dict) -> str:
    if not value:
        return ""
    secrets_register_mapping(value)  # masked in every log line and error message from now on
    return get_fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        value = json.loads(get_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise DecryptionError("Stored credentials cannot be decrypted with FIELD_ENCRYPTION_KEYS.") from None
    secrets_register_mapping(value)
    return value


def rotate(token: str) -> str:
    """Re-encrypt a token under the first key."""
    if not token:
        return ""
    try:
        return get_fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError("Stored credentials cannot be decrypted with FIELD_ENCRYPTION_KEYS.") from None

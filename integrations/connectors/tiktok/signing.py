"""Pure signing functions (reference §2 requests, §10.3 webhooks). No I/O, no Django."""
from __future__ import annotations

import hashlib
import hmac
from typing import Mapping

EXCLUDED_FROM_SIGNATURE = frozenset({"sign", "access_token"})


def string_to_sign(*, app_secret: str, path: str, query: Mapping[str, object], body: str = "",
                   content_type: str = "application/json") -> str:
    """`app_secret + path + sorted(k+v) + body + app_secret`; multipart bodies are not signed."""
    params = "".join(f"{key}{query[key]}" for key in sorted(query) if key not in EXCLUDED_FROM_SIGNATURE)
    base = f"{path}{params}"
    if body and not content_type.startswith("multipart/form-data"):
        base += body
    return f"{app_secret}{base}{app_secret}"


def sign_request(*, app_secret: str, path: str, query: Mapping[str, object], body: str = "",
                 content_type: str = "application/json") -> str:
    """Lowercase hex HMAC-SHA256 keyed with the app secret."""
    message = string_to_sign(app_secret=app_secret, path=path, query=query, body=body, content_type=content_type)
    return hmac.new(app_secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def webhook_signature(*, app_key: str, app_secret: str, body: bytes) -> str:
    """`hex(HMAC_SHA256(app_secret, app_key + raw_body))`."""
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


def webhook_verify(*, app_key: str, app_secret: str, body: bytes, signature: str) -> bool:
    """Constant-time check of the `Authorization` header over the raw body."""
    if not signature or not app_key or not app_secret:
        return False
    expected = webhook_signature(app_key=app_key, app_secret=app_secret, body=body)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())

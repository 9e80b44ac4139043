"""Secrets never leave the process in text: one `redact()` used by outbound-request errors, connector
error messages, stored run/exception messages, every log record and the DEBUG error page.

Two rules, applied together:
- secret-*named* values: `name=value` (query strings, form bodies), `"name": "value"` / `'name': 'value'`
  (JSON, Python reprs) and `Authorization: Basic|Bearer …` have their value replaced by `***`, whatever
  the value is (auth codes, signatures, tokens never stored anywhere);
- known secret *values*: every credential value that passes through encryption (`crypto`), the Django
  SECRET_KEY and the field-encryption keys are registered here and masked wherever they appear, raw or
  URL-encoded (a remote echoing a token back in an error body, an exception from any library).

This is the project's only masking rule and `***` its only mask (integrations.services.redact adds the
integration's own credential values and calls it). The name list covers every remote's wire names and widens
itself with each registered connector's secret credential fields (registry.register), so a new connector is
covered without editing this file (tests/integrations/test_redaction.py)."""
from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote, quote_plus

MASK = "***"
# Parameter names whose value is always masked (case-insensitive, whole name).
SECRET_NAMES = {
    "app_secret", "client_secret", "api_secret", "secret", "auth_code", "access_token", "refresh_token",
    "token", "id_token", "sign", "signature", "password", "passwd", "api_key", "apikey", "api-key", "x-api-key",
    "x-tts-access-token", "authorization", "code_verifier", "private_key", "session_token",
    # cookie sessions (Acumatica): the header and the session cookies' own names
    "cookie", "set-cookie", ".aspxauth", "asp.net_sessionid", "sessionid", "csrftoken",
}
# Masked only as `name=value` (OAuth callback query strings): as JSON keys they are ordinary fields.
QUERY_ONLY_NAMES = ("code", "state")


# Headers whose whole value is a secret, masked on a `Name: value` line.
HEADER_NAMES = ("cookie", "set-cookie", "x-tts-access-token", "x-api-key", "api-key")


def _alternation(names) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


def _compile() -> None:
    """(Re)build the name patterns from SECRET_NAMES (widened by `secret_names_register`)."""
    global _ANY_SECRET_NAME, _PARAM, _QUOTED, _SECRET_NAME_FULL
    _ANY_SECRET_NAME = rf"(?:{_alternation(SECRET_NAMES)}|[\w-]*(?:secret|password)[\w-]*)"
    # name=value in query strings / bodies / free text (value stops at a separator or quote).
    _PARAM = re.compile(rf"(?i)(?<![\w-])({_ANY_SECRET_NAME}|{_alternation(QUERY_ONLY_NAMES)})=(?!\*\*\*)[^&\s'\"<>#;,)\]}}]+")
    # "name": "value" and 'name': 'value' (JSON, dict reprs).
    _QUOTED = re.compile(rf"(?i)([\"'])({_ANY_SECRET_NAME})\1(\s*:\s*)([\"'])(?!\*\*\*)(.*?)(?<!\\)\4")
    _SECRET_NAME_FULL = re.compile(rf"(?i){_ANY_SECRET_NAME}|{_alternation(QUERY_ONLY_NAMES)}")


_ANY_SECRET_NAME = _PARAM = _QUOTED = _SECRET_NAME_FULL = None
_compile()
# Authorization: Basic|Bearer <token>, and `Name: value` lines of the headers whose whole value is secret.
_AUTH_HEADER = re.compile(r"(?i)\b(Basic|Bearer)\s+(?!\*\*\*)[A-Za-z0-9+/=._~-]{6,}")
_HEADER_LINE = re.compile(rf"(?im)(?<![\w-])({_alternation(HEADER_NAMES)})(\s*:\s*)(?!\*\*\*)(?![\"'])[^\r\n'\"]+")
_lock = threading.Lock()


def secret_names_register(*names: str) -> None:
    """Widen the secret-name list (the registry calls this with every connector's secret credential keys)."""
    fresh = {str(n).lower() for n in names if n} - SECRET_NAMES
    if fresh:
        with _lock:
            SECRET_NAMES.update(fresh)
            _compile()


MIN_VALUE_LENGTH = 6  # shorter registered values would mask ordinary words

_values: set[str] = set()
_values_pattern: re.Pattern | None = None


def secrets_register(*values) -> None:
    """Remember secret values (credentials, keys) so they are masked wherever they appear."""
    global _values_pattern
    fresh = set()
    for value in values:
        if isinstance(value, (bytes, bytearray)):
            value = value.decode(errors="ignore")
        if not isinstance(value, str) or len(value) < MIN_VALUE_LENGTH:
            continue
        fresh.update({value, quote(value, safe=""), quote_plus(value)})
    fresh -= _values
    if not fresh:
        return
    with _lock:
        _values.update(fresh)
        ordered = sorted(_values, key=len, reverse=True)
        _values_pattern = re.compile("|".join(re.escape(v) for v in ordered))


def secrets_register_mapping(values: dict) -> None:
    """Register every string value of a credentials mapping (nested values included)."""
    stack, found = [values], []
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, str):
            found.append(item)
    secrets_register(*found)


def is_secret_name(name: str) -> bool:
    return bool(_SECRET_NAME_FULL.fullmatch(str(name)))


# Per-request values (a fresh HMAC signature on every call): never registered, or the registry and its pattern
# would grow with every request a worker makes; they travel only as `sign=…`, which the name rule masks anyway.
PER_REQUEST_NAMES = frozenset({"sign", "signature", "timestamp"})


def secrets_register_params(params: dict | None) -> None:
    """Register the values of secret-named request parameters (auth codes, tokens) before they are sent."""
    secrets_register(*(v for k, v in (params or {}).items()
                       if str(k).lower() not in PER_REQUEST_NAMES and is_secret_name(k)))


def redact(text):
    """`text` with every secret masked; non-strings are returned unchanged."""
    if not isinstance(text, str) or not text:
        return text
    pattern = _values_pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _PARAM.sub(lambda m: f"{m.group(1)}={MASK}", text)
    text = _QUOTED.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}{m.group(4)}", text)
    text = _HEADER_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    return _AUTH_HEADER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def redact_exception(exc: BaseException | None, _seen: set | None = None) -> None:
    """Mask secrets inside an exception, its args (nested exceptions included) and its
    __cause__/__context__ chain, in place, so any traceback rendered from it is clean."""
    seen = _seen if _seen is not None else set()
    while exc is not None and id(exc) not in seen and len(seen) < 50:
        seen.add(id(exc))
        try:
            new_args = []
            for arg in exc.args:
                if isinstance(arg, BaseException):
                    redact_exception(arg, seen)
                    new_args.append(arg)
                else:
                    new_args.append(redact(arg) if isinstance(arg, str) else arg)
            exc.args = tuple(new_args)
        except (AttributeError, TypeError):
            pass
        for attr in ("message", "msg", "reason", "url", "strerror", "filename"):
            value = getattr(exc, attr, None)
            if isinstance(value, str):
                try:
                    setattr(exc, attr, redact(value))
                except (AttributeError, TypeError):
                    pass
            elif isinstance(value, BaseException):
                redact_exception(value, seen)
        if exc.__cause__ is not None:
            redact_exception(exc.__cause__, seen)
        exc = exc.__context__


def describe(exc: BaseException) -> str:
    """A one-line, redacted description of an exception (class and message)."""
    return redact(f"{type(exc).__name__}: {exc}")


# --- logging -----------------------------------------------------------------------------------

_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask secrets in a log record in place: message with its args, exception text and objects, extras."""
    if getattr(record, "_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the raw parts, masked
        message = f"{record.msg} {record.args!r}"
    record.msg, record.args = redact(message), None
    if record.exc_info and record.exc_info[1] is not None:
        redact_exception(record.exc_info[1])
        if not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for key, value in list(vars(record).items()):
        if key not in _STANDARD_ATTRS and isinstance(value, str):
            setattr(record, key, redact(value))
    record._redacted = True
    return record


class RedactingFilter(logging.Filter):
    """Logging filter (settings.LOGGING) masking secrets in every record it sees; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def install_record_redaction() -> None:
    """Redact every record as it is made (extras included), so every handler — console, mail, pytest's
    caplog, an error tracker — gets clean records whatever its own filters. Idempotent."""
    make_record = logging.Logger.makeRecord
    if getattr(make_record, "_redacting", False):
        return

    def redacting_make_record(self, *args, **kwargs):
        return redact_record(make_record(self, *args, **kwargs))

    redacting_make_record._redacting = True
    logging.Logger.makeRecord = redacting_make_record

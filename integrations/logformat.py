"""Console log format: the message followed by the record's structured extras as key=value, so an event logged as
``logger.info("flow.finished", extra={...})`` reads ``flow.finished integration=3 flow=pull_orders status=succeeded``
instead of the bare event name. Records are already redacted when made (integrations/redaction.py)."""
from __future__ import annotations

import logging

_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _value(value) -> str:
    text = str(value)
    if not text or any(ch.isspace() for ch in text) or "=" in text:
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text[:500]


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = [(k, v) for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")]
        if not extras:
            return text
        pairs = " ".join(f"{k}={_value(v)}" for k, v in sorted(extras))
        head, sep, rest = text.partition("\n")  # keep a traceback below the first line
        return f"{head} {pairs}{sep}{rest}"

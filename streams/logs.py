"""Log output of every ``vigil`` command: text for people, or one JSON object per line.

``VIGIL_LOG_FORMAT=json`` (or ``vigil --log-format json ...``) makes each log
line a JSON object with ``time`` (RFC 3339, UTC, milliseconds), ``level``,
``logger`` and ``message``, plus ``exc_info`` for a traceback and every field a
caller passed with ``extra={...}``, for log shippers that index fields
(Loki, Elasticsearch, CloudWatch). Only the standard library is used.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["JsonFormatter", "TEXT_FORMAT", "configure_logging", "faust_logging_config"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# The attributes every LogRecord has; anything else came from ``extra=``.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """Format a record as one line of JSON.

    Examples
    --------
    >>> rec = logging.LogRecord("vigil", logging.WARNING, "x.py", 1, "lag %d", (5,), None)
    >>> rec.created, rec.partition = 0.0, 3
    >>> line = JsonFormatter().format(rec)
    >>> line[:60]
    '{"time":"1970-01-01T00:00:00.000Z","level":"WARNING","logger'
    >>> json.loads(line)["message"], json.loads(line)["partition"]
    ('lag 5', 3)
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack_info"] = self.formatStack(record.stack_info)
        # default=str: an extra field that JSON cannot hold is logged as its text.
        return json.dumps(out, default=str, ensure_ascii=False, separators=(",", ":"))


class _CommandHandler(logging.StreamHandler[TextIO]):
    """The handler `configure_logging` installs (so that a second call can find it)."""


def configure_logging(
    fmt: str, level: str | int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send the root logger's records to `stream` (stderr) as ``text`` or ``json``.

    Like `logging.basicConfig`, this leaves a root logger that someone else has
    configured (an application embedding Vigil, pytest) alone; calling it again
    replaces only the handler it installed itself.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _CommandHandler)]:
        root.removeHandler(old)
    if root.handlers:
        return
    handler = _CommandHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level)


def faust_logging_config(fmt: str, level: str) -> dict[str, Any] | None:
    """Return the ``logging_config`` of a Faust worker (None: Faust's own text format).

    Faust replaces the root logger's handlers when its worker starts; with this
    dictionary its replacement writes JSON lines to stdout, where Faust logs.
    """
    if fmt != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "level": level,
                "stream": "ext://sys.stdout",
            }
        },
        "root": {"level": level, "handlers": ["default"]},
    }

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
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "CLIENT_LOGGERS",
    "TEXT_FORMAT",
    "BrokerOutageFilter",
    "JsonFormatter",
    "configure_logging",
    "faust_logging_config",
    "install_outage_filter",
]

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


#: Loggers of the Kafka clients and the framework, quieted while the broker is away.
CLIENT_LOGGERS = ("aiokafka", "kafka", "faust", "mode")
#: What a client's line says when it cannot reach the broker (the first such line
#: starts an outage; other warnings pass while the broker is up).
_UNREACHABLE = re.compile(
    r"connect|NodeNotReady|not available|unavailable|Unable to (update|request)|"
    r"timed? ?out|Coordinator|NotLeader|metadata",
    re.IGNORECASE,
)


class BrokerOutageFilter(logging.Filter):
    """Turn a broker outage's flood of client errors into one line when lost, one when back.

    While the broker is unreachable aiokafka and Faust log every failed
    connection, fetch, heartbeat, commit and metadata refresh, from several
    tasks, each retrying every few hundred milliseconds: a 3 s outage wrote
    about 2,300 ERROR lines. Installed on the output handlers, this filter lets
    the first WARNING-or-worse record of a client logger through rewritten as
    ``Kafka broker unreachable: ...``, drops the client loggers' warnings and
    errors after it, and `back` (called by `streams.brokerwatch` when the
    broker answers again) logs one line with the outage's length and how many
    lines were dropped. Records of Vigil's own loggers always pass.

    Examples
    --------
    >>> f = BrokerOutageFilter()
    >>> def rec(name, msg):
    ...     return logging.LogRecord(name, logging.ERROR, "x.py", 1, msg, None, None)
    >>> f.filter(rec("aiokafka.conn", "Unable to connect to node 1"))
    True
    >>> f.down, f.filter(rec("aiokafka.consumer", "Heartbeat failed")), f.suppressed
    (True, False, 1)
    >>> f.filter(rec("vigil.app", "dead letter from ..."))
    True
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self.down_since: float | None = None
        self.suppressed = 0
        self._log = logging.getLogger("vigil.broker")

    @property
    def down(self) -> bool:
        """Tell whether an outage is under way (as far as the logs have seen)."""
        return self.down_since is not None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(CLIENT_LOGGERS):
            return True
        if self.down_since is not None:
            self.suppressed += 1
            return False
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        if not _UNREACHABLE.search(text):
            return True
        self.down_since = self._clock()
        origin, first = record.name, text.splitlines()[0][:300]
        record.name, record.levelno, record.levelname = "vigil.broker", logging.ERROR, "ERROR"
        record.msg = "Kafka broker unreachable (%s: %s); client errors are quiet until it is back"
        record.args = (origin, first)
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

    def lost(self, reason: str) -> None:
        """Record an outage seen by a probe before any client logged it (one line)."""
        if self.down_since is None:
            self.down_since = self._clock()
            self._log.error(
                "Kafka broker unreachable (%s); client errors are quiet until it is back", reason
            )

    def back(self) -> None:
        """End an outage: log its length and the dropped lines (nothing if none was under way)."""
        if self.down_since is None:
            return
        took = self._clock() - self.down_since
        dropped, self.down_since, self.suppressed = self.suppressed, None, 0
        self._log.warning(
            "Kafka broker reachable again after %.1f s (%d client log lines suppressed)",
            took,
            dropped,
        )


def install_outage_filter(flt: BrokerOutageFilter) -> None:
    """Add `flt` to every handler of the root logger (Faust replaces them at start)."""
    for handler in logging.getLogger().handlers:
        if flt not in handler.filters:
            handler.addFilter(flt)

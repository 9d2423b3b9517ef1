"""Recent alerts and their status, as every engine process sees them (``GET /alerts``).

Each process reads all of ``vigil.alerts`` and ``{prefix}alert-status`` from the
beginning with its own consumer (no consumer group, nothing committed) and keeps
the most recent `max_alerts` alerts in memory with their status, so any process
answers ``GET /alerts`` and can resolve any alert.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from config.settings import Settings
from reputation.alerts import WITHDRAWN
from reputation.errors import InvalidEventError
from reputation.events import parse_time
from streams.follow import follow_topics

__all__ = ["AlertFilter", "AlertLog"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """What ``GET /alerts`` asks for; None matches anything."""

    kind: str | None = None
    type: str | None = None
    severity: str | None = None
    status: str | None = None
    worker_id: str | None = None
    wallet: str | None = None
    since: datetime | None = None
    limit: int = 100

    def matches(self, alert: dict[str, Any], status: str) -> bool:
        """Tell whether an alert record (with its status) passes the filter."""
        if self.kind is not None and alert.get("kind") != self.kind:
            return False
        if self.type is not None and alert.get("type") != self.type:
            return False
        if self.severity is not None and alert.get("severity") != self.severity:
            return False
        if self.status is not None and status != self.status:
            return False
        if self.worker_id is not None and alert.get("worker_id") != self.worker_id:
            return False
        if self.wallet is not None and alert.get("wallet") != self.wallet:
            return False
        if self.since is not None:
            try:
                return parse_time(alert.get("detected_at"), "detected_at") >= self.since
            except InvalidEventError:
                return False
        return True


@dataclass
class AlertLog:
    """The in-memory view of recent alerts; `run` keeps it current."""

    settings: Settings
    max_alerts: int = 50_000
    alerts: OrderedDict[str, dict[str, Any]] = field(default_factory=OrderedDict)
    resolutions: dict[str, dict[str, Any]] = field(default_factory=dict)
    withdrawn: dict[str, dict[str, Any]] = field(default_factory=dict)
    caught_up: asyncio.Event = field(default_factory=asyncio.Event)

    def add_alert(self, record: dict[str, Any]) -> None:
        """Remember an alert record (a repeated id keeps its place; a withdrawal marks it)."""
        alert_id = str(record.get("alert_id"))
        if record.get("status") == WITHDRAWN:
            if alert_id in self.alerts:
                self.withdrawn[alert_id] = record
            return
        self.withdrawn.pop(alert_id, None)  # raised again
        if alert_id in self.alerts:
            self.alerts[alert_id] = record  # sent again (an earlier detected_at): latest holds
        else:
            self.alerts[alert_id] = record
            while len(self.alerts) > self.max_alerts:
                old, _ = self.alerts.popitem(last=False)
                self.resolutions.pop(old, None)
                self.withdrawn.pop(old, None)

    def add_status(self, record: dict[str, Any]) -> None:
        """Apply an alert-status command: a resolution closes the alert, an open reopens it."""
        alert_id = str(record.get("alert_id"))
        if record.get("status") == "resolved":
            self.resolutions[alert_id] = record
        elif record.get("status") == WITHDRAWN:
            if alert_id in self.alerts:
                self.withdrawn.setdefault(alert_id, record)
        else:
            self.resolutions.pop(alert_id, None)
            self.withdrawn.pop(alert_id, None)

    def status_of(self, alert_id: str) -> str:
        """Return ``open``, ``resolved`` or ``withdrawn``."""
        if alert_id in self.withdrawn:
            return WITHDRAWN
        return "resolved" if alert_id in self.resolutions else "open"

    def get(self, alert_id: str) -> dict[str, Any] | None:
        """Return an alert with its status and resolution, if known."""
        alert = self.alerts.get(alert_id)
        if alert is None:
            return None
        return {
            **alert,
            "status": self.status_of(alert_id),
            "resolution": self.resolutions.get(alert_id),
        }

    def query(self, f: AlertFilter) -> list[dict[str, Any]]:
        """Return the matching alerts, most recently raised first.

        Withdrawn alerts are left out unless the filter asks for them by status.
        """
        out: list[dict[str, Any]] = []
        for alert_id in reversed(self.alerts):
            alert = self.alerts[alert_id]
            status = self.status_of(alert_id)
            if status == WITHDRAWN and f.status != WITHDRAWN:
                continue
            if f.matches(alert, status):
                out.append(
                    {**alert, "status": status, "resolution": self.resolutions.get(alert_id)}
                )
                if len(out) >= f.limit:
                    break
        return out

    def counts(self) -> dict[str, int]:
        """Open, resolved and withdrawn alerts held."""
        out = {"open": 0, "resolved": 0, WITHDRAWN: 0}
        for a in self.alerts:
            out[self.status_of(a)] += 1
        return out

    async def run(self) -> None:
        """Follow the alert topics from the beginning until cancelled."""
        kafka = self.settings.kafka
        alerts_topic = kafka.topic("alerts")

        def handle(topic: str, values: list[bytes | None]) -> None:
            for value in values:
                self._apply(topic == alerts_topic, value)

        topics = (alerts_topic, kafka.topic("alert-status"))
        await follow_topics(kafka, topics, "alert log", handle, self.caught_up)

    def _apply(self, is_alert: bool, value: bytes | None) -> None:
        try:
            record = orjson.loads(value or b"null")
        except orjson.JSONDecodeError:
            log.warning("alert log: skipped a record that is not JSON")
            return
        if not isinstance(record, dict):
            return
        if is_alert:
            self.add_alert(record)
        else:
            self.add_status(record)

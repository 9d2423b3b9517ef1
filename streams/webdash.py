"""The dashboard's own routes: ``GET /overview`` and ``GET /workers/{id}/history``.

Both answer from the process's `streams.scorelog.ScoreLog` (every process reads
all of ``{prefix}scores``), so no request is forwarded. They need a token with
the ``scores`` scope when tokens are configured, like the other worker routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.web import Request, Response, View

from streams.web import _denied

if TYPE_CHECKING:
    from streams.alertlog import AlertLog
    from streams.app import Engine

__all__ = ["open_alerts_by_worker", "register_dashboard_routes"]

#: Most riskiest workers one ``GET /overview`` returns.
MAX_RISKIEST = 1000


def open_alerts_by_worker(alert_log: AlertLog) -> dict[str, int]:
    """Count the open alerts that name each worker."""
    counts: dict[str, int] = {}
    for alert_id, alert in alert_log.alerts.items():
        worker_id = alert.get("worker_id")
        if worker_id and alert_log.status_of(alert_id) == "open":
            counts[worker_id] = counts.get(worker_id, 0) + 1
    return counts


def register_dashboard_routes(engine: Engine) -> None:
    """Add ``GET /overview`` and ``GET /workers/{worker_id}/history``."""
    app, score_log = engine.app, engine.score_log

    @app.page("/overview")
    class Overview(View):
        async def get(self, request: Request) -> Response:
            if denied := _denied(self, request, engine, "scores"):
                return denied
            raw = request.query.get("limit", "20")
            try:
                limit = int(raw)
            except ValueError:
                return self.json({"error": f"limit: must be an integer, got {raw!r}"}, status=400)
            if not 1 <= limit <= MAX_RISKIEST:
                return self.json(
                    {"error": f"limit: must be within 1..{MAX_RISKIEST}, got {limit}"}, status=400
                )
            return self.json(score_log.overview(open_alerts_by_worker(engine.alert_log), limit))

    @app.page("/workers/{worker_id}/history")
    class History(View):
        async def get(self, request: Request, worker_id: str) -> Response:
            if denied := _denied(self, request, engine, "scores"):
                return denied
            points = score_log.history(worker_id)
            if points is None:
                return self.json({"error": f"unknown worker {worker_id!r}"}, status=404)
            return self.json({"worker_id": worker_id, "points": points})

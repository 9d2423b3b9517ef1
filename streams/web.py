"""The engine's HTTP API (served by Faust's web server, 127.0.0.1:6066 by default).

Worker routes are table-routed: a request for a worker owned by another engine
process is forwarded to that process, so any process answers for every worker.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from importlib.resources import files
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import orjson
from faust.exceptions import SameNode
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from reputation.alerts import (
    ALERT_KINDS,
    DISPOSITIONS,
    DRIFT_ALERT_TYPES,
    SANCTIONS_ALERT_TYPES,
    SEVERITIES,
    parse_alert_status,
)
from reputation.assess import explain
from reputation.decision import (
    decide,
    parse_amount,
    parse_asset,
    wallet_view_from_exposure,
    worker_view_from_record,
)
from reputation.errors import InvalidEventError
from reputation.events import Address, parse_address, parse_time
from streams.alertlog import AlertFilter
from streams.static import DASHBOARD_HTML
from streams.webguard import identity_of

if TYPE_CHECKING:
    from streams.app import Engine

__all__ = [
    "AGENT_TOOLS_JSON",
    "DASHBOARD_CSP",
    "OPENAPI_JSON",
    "RANK_BAND_ORDER",
    "register_alert_routes",
    "register_routes",
]

log = logging.getLogger(__name__)
#: Bands that /rank never routes work to.
_EXCLUDED_BANDS = frozenset({"blocked", "review"})
RANK_BAND_ORDER = {"trusted": 0, "standard": 1, "new": 2, "review": 3, "blocked": 4}
#: The OpenAPI description of every route, served at ``GET /openapi.json`` (package data;
#: tests/integration/test_openapi.py checks the running engine against it).
OPENAPI_JSON = files("streams").joinpath("openapi.json").read_bytes()
#: ``decision`` and ``rank`` as tools an AI agent can call (MCP tool definitions, package
#: data), served at ``GET /agent-tools.json``.
AGENT_TOOLS_JSON = files("streams").joinpath("agent_tools.json").read_bytes()


def _dashboard_csp(html: str) -> str:
    """Return the dashboard's policy: its own inline script (by hash), nothing from elsewhere."""
    scripts = re.findall(r"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in scripts
    )
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )


#: The ``Content-Security-Policy`` of ``GET /``.
DASHBOARD_CSP = _dashboard_csp(DASHBOARD_HTML)


def _at(request: Request) -> datetime | str:
    """Return the ``?at=`` time (default now), or the error message for a bad one."""
    raw = request.query.get("at")
    if raw is None:
        return datetime.now(UTC)
    try:
        return parse_time(raw, "at")
    except InvalidEventError as exc:
        return exc.detail


def _query_token_ok(request: Request, engine: Engine) -> bool:
    """Tell whether ``?access_token=`` holds a configured token (any scope)."""
    given = request.query.get("access_token", "")
    return any(
        hmac.compare_digest(token.encode(), given.encode()) for token in engine.settings.api.tokens
    )


def _denied(view: View, request: Request, engine: Engine, scope: str | None) -> Response | None:
    """Return a 401/403 response unless the request carries a token good for `scope`.

    With no tokens configured the API is open (and bound to loopback). `scope`
    None means any valid token; ``admin`` is good for every scope.
    """
    tokens = engine.settings.api.tokens
    if not tokens:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    scopes = None
    if scheme.lower() == "bearer":
        for token, token_scopes in tokens.items():
            if hmac.compare_digest(token.encode(), given.strip().encode()):
                scopes = token_scopes
    if scopes is None:
        resp = view.json({"error": "a bearer token is required"}, status=401)
        resp.headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
        return resp
    if scope is not None and scope not in scopes and "admin" not in scopes:
        return view.json({"error": f"this token lacks the {scope!r} scope"}, status=403)
    return None


def register_routes(engine: Engine) -> None:
    """Add the contract's routes to the engine's Faust app."""
    app, table = engine.app, engine.workers

    @app.page("/healthz")
    class Healthz(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok"})

    @app.page("/readyz")
    class Readyz(View):
        async def get(self, request: Request) -> Response:
            if denied := _denied(self, request, engine, None):
                return denied
            ready, broker_up = engine.is_ready(), engine.broker.up
            return self.json(
                {"ready": ready and broker_up, "broker": "up" if broker_up else "unreachable"},
                status=200 if ready and broker_up else 503,
            )

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            if denied := _denied(self, request, engine, None):
                return denied
            return self.bytes(generate_latest(), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/openapi.json")
    class OpenApi(View):
        async def get(self, request: Request) -> Response:
            if denied := _denied(self, request, engine, None):
                return denied
            return self.bytes(OPENAPI_JSON, content_type="application/json")

    @app.page("/agent-tools.json")
    class AgentTools(View):
        async def get(self, request: Request) -> Response:
            if denied := _denied(self, request, engine, None):
                return denied
            return self.bytes(AGENT_TOOLS_JSON, content_type="application/json")

    @app.page("/")
    class Dashboard(View):
        async def get(self, request: Request) -> Response:
            # A browser cannot put a header on a navigation: the page also takes the
            # token as ?access_token= (RFC 6750 section 2.3). Without one it answers
            # 401 with the page itself, which holds no data and asks for a token.
            if _denied(self, request, engine, None) and not _query_token_ok(request, engine):
                resp = self.html(DASHBOARD_HTML, status=401)
                resp.headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
            else:
                resp = self.html(DASHBOARD_HTML)
            resp.headers["Content-Security-Policy"] = DASHBOARD_CSP
            return resp

    @app.page("/workers/{worker_id}/trust")
    class Trust(View):
        @app.table_route(table=table, match_info="worker_id")
        async def get(self: View, request: Request, *args: Any, **kwargs: Any) -> Response:
            worker_id = str(kwargs["worker_id"])
            if denied := _denied(self, request, engine, "scores"):
                return denied
            at = _at(request)
            if isinstance(at, str):
                return self.json({"error": at}, status=400)
            state = engine.state_of(worker_id)
            if state.t_ref is None:
                return self.json({"error": f"unknown worker {worker_id!r}"}, status=404)
            return self.json(engine.processor.record(state, at).to_json())

    @app.page("/workers/{worker_id}/explain")
    class Explain(View):
        @app.table_route(table=table, match_info="worker_id")
        async def get(self: View, request: Request, *args: Any, **kwargs: Any) -> Response:
            worker_id = str(kwargs["worker_id"])
            if denied := _denied(self, request, engine, "scores"):
                return denied
            at = _at(request)
            if isinstance(at, str):
                return self.json({"error": at}, status=400)
            state = engine.state_of(worker_id)
            if state.t_ref is None:
                return self.json({"error": f"unknown worker {worker_id!r}"}, status=404)
            body = explain(engine.settings.model, state, at)
            body["open_alerts"] = [
                {"alert_id": a, "type": t, **_alert_brief(engine, a)}
                for a, t in sorted(state.open_alerts.items(), key=lambda kv: kv[1])
            ]
            # The dashboard's worker page checks each wallet's exposure.
            body["wallets"] = [
                {"address": w, "payouts": n} for w, n in sorted(state.wallets.items())
            ]
            return self.json(body)

    @app.page("/rank")
    class Rank(View):
        async def post(self, request: Request) -> Response:
            if denied := _denied(self, request, engine, "scores"):
                return denied
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                return self.json({"error": "body: must be JSON"}, status=400)
            error = _check_rank_body(body)
            if error:
                return self.json({"error": error}, status=400)
            min_conf = float(body.get("min_confidence", 0.3))
            now = datetime.now(UTC)
            ranked, excluded = [], []
            for worker_id in dict.fromkeys(body["workers"]):
                record = await _record_anywhere(engine, self, request, worker_id, now)
                if record is None:
                    excluded.append({"worker_id": worker_id, "why": "unknown worker"})
                elif record["band"] in _EXCLUDED_BANDS:
                    excluded.append(
                        {
                            "worker_id": worker_id,
                            "why": f"band is {record['band']}",
                            "reasons": record["reasons"],
                        }
                    )
                elif float(record["confidence"]) < min_conf:
                    excluded.append(
                        {
                            "worker_id": worker_id,
                            "why": f"confidence {record['confidence']:.3f} < {min_conf}",
                        }
                    )
                else:
                    ranked.append(
                        {
                            k: record[k]
                            for k in (
                                "worker_id",
                                "score",
                                "confidence",
                                "band",
                                "reasons",
                                "flags",
                            )
                        }
                    )
            ranked.sort(key=lambda r: (-r["score"], -r["confidence"], r["worker_id"]))
            return self.json(
                {
                    "as_of": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "ranked": ranked,
                    "excluded": excluded,
                    "min_confidence": min_conf,
                }
            )

    @app.page("/decision")
    class Decision(View):
        async def get(self, request: Request) -> Response:
            """Allow, review or deny one payout: the worker's trust and the wallet's exposure."""
            if denied := _denied(self, request, engine, "scores"):
                return denied
            query = _decision_query(request)
            if isinstance(query, str):
                return self.json({"error": query}, status=400)
            worker_id, wallet, amount, asset = query
            now = datetime.now(UTC)
            record = await _record_anywhere(engine, self, request, worker_id, now)
            exposure = await _exposure_anywhere(engine, request, wallet)
            worker = (
                None
                if record is None
                else worker_view_from_record(
                    record,
                    engine.alert_log.query(
                        AlertFilter(worker_id=worker_id, status="open", limit=1000)
                    ),
                )
            )
            wallet_view = wallet_view_from_exposure(
                wallet,
                exposure,
                engine.alert_log.query(AlertFilter(wallet=wallet, status="open", limit=1000)),
            )
            result = decide(
                engine.settings.decision,
                engine.settings.model,
                worker,
                wallet_view,
                amount,
                asset,
                now,
                worker_id=worker_id,
            )
            resp = self.json(result.to_json())
            resp.headers["Cache-Control"] = f"private, max-age={result.max_age_s}"
            return resp


def _alert_filter(request: Request) -> AlertFilter | str:
    """Build the ``GET /alerts`` filter from the query, or say what is wrong with it."""
    q = request.query
    choices = {
        "kind": ALERT_KINDS,
        "severity": SEVERITIES,
        "type": DRIFT_ALERT_TYPES + SANCTIONS_ALERT_TYPES,
        "status": ("open", "resolved", "withdrawn"),
    }
    for name, allowed in choices.items():
        if name in q and q[name] not in allowed:
            return f"{name}: must be one of {', '.join(allowed)}, got {q[name]!r}"
    since = None
    if "since" in q:
        try:
            since = parse_time(q["since"], "since")
        except InvalidEventError as exc:
            return exc.detail
    try:
        limit = int(q.get("limit", "100"))
    except ValueError:
        return f"limit: must be an integer, got {q['limit']!r}"
    if not 1 <= limit <= 1000:
        return f"limit: must be within 1..1000, got {limit}"
    return AlertFilter(
        kind=q.get("kind"),
        type=q.get("type"),
        severity=q.get("severity"),
        status=q.get("status"),
        worker_id=q.get("worker_id"),
        since=since,
        limit=limit,
    )


def register_alert_routes(engine: Engine) -> None:
    """Add ``GET /alerts``, ``POST /alerts/{id}/resolve`` and the wallet exposure route."""
    app, alert_log = engine.app, engine.alert_log

    @app.page("/alerts")
    class Alerts(View):
        async def get(self, request: Request) -> Response:
            if denied := _denied(self, request, engine, "alerts"):
                return denied
            f = _alert_filter(request)
            if isinstance(f, str):
                return self.json({"error": f}, status=400)
            items = alert_log.query(f)
            return self.json({"alerts": items, "count": len(items), **alert_log.counts()})

    @app.page("/alerts/{alert_id}/resolve")
    class Resolve(View):
        async def post(self, request: Request, alert_id: str) -> Response:
            if denied := _denied(self, request, engine, "alerts"):
                return denied
            try:
                body = orjson.loads(await request.read() or b"{}")
            except orjson.JSONDecodeError:
                return self.json({"error": "body: must be JSON"}, status=400)
            if not isinstance(body, dict):
                return self.json({"error": "body: must be a JSON object"}, status=400)
            alert = alert_log.get(alert_id)
            if alert is None:
                return self.json({"error": f"unknown alert {alert_id!r}"}, status=404)
            if not alert.get("worker_id"):
                return self.json({"error": "this alert names no worker"}, status=409)
            try:
                status = parse_alert_status(
                    {
                        "alert_id": alert_id,
                        "worker_id": alert["worker_id"],
                        "type": alert["type"],
                        "status": "resolved",
                        "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "disposition": body.get("disposition"),
                        "note": body.get("note"),
                        # Who resolved it is who the token names, never what the body says.
                        "by": identity_of(request),
                    }
                )
            except InvalidEventError as exc:
                return self.json({"error": exc.detail}, status=400)
            if status.disposition is None:
                return self.json(
                    {"error": "disposition: required, one of " + ", ".join(DISPOSITIONS)},
                    status=400,
                )
            await engine.topics.alert_status.send(
                key=status.worker_id.encode(), value=orjson.dumps(status.to_json())
            )
            alert_log.add_status(status.to_json())
            return self.json({"alert_id": alert_id, **status.to_json()}, status=202)

    @app.page("/wallets/{address}/exposure")
    class Exposure(View):
        @app.table_route(table=engine.addresses, match_info="address")
        async def get(self: View, request: Request, *args: Any, **kwargs: Any) -> Response:
            if denied := _denied(self, request, engine, "scores"):
                return denied
            try:
                address = parse_address(str(kwargs["address"]), "address")
            except InvalidEventError as exc:
                return self.json({"error": exc.detail}, status=400)
            return self.json(engine.links.exposure_of(address))


def _alert_brief(engine: Engine, alert_id: str) -> dict[str, Any]:
    alert = engine.alert_log.get(alert_id)
    if alert is None:
        return {}
    keys = ("severity", "detected_at", "wallet", "evidence", "event_ids")
    return {k: alert[k] for k in keys if k in alert}


def _check_rank_body(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "body: must be a JSON object"
    workers = body.get("workers")
    if not isinstance(workers, list) or not all(isinstance(w, str) and w for w in workers):
        return "workers: must be a list of worker ids"
    if len(workers) > 1000:
        return f"workers: at most 1000 per request, got {len(workers)}"
    mc = body.get("min_confidence", 0.3)
    if isinstance(mc, bool) or not isinstance(mc, int | float) or not 0 <= mc <= 1:
        return "min_confidence: must be a number within 0..1"
    return None


async def _record_anywhere(
    engine: Engine, view: View, request: Request, worker_id: str, now: datetime
) -> dict[str, Any] | None:
    """Return a worker's record from this process, or from the process that owns it."""
    try:
        url = engine.app.router.key_store(engine.workers.name, worker_id)
        if str(url).rstrip("/") != str(engine.app.conf.canonical_url).rstrip("/"):
            # The id goes into a path: "/", "?", "#" or "%" in it must not change the URL.
            path = f"/workers/{quote(worker_id, safe='')}/trust"
            return await _fetch_remote(f"{str(url).rstrip('/')}{path}", request)
    except (SameNode, KeyError):
        pass
    state = engine.state_of(worker_id)
    if state.t_ref is None:
        return None
    return engine.processor.record(state, now).to_json()


async def _fetch_remote(url: str, request: Request) -> dict[str, Any] | None:
    headers = {}
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as resp:
        if resp.status == 404:
            return None
        resp.raise_for_status()
        data: dict[str, Any] = await resp.json()
        return data


def _decision_query(request: Request) -> tuple[str, Address, Decimal, str] | str:
    """Return ``GET /decision``'s (worker id, wallet, amount, asset), or what is wrong."""
    q = request.query
    worker_id = q.get("worker_id", "")
    if not 1 <= len(worker_id) <= 128:
        return f"worker_id: required, 1-128 characters, got {len(worker_id)}"
    for name in ("wallet", "amount"):
        if name not in q:
            return f"{name}: required"
    try:
        wallet = parse_address(q["wallet"], "wallet")
        amount = parse_amount(q["amount"])
        asset = parse_asset(q.get("asset", "USDC"))
    except InvalidEventError as exc:
        return exc.detail
    return worker_id, wallet, amount, asset


async def _exposure_anywhere(engine: Engine, request: Request, address: Address) -> dict[str, Any]:
    """Return a wallet's exposure from the process that owns the wallet graph (maybe this one)."""
    try:
        url = engine.app.router.key_store(engine.addresses.name, address)
        if str(url).rstrip("/") != str(engine.app.conf.canonical_url).rstrip("/"):
            remote = await _fetch_remote(
                f"{str(url).rstrip('/')}/wallets/{address}/exposure", request
            )
            if remote is not None:
                return remote
    except (SameNode, KeyError):
        pass
    return engine.links.exposure_of(address)

"""Issue 15 items 1-2: the HTTP API of a real ``vigil worker`` against what a browser can do.

1. With tokens configured, every route its web server registers (listed from the
   same `Engine` construction ``vigil worker`` runs, Faust's own views included
   if any were left) refuses a missing, a wrong and a too-weak token, and is in
   ``/openapi.json``; Faust's ``/table`` and ``/router`` views are gone.
2. With no tokens (the loopback default), a page served from another loopback
   port, in a real headless Chromium, tries to resolve an alert (fetch no-cors
   text/plain, a text/plain and a urlencoded form post, a JSON fetch that needs a
   preflight), and a DNS-rebinding-style client (a foreign ``Host``) tries to
   read and write: all fail, and the alert stays open. The small ones too: a
   bad gzip body, a body that never arrives, the dashboard's headers.
"""

from __future__ import annotations

import asyncio
import gc
import http.client as httpclient
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from config.settings import load_settings
from tests.integration import test_dashboard
from tests.integration.conftest import Stack, http, wait_until
from tests.integration.test_dashboard import free_port

#: Headless Chromium, as the dashboard test drives it (a fixture).
browser = test_dashboard.browser

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

ADMIN, SCORES, ALERTS = "sec-admin-token", "sec-scores-token", "sec-alerts-token"
TOKENS = f"root@{ADMIN}:admin;{SCORES}:scores;ann@{ALERTS}:alerts"
SPEC = json.loads((Path(__file__).resolve().parents[2] / "streams/openapi.json").read_text())
LISTED = "0x8589427373D6D84E98730D7795D8f6f8731FDA16"  # on the OFAC list (Tornado Cash)
WALLET = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
#: What Faust serves unless told not to: raw table data, the cluster's URLs, internals.
FAUST_VIEWS = [
    "/table/", "/table/workers/", "/table/workers/w-1/", f"/table/addresses/{WALLET.lower()}/",
    "/table/raised-alerts/", "/router/", "/router/topics", "/router/workers/",
    "/router/workers/w-1/", "/assignment/", "/graph/", "/performance/",
]  # fmt: skip


def registered_routes(env: dict[str, str]) -> list[tuple[str, str]]:
    """The (method, path pattern) of every route ``vigil worker`` registers with `env`."""
    from streams.app import Engine

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        engine = Engine(load_settings(env), store="memory://")
        engine.app.web.init_server()  # what the worker does before it serves: Faust's views
        return sorted(
            (r.method, r.resource.canonical)
            for r in engine.app.web.web_app.router.routes()
            if r.resource is not None
        )
    finally:
        asyncio.set_event_loop(None)
        loop.close()
        gc.collect()


def spec_scope(method: str, path: str) -> set[str] | None:
    """The scopes the description says a route needs (None: not in the description)."""
    item = SPEC["paths"].get(path)
    if item is None:
        return None
    op = item.get(method.lower()) or item.get("get") or next(iter(item.values()))
    reqs = op.get("security", SPEC["security"])
    return {s for r in reqs for s in r.get("bearerAuth", [])} | ({"*"} if reqs else set())


def raw_request(
    port: int, method: str, path: str, headers: dict[str, str], body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = httpclient.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for k, v in headers.items():
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_issue_15_every_registered_route_refuses_missing_wrong_and_weak_tokens(
    stack: Stack,
) -> None:
    stack.env_extra["VIGIL_API_TOKENS"] = TOKENS
    routes = registered_routes(stack.env())
    paths = {p for _, p in routes}
    assert "/workers/{worker_id}/trust" in paths and "/alerts" in paths
    assert not any(p.startswith(("/table", "/router", "/graph", "/assignment")) for p in paths)
    for method, path in routes:
        assert spec_scope(method, path) is not None, f"{method} {path} is not in /openapi.json"
        if method != "HEAD":
            assert method.lower() in SPEC["paths"][path], f"{method} {path} not described"
    stack.create_topics()
    port = free_port()
    stack.start_engine("engine", port)
    ready = f"http://127.0.0.1:{port}/readyz"
    wait_until(lambda: http("GET", ready, token=SCORES)[0] == 200, 120, "the engine to be ready")
    fill = {"{worker_id}": "w-1", "{address}": WALLET, "{alert_id}": "a-nope"}
    checked = skipped = 0
    for method, pattern in routes:
        path = pattern
        for k, v in fill.items():
            path = path.replace(k, v)
        needs = spec_scope(method, pattern) or set()
        body = b'{"workers": ["w-1"]}' if method == "POST" else None
        base = {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json"}
        weak = ALERTS if "scores" in needs else SCORES if "alerts" in needs else None
        for token, expected in ((None, 401), ("not-a-token-at-all", 401), (weak, 403)):
            if expected == 403 and token is None:
                skipped += 1
                continue  # any valid token is enough for this route
            headers = dict(base)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            status, _, _ = raw_request(port, method, path, headers, body)
            if pattern == "/healthz":
                assert status == 200, (method, pattern, token, status)
            elif method == "HEAD" and expected == 403:
                assert status in (403, 405), (method, pattern, token, status)
            else:
                assert status == expected, (method, pattern, token, status)
            checked += 1
        status, _, _ = raw_request(
            port, method, path, {**base, "Authorization": f"Bearer {ADMIN}"}, body
        )
        assert status not in (401, 403), (method, pattern, status)
    assert checked == 3 * len(routes) - skipped and skipped <= len(routes) // 2
    # Faust's own views are not there (404 even with the admin token; 401 without one).
    for path in FAUST_VIEWS:
        assert http("GET", f"http://127.0.0.1:{port}{path}", token=ADMIN)[0] == 404, path
        assert http("GET", f"http://127.0.0.1:{port}{path}")[0] == 401, path
    assert http("GET", f"http://127.0.0.1:{port}/readyz")[0] == 401
    assert http("GET", f"http://127.0.0.1:{port}/healthz")[0] == 200


ATTACK_PAGE = """<!doctype html><html><body>
<iframe name="sink1"></iframe><iframe name="sink2"></iframe>
<form id="plain" method="POST" action="{target}" enctype="text/plain" target="sink1">
<input name='{{"disposition":"false_positive","note":"csrf","x":"' value='"}}'></form>
<form id="urlenc" method="POST" action="{target}" target="sink2">
<input name="disposition" value="false_positive"></form>
<script>
const target = "{target}";
const body = JSON.stringify({{disposition: "false_positive", note: "csrf"}});
const done = [];
function mark(what) {{ done.push(what); document.title = done.sort().join(","); }}
fetch(target, {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body}})
  .then(() => mark("nocors"), () => mark("nocors"));
fetch(target, {{method: "POST", headers: {{"Content-Type": "application/json"}}, body}})
  .then(() => mark("json"), () => mark("json"));
let loads = 0;
for (const name of ["sink1", "sink2"]) {{
  document.querySelector(`iframe[name=${{name}}]`).addEventListener("load", () => mark(name));
}}
document.getElementById("plain").submit();
document.getElementById("urlenc").submit();
</script></body></html>"""


class _Page(BaseHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def attacker_site() -> Iterator[tuple[int, type[_Page]]]:
    handler = type("Page", (_Page,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def raise_an_alert(stack: Stack, port: int) -> dict[str, Any]:
    """A listed address and a payout to it: a SANCTIONED_PAYOUT alert, open."""
    stack.create_topics()
    listing = {"address": LISTED, "program": "CYBER2", "entity": "Tornado Cash",
               "listed_at": "2022-08-08T00:00:00Z", "source": "test"}  # fmt: skip
    payout = {"event_id": "p-1", "worker_id": "w-victim", "payer_id": "agent-1",
              "wallet": LISTED, "chain_id": 1, "asset": "USDC", "amount": "25.00",
              "paid_at": "2026-11-19T10:00:00Z"}  # fmt: skip
    stack.produce([("sanctions", LISTED.lower().encode(), orjson.dumps(listing))])
    stack.produce([("payouts", b"w-victim", orjson.dumps(payout))])
    stack.start_engine("engine", port)
    base = f"http://127.0.0.1:{port}"

    def raised() -> bool:
        status, body = http("GET", f"{base}/alerts?type=SANCTIONED_PAYOUT")
        return status == 200 and body["count"] >= 1  # type: ignore[index]

    wait_until(raised, 120, "the SANCTIONED_PAYOUT alert")
    alert: dict[str, Any] = http("GET", f"{base}/alerts?type=SANCTIONED_PAYOUT")[1]["alerts"][0]  # type: ignore[index]
    assert alert["status"] == "open"
    return alert


def test_issue_15_a_page_elsewhere_cannot_resolve_an_alert_nor_rebind_dns(
    stack: Stack, browser: Any, attacker_site: tuple[int, type[_Page]]
) -> None:
    port = free_port()
    stack.env_extra["VIGIL_API_BODY_TIMEOUT_S"] = "2"
    alert = raise_an_alert(stack, port)
    base = f"http://127.0.0.1:{port}"
    target = f"{base}/alerts/{alert['alert_id']}/resolve"
    evil_port, page = attacker_site
    page.page = ATTACK_PAGE.format(target=target).encode()

    # The analyst, on the same machine, opens a page on another origin (another port).
    browser.get(f"http://127.0.0.1:{evil_port}/")
    want = "json,nocors,sink1,sink2"
    deadline = time.monotonic() + 30
    while browser.title != want and time.monotonic() < deadline:
        time.sleep(0.2)
    assert browser.title == want, f"the page's requests did not all finish: {browser.title!r}"
    time.sleep(1.0)  # a resolution would be in the alert log by now (it is local)
    status, feed = http("GET", f"{base}/alerts?type=SANCTIONED_PAYOUT")
    assert [a["status"] for a in feed["alerts"]] == ["open"], feed  # type: ignore[index]

    # DNS rebinding: the page's own name now points at 127.0.0.1, so its requests
    # are "same-origin" for the browser, with the page's name as Host.
    evil_host = f"rebind.evil.example:{port}"
    status, _, _ = raw_request(port, "GET", "/alerts", {"Host": evil_host})
    assert status == 421
    status, _, _ = raw_request(
        port, "POST", f"/alerts/{alert['alert_id']}/resolve",
        {"Host": evil_host, "Origin": f"http://{evil_host}", "Sec-Fetch-Site": "same-origin",
         "Content-Type": "application/json"},
        b'{"disposition": "false_positive", "note": "rebound"}',
    )  # fmt: skip
    assert status == 421
    # A foreign Origin with a loopback Host, and text/plain from a tool: refused too.
    status, _, _ = raw_request(
        port, "POST", f"/alerts/{alert['alert_id']}/resolve",
        {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{evil_port}",
         "Content-Type": "application/json"}, b'{"disposition": "false_positive"}',
    )  # fmt: skip
    assert status == 403
    status, _, _ = raw_request(
        port, "POST", f"/alerts/{alert['alert_id']}/resolve",
        {"Host": f"127.0.0.1:{port}", "Content-Type": "text/plain"},
        b'{"disposition": "false_positive"}',
    )  # fmt: skip
    assert status == 415

    status, feed = http("GET", f"{base}/alerts?type=SANCTIONED_PAYOUT")
    assert status == 200
    assert [a["status"] for a in feed["alerts"]] == ["open"], feed  # type: ignore[index]

    # The dashboard's own way (JSON, same origin) still works; `by` is who the request is.
    status, _, done = raw_request(
        port, "POST", f"/alerts/{alert['alert_id']}/resolve",
        {"Host": f"127.0.0.1:{port}", "Origin": base, "Content-Type": "application/json"},
        b'{"disposition": "confirmed", "note": "checked", "by": "mallory"}',
    )  # fmt: skip
    assert status == 202, done
    assert orjson.loads(done)["by"] == "local"

    # The small ones: a body that is not the gzip it claims, one that never comes,
    # and the dashboard's headers.
    status, headers, _ = raw_request(
        port, "POST", "/rank",
        {"Host": f"127.0.0.1:{port}", "Content-Type": "application/json",
         "Content-Encoding": "gzip"}, b"this is not gzip",
    )  # fmt: skip
    assert status == 400
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(
            f"POST /rank HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json"
            "\r\nContent-Length: 1000\r\n\r\n{".encode()
        )
        started = time.monotonic()
        answer = s.recv(4096)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert waited < 10, waited
    status, headers, page_body = raw_request(port, "GET", "/", {"Host": f"127.0.0.1:{port}"})
    assert status == 200 and b"<script>" in page_body
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["server"] == "vigil"

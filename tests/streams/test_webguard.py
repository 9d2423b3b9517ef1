"""`streams.webguard` on a bare aiohttp server: hosts, origins, tokens, bodies, headers.

The same middleware runs in front of every route of ``vigil worker``
(tests/integration/test_web_security.py checks it there, with a browser).
"""

from __future__ import annotations

import asyncio
import gzip
import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from config.settings import ApiConfig, parse_token_names, parse_tokens
from streams.webguard import guard_middleware, identity_of, web_application_options

TOKENS = "ann@alerts-token-1:alerts;scores-token-1:scores"


def api_config(**kw: Any) -> ApiConfig:
    return ApiConfig(**kw)


def with_tokens(**kw: Any) -> ApiConfig:
    return ApiConfig(tokens=parse_tokens(TOKENS), token_names=parse_token_names(TOKENS), **kw)


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"identity": identity_of(request), "bytes": len(body)})


def run(api: ApiConfig, check: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    async def main() -> None:
        app = web.Application(**web_application_options(api))
        for path in ("/healthz", "/", "/alerts", "/alerts/{alert_id}/resolve"):
            app.router.add_get(path, echo)
            app.router.add_post(path, echo)
        async with TestClient(TestServer(app)) as client:
            await check(client)

    asyncio.run(main())


def test_foreign_host_is_misdirected_but_healthz_answers() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        r = await c.get("/alerts", headers={"Host": "rebind.evil.example:6066"})
        assert r.status == 421 and "rebind.evil.example" in (await r.json())["error"]
        for host in ("127.0.0.1:6066", "localhost", "[::1]:6066", "LOCALHOST.", "api.svc.example"):
            assert (await c.get("/alerts", headers={"Host": host})).status == 200, host
        assert (await c.get("/healthz", headers={"Host": "rebind.evil.example"})).status == 200

    run(api_config(extra_hosts=frozenset({".svc.example"})), check)


def test_writes_only_from_our_origin_and_only_json() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        url = "/alerts/a-1/resolve"
        json_ = {"Content-Type": "application/json"}
        for origin in ("http://127.0.0.1:9999", "http://evil.example", "null"):
            r = await c.post(url, data=b"{}", headers={**json_, "Origin": origin})
            assert r.status == 403, origin
        r = await c.post(url, data=b"{}", headers={**json_, "Sec-Fetch-Site": "same-site"})
        assert r.status == 403
        # A text/plain or form post is what a page elsewhere can send without a preflight.
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
            r = await c.post(url, data=b"{}", headers={"Content-Type": ctype})
            assert r.status == 415, ctype
        assert (await c.post(url, data=b"{}")).status == 415  # no Content-Type
        own = f"http://{c.server.host}:{c.server.port}"
        r = await c.post(url, data=b"{}", headers={**json_, "Origin": own})
        assert r.status == 200
        r = await c.post(url, data=b"{}", headers={**json_, "Sec-Fetch-Site": "same-origin"})
        assert r.status == 200
        assert (await c.post(url, data=b"{}", headers=json_)).status == 200  # curl: no Origin

    run(api_config(), check)


def test_every_route_but_healthz_needs_a_token_and_the_identity_is_its_name() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        for path in ("/alerts", "/nope", "/table/workers/w-1/"):
            for header in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "x"}):
                r = await c.get(path, headers=header)
                assert r.status == 401, (path, header)
                assert r.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await c.get("/healthz")).status == 200
        ann = {"Authorization": "Bearer alerts-token-1"}
        r = await c.get("/alerts", headers=ann)
        assert r.status == 200 and (await r.json())["identity"] == "ann"
        r = await c.get("/alerts", headers={"Authorization": "Bearer scores-token-1"})
        assert (await r.json())["identity"].startswith("token-")
        assert (await c.get("/nope", headers=ann)).status == 404  # a token: now "not found"
        # The page takes ?access_token= (its view answers 401 with itself without one).
        r = await c.get("/?access_token=alerts-token-1")
        assert (await r.json())["identity"] == "ann"

    run(with_tokens(), check)


def test_bodies_bad_encoding_too_big_and_gzip_bombs() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        headers = {"Content-Type": "application/json"}
        r = await c.post(
            "/alerts", data=b"not gzip", headers={**headers, "Content-Encoding": "gzip"}
        )
        assert r.status == 400 and "body" in (await r.json())["error"]
        r = await c.post("/alerts", data=io.BytesIO(b"x" * (10 * 1024 * 1024)), headers=headers)
        assert r.status == 413
        bomb = gzip.compress(b"0" * (10 * 1024 * 1024))
        assert len(bomb) < 64 * 1024
        r = await c.post(
            "/alerts", data=io.BytesIO(bomb), headers={**headers, "Content-Encoding": "gzip"}
        )
        assert r.status == 413
        r = await c.post("/alerts", data=gzip.compress(b"{}"), headers={**headers,
                         "Content-Encoding": "gzip"})  # fmt: skip
        assert r.status == 200 and (await r.json())["bytes"] == 2

    run(api_config(), check)


def test_a_body_that_never_arrives_times_out() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        reader, writer = await asyncio.open_connection(c.server.host, c.server.port)
        writer.write(
            b"POST /alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        await writer.drain()
        started = asyncio.get_running_loop().time()
        answer = await asyncio.wait_for(reader.read(4096), 10)
        waited = asyncio.get_running_loop().time() - started
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert 0.4 <= waited < 5, waited

    run(api_config(body_timeout_s=0.5), check)


def test_answers_carry_security_headers_and_no_server_version() -> None:
    async def check(c: TestClient[Any, Any]) -> None:
        for path in ("/alerts", "/nope"):
            r = await c.get(path)
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
            assert r.headers["Referrer-Policy"] == "no-referrer"
            assert r.headers["Server"] == "vigil", r.headers["Server"]
        r = await c.get("/nope")
        assert r.status == 404 and (await r.json())["error"]

    run(api_config(), check)


@pytest.mark.parametrize("timeout", [0.0, -1.0, 301.0])
def test_body_timeout_is_checked(timeout: float) -> None:
    from reputation.errors import ConfigError

    with pytest.raises(ConfigError, match="VIGIL_API_BODY_TIMEOUT_S"):
        ApiConfig(body_timeout_s=timeout)


def test_guard_is_one_middleware() -> None:
    assert callable(guard_middleware(api_config()))

"""What every request to the engine's HTTP API passes before a view sees it.

An aiohttp middleware, installed through Faust's ``web_application_options``, so
it covers every route the server registers, also those no view of ours defines:

- ``Host`` must name this server (`ApiConfig.host_allowed`), else 421: a page on
  a DNS name rebound to 127.0.0.1 cannot read the API from a browser.
- A write (POST, PUT, PATCH, DELETE) from a browser must come from this server's
  own origin (``Origin``, ``Sec-Fetch-Site``), else 403; POST, PUT and PATCH must
  send ``Content-Type: application/json``, else 415. A cross-origin page can send
  only "simple" requests (text/plain, forms) without a CORS preflight, and the
  API answers no preflight, so these two together stop cross-site request forgery.
- With tokens configured, every route but ``/healthz`` needs a valid bearer token
  (401). ``/`` takes it as ``?access_token=`` too and answers 401 with the page
  itself, so its view checks it. The views check the scope (403).
- The body is read here, within `ApiConfig.body_timeout_s` (else 408), a body
  that does not decode as its ``Content-Encoding`` says is a 400, and one over
  aiohttp's ``client_max_size`` (also after decompression) a 413.
- Every answer carries ``X-Content-Type-Options``, ``X-Frame-Options``, a
  ``Content-Security-Policy`` (views may set a stricter or page-specific one),
  ``Referrer-Policy``, ``Cache-Control: no-store`` and ``Server: vigil``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from config.settings import ApiConfig

__all__ = [
    "CLIENT_MAX_BYTES",
    "IDENTITY_KEY",
    "OPEN_PATHS",
    "guard_middleware",
    "identity_of",
    "token_scopes",
    "web_application_options",
]

log = logging.getLogger(__name__)

#: Largest request body accepted (after decompression), as aiohttp's ``client_max_size``.
CLIENT_MAX_BYTES = 1024 * 1024
#: Routes anyone may call, tokens or not.
OPEN_PATHS = frozenset({"/healthz"})
#: Routes whose view checks the token itself (the dashboard page takes ``?access_token=``).
_PAGE_PATHS = frozenset({"/"})
#: Where the request's identity (token name, or ``local`` without tokens) is kept.
IDENTITY_KEY = web.RequestKey("vigil.identity", str)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_BODY_WRITES = frozenset({"POST", "PUT", "PATCH"})
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: The policy of answers that are not the dashboard (JSON, text): load nothing, embed nowhere.
_DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def token_scopes(api: ApiConfig, header: str) -> tuple[str, frozenset[str]] | None:
    """Return (token name, scopes) of an ``Authorization: Bearer`` header, or None.

    Compares against every configured token in constant time.
    """
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    found = None
    given_b = given.strip().encode()
    for token, scopes in api.tokens.items():
        if hmac.compare_digest(token.encode(), given_b):
            found = (api.token_name(token), scopes)
    return found


def identity_of(request: Any) -> str:
    """Return who the request acts as: its token's name, or ``local`` without tokens."""
    return str(request.get(IDENTITY_KEY, "local"))  # a Faust Request is aiohttp's


def _query_token(api: ApiConfig, given: str) -> str | None:
    found = None
    for token in api.tokens:
        if hmac.compare_digest(token.encode(), given.encode()):
            found = api.token_name(token)
    return found


def _error(status: int, message: str, **headers: str) -> web.Response:
    resp = web.json_response({"error": message}, status=status, headers=headers or None)
    return resp


def _hostname(host: str) -> str:
    """Return the name of a ``Host`` header without its port (``[::1]:6066`` -> ``::1``)."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _own_origins(api: ApiConfig, request: web.Request) -> set[str]:
    """Return our origins: the configured ones and the one the (allowed) Host names."""
    origins = set(api.allowed_origins)
    origins.add(f"{request.scheme}://{request.host}".lower())
    return origins


def _secure(resp: web.StreamResponse) -> web.StreamResponse:
    for name, value in _HEADERS.items():
        resp.headers.setdefault(name, value)
    resp.headers.setdefault("Content-Security-Policy", _DEFAULT_CSP)
    resp.headers["Server"] = "vigil"
    return resp


def guard_middleware(api: ApiConfig) -> Any:
    """Return the aiohttp middleware that applies this module's rules with `api`'s settings."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            resp = await _check(api, request, handler)
        except web.HTTPException as exc:
            # aiohttp's own 404/405/413: JSON like every other error, with our headers.
            extra = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            resp = _error(exc.status, exc.reason, **extra)
        return _secure(resp)

    return guard


async def _check(api: ApiConfig, request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path not in OPEN_PATHS and not api.host_allowed(_hostname(request.host)):
        return _error(421, f"this server does not answer for host {request.host[:100]!r}")
    if request.method in _WRITES:
        refused = _foreign_write(api, request)
        if refused is not None:
            return refused
    identity = "local"
    if api.tokens and path not in OPEN_PATHS:
        found = token_scopes(api, request.headers.get("Authorization", ""))
        if found is None and path in _PAGE_PATHS:
            name = _query_token(api, request.query.get("access_token", ""))
            found = None if name is None else (name, frozenset())
        if found is None and path not in _PAGE_PATHS:
            return _error(
                401, "a bearer token is required", **{"WWW-Authenticate": 'Bearer realm="vigil"'}
            )
        identity = found[0] if found else "anonymous"
    request[IDENTITY_KEY] = identity
    if request.method in _BODY_WRITES and request.content_type != "application/json":
        return _error(
            415, f"Content-Type: must be application/json, got {request.content_type[:100]!r}"
        )
    if request.body_exists:
        try:
            # Read here so the views' request.read() returns it from memory.
            await asyncio.wait_for(request.read(), api.body_timeout_s)
        except TimeoutError:
            resp = _error(408, f"the request body did not arrive within {api.body_timeout_s:g} s")
            resp.force_close()
            return resp
        except web.RequestPayloadError as exc:
            resp = _error(400, f"body: cannot be read ({str(exc).strip()[:200]})")
            resp.force_close()
            return resp
    return await handler(request)


def _foreign_write(api: ApiConfig, request: web.Request) -> web.Response | None:
    """Return a 403 for a browser write from another origin, else None."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() not in _own_origins(api, request):
        return _error(403, f"a write from origin {origin[:100]!r} is refused")
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        return _error(403, f"a write from a {site[:30]} page is refused")
    return None


def web_application_options(api: ApiConfig) -> dict[str, Any]:
    """Faust's ``web_application_options``: the guard and the body size limit."""
    return {"middlewares": [guard_middleware(api)], "client_max_size": CLIENT_MAX_BYTES}

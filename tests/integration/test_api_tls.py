"""HTTPS for the engine's API, and JSON log lines, on a real ``vigil worker``.

The test makes a CA and a server certificate for 127.0.0.1 with ``openssl``
(tests/helpers/tls.py), starts ``vigil worker`` on the session broker with
``VIGIL_API_TLS_CERT``/``VIGIL_API_TLS_KEY``, bearer tokens and
``VIGIL_LOG_FORMAT=json``, and checks that the API answers ``https://`` for a
client that trusts the CA, that plain ``http://`` on the same port gets no HTTP
answer, that a client not trusting the CA is refused, and that every line the
process writes is a JSON object with time, level, logger and message.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.tls import Pki, make_pki
from tests.integration.conftest import VIGIL, Stack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PORT = 16131
TOKEN = "tls-test-token-1"


def _get(url: str, context: ssl.SSLContext | None, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback URL built here
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls_worker(stack: Stack, pki: Pki) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    stack.create_topics()
    log_path = stack.workdir / "worker-tls.log"
    env = stack.env(
        VIGIL_WEB_PORT=str(PORT),
        VIGIL_DATA_DIR=str(stack.workdir / "engine"),
        VIGIL_API_TLS_CERT=str(pki.server_cert),
        VIGIL_API_TLS_KEY=str(pki.server_key),
        VIGIL_API_TOKENS=f"{TOKEN}:scores",
        VIGIL_LOG_FORMAT="json",
    )
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [VIGIL, "worker"], stdout=log, stderr=subprocess.STDOUT, cwd=stack.workdir, env=env
        )
    stack.procs.append(proc)
    yield proc, log_path


def test_api_serves_https_only_and_logs_json(
    stack: Stack, pki: Pki, tls_worker: tuple[subprocess.Popen[bytes], Path]
) -> None:
    proc, log_path = tls_worker
    trusting = ssl.create_default_context(cafile=str(pki.ca_cert))
    base = f"https://127.0.0.1:{PORT}"
    deadline = time.monotonic() + 120
    while True:
        assert proc.poll() is None, log_path.read_text()[-4000:]
        try:
            if _get(f"{base}/readyz", trusting, TOKEN)[0] == 200:  # tables recovered
                break
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        assert time.monotonic() < deadline, log_path.read_text()[-4000:]
        time.sleep(0.5)
    assert _get(f"{base}/healthz", trusting)[0] == 200

    # Bearer tokens over TLS: none is 401, a good one reaches the route (unknown worker: 404).
    assert _get(f"{base}/readyz", trusting)[0] == 401
    assert _get(f"{base}/workers/w-1/trust", trusting, TOKEN)[0] == 404

    # Plain HTTP on the same port: the server expects a TLS handshake, so no HTTP answer.
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        _get(f"http://127.0.0.1:{PORT}/healthz", None)
    # A client that does not trust the test CA refuses the certificate.
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        _get(f"{base}/healthz", ssl.create_default_context())

    stack.stop(proc)
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    records = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(record)
        records.append(record)
    start = [r for r in records if r["message"].startswith("Vigil engine")]
    assert start and f"HTTP {base}/" in start[0]["message"] and start[0]["logger"] == "vigil"
    assert any(r["logger"].startswith(("faust", "mode")) for r in records)  # Faust's own too


def test_log_format_option_on_a_short_command(stack: Stack) -> None:
    env = {**stack.env(), "VIGIL_LOG_FORMAT": "text"}
    proc = subprocess.run(
        [VIGIL, "--log-format", "json", "topics"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=stack.workdir,
    )
    assert proc.stdout.startswith("created ")  # the command's own output stays plain
    records = [json.loads(line) for line in proc.stderr.splitlines() if line.strip()]
    assert any(r["message"].startswith("created topics:") for r in records), proc.stderr
    assert all(r["level"] in ("DEBUG", "INFO", "WARNING", "ERROR") for r in records)


def test_half_configured_tls_stops_the_worker_at_start(stack: Stack, pki: Pki) -> None:
    env = {**stack.env(), "VIGIL_API_TLS_CERT": str(pki.server_cert)}
    env.pop("VIGIL_API_TLS_KEY", None)
    proc = subprocess.run(
        [VIGIL, "worker"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=stack.workdir,
    )
    assert proc.returncode == 2
    assert "VIGIL_API_TLS_CERT is set but VIGIL_API_TLS_KEY is not" in proc.stderr

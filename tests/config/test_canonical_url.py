"""How other engine processes reach this one (Faust's canonical URL)."""

from __future__ import annotations

import socket

import pytest

from config.settings import load_settings
from reputation.errors import ConfigError

TOKENS = {"VIGIL_API_TOKENS": "reader-token-1:scores"}


def test_loopback_default_is_the_bind_url() -> None:
    assert load_settings({}).api.advertised_url == "http://127.0.0.1:6066"


def test_a_wildcard_bind_is_never_advertised() -> None:
    # Peers cannot connect to 0.0.0.0: without VIGIL_CANONICAL_URL, this host's name.
    api = load_settings({**TOKENS, "VIGIL_WEB_HOST": "0.0.0.0"}).api  # noqa: S104
    assert api.advertised_url == f"http://{socket.gethostname()}:6066"


def test_configured_url_wins_and_the_faust_variable_still_works() -> None:
    env = {**TOKENS, "VIGIL_WEB_HOST": "0.0.0.0", "VIGIL_CANONICAL_URL": "http://worker-1:6066/"}  # noqa: S104
    assert load_settings(env).api.advertised_url == "http://worker-1:6066"
    old = {**TOKENS, "VIGIL_WEB_HOST": "0.0.0.0", "NODE_CANONICAL_URL": "http://worker-2:6066"}  # noqa: S104
    assert load_settings(old).api.advertised_url == "http://worker-2:6066"


@pytest.mark.parametrize("bad", ["worker-1:6066", "ftp://worker-1", "http://a b:1", "http://w/x/y"])
def test_a_bad_canonical_url_is_named(bad: str) -> None:
    with pytest.raises(ConfigError, match="VIGIL_CANONICAL_URL"):
        load_settings({"VIGIL_CANONICAL_URL": bad})

"""TLS for the API, Kafka SSL/SASL settings and log format: validation and translation."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials

from config.settings import ApiConfig, KafkaConfig, load_settings
from reputation.errors import ConfigError
from tests.helpers.tls import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _ssl_env(pki: Pki, **extra: str) -> dict[str, str]:
    return {
        "VIGIL_KAFKA_SECURITY_PROTOCOL": "SSL",
        "VIGIL_KAFKA_SSL_CAFILE": str(pki.ca_cert),
        "VIGIL_KAFKA_SSL_CERTFILE": str(pki.client_cert),
        "VIGIL_KAFKA_SSL_KEYFILE": str(pki.client_key),
        **extra,
    }


def test_plaintext_by_default() -> None:
    kafka = load_settings({}).kafka
    assert kafka.security_options() == {"security_protocol": "PLAINTEXT"}
    assert kafka.client_options() == {
        "bootstrap_servers": ["127.0.0.1:9092"],
        "security_protocol": "PLAINTEXT",
    }
    assert kafka.faust_credentials() is None


def test_ssl_with_a_client_certificate(pki: Pki) -> None:
    kafka = load_settings(_ssl_env(pki, VIGIL_KAFKA_SECURITY_PROTOCOL="ssl")).kafka
    options = kafka.client_options()
    assert options["security_protocol"] == "SSL"
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "vigil-test-ca"),),)]
    assert "sasl_mechanism" not in options
    credentials = kafka.faust_credentials()
    assert isinstance(credentials, SSLCredentials)
    assert credentials.protocol.value == "SSL"


def test_sasl_ssl_scram(pki: Pki) -> None:
    env = {
        "VIGIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "VIGIL_KAFKA_SSL_CAFILE": str(pki.ca_cert),
        "VIGIL_KAFKA_SASL_MECHANISM": "scram-sha-512",
        "VIGIL_KAFKA_SASL_USERNAME": "vigil",
        "VIGIL_KAFKA_SASL_PASSWORD": "vigil-secret",
    }
    kafka = load_settings(env).kafka
    options = kafka.security_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "vigil",
        "vigil-secret",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    credentials = kafka.faust_credentials()
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert "vigil-secret" not in repr(kafka)


def test_sasl_plaintext_has_no_tls() -> None:
    kafka = KafkaConfig(security_protocol="SASL_PLAINTEXT", sasl_username="u", sasl_password="p")
    assert "ssl_context" not in kafka.security_options()
    credentials = kafka.faust_credentials()
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol.value == "SASL_PLAINTEXT"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"VIGIL_KAFKA_SECURITY_PROTOCOL": "TLS"}, "VIGIL_KAFKA_SECURITY_PROTOCOL must be one of"),
        ({"VIGIL_KAFKA_SSL_CAFILE": "/etc/hostname"}, "does not use TLS"),
        (
            {"VIGIL_KAFKA_SECURITY_PROTOCOL": "SSL", "VIGIL_KAFKA_SSL_CAFILE": "/nonexistent.pem"},
            "VIGIL_KAFKA_SSL_CAFILE=/nonexistent.pem: cannot read it",
        ),
        (
            {"VIGIL_KAFKA_SECURITY_PROTOCOL": "SSL", "VIGIL_KAFKA_SSL_KEYFILE": "/etc/hostname"},
            "VIGIL_KAFKA_SSL_KEYFILE needs VIGIL_KAFKA_SSL_CERTFILE",
        ),
        (
            {"VIGIL_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "VIGIL_KAFKA_SASL_USERNAME": "u"},
            "needs VIGIL_KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "VIGIL_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "VIGIL_KAFKA_SASL_MECHANISM": "GSSAPI",
                "VIGIL_KAFKA_SASL_USERNAME": "u",
                "VIGIL_KAFKA_SASL_PASSWORD": "p",
            },
            "VIGIL_KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ),
        ({"VIGIL_KAFKA_SASL_USERNAME": "u"}, "does not use SASL"),
        ({"VIGIL_KAFKA_CLIENT_SSL_CAFILE": "x"}, "VIGIL_KAFKA_CLIENT_* is no longer read"),
        ({"VIGIL_LOG_FORMAT": "xml"}, "VIGIL_LOG_FORMAT must be one of text, json"),
    ],
)
def test_bad_kafka_and_log_settings_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
        load_settings(env)


def test_a_client_key_that_does_not_match_is_refused(pki: Pki) -> None:
    env = _ssl_env(pki, VIGIL_KAFKA_SSL_KEYFILE=str(pki.server_key))
    with pytest.raises(ConfigError, match="cannot load the CA file, client certificate or key"):
        load_settings(env)


def test_api_tls(pki: Pki) -> None:
    env = {"VIGIL_API_TLS_CERT": str(pki.server_cert), "VIGIL_API_TLS_KEY": str(pki.server_key)}
    api = load_settings({**env, "VIGIL_WEB_PORT": "7443"}).api
    assert api.tls and api.url == "https://127.0.0.1:7443"
    assert isinstance(api.server_ssl_context(), ssl.SSLContext)
    assert load_settings({}).api.server_ssl_context() is None
    # Beyond loopback: tokens are still required, TLS or not.
    with pytest.raises(ConfigError, match="VIGIL_WEB_HOST=0.0.0.0 needs VIGIL_API_TOKENS"):
        load_settings({**env, "VIGIL_WEB_HOST": "0.0.0.0"})  # noqa: S104
    wide = load_settings(
        {**env, "VIGIL_WEB_HOST": "0.0.0.0", "VIGIL_API_TOKENS": "token-123:scores"}  # noqa: S104
    ).api
    assert wide.url == "https://0.0.0.0:6066" and not wide.loopback_only


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"VIGIL_API_TLS_CERT": "cert"}, "VIGIL_API_TLS_CERT is set but VIGIL_API_TLS_KEY is not"),
        ({"VIGIL_API_TLS_KEY": "key"}, "VIGIL_API_TLS_KEY is set but VIGIL_API_TLS_CERT is not"),
        (
            {"VIGIL_API_TLS_CERT": "/nonexistent/cert.pem", "VIGIL_API_TLS_KEY": "key"},
            "VIGIL_API_TLS_CERT=/nonexistent/cert.pem: cannot read it",
        ),
        ({"VIGIL_API_TLS_CERT": "ca_cert", "VIGIL_API_TLS_KEY": "server_key"}, "not a PEM"),
    ],
)
def test_bad_api_tls_settings_are_named(pki: Pki, given: dict[str, str], message: str) -> None:
    files = {"cert": pki.server_cert, "key": pki.server_key, "ca_cert": pki.ca_cert}
    files["server_key"] = pki.server_key
    env = {k: str(files.get(v, v)) for k, v in given.items()}
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_tls_paths_without_tls_and_default_api() -> None:
    assert ApiConfig().url == "http://127.0.0.1:6066"
    assert dataclasses.replace(ApiConfig(), host="::1").url == "http://[::1]:6066"


def test_key_password_is_hidden_and_checked(pki: Pki, tmp_path: Path) -> None:
    # An encrypted client key: the right password loads it, a wrong one is a ConfigError.
    import subprocess

    encrypted = tmp_path / "client-enc.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(pki.client_key), "-aes256", "-passout", "pass:k3y-pw",
         "-out", str(encrypted)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    env = _ssl_env(pki, VIGIL_KAFKA_SSL_KEYFILE=str(encrypted))
    kafka = load_settings({**env, "VIGIL_KAFKA_SSL_KEY_PASSWORD": "k3y-pw"}).kafka
    assert "k3y-pw" not in repr(kafka)
    with pytest.raises(ConfigError, match="client certificate or key"):
        load_settings({**env, "VIGIL_KAFKA_SSL_KEY_PASSWORD": "wrong"})

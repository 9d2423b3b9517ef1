"""Settings of a Vigil process: Kafka, the engine, the HTTP API and the trust model.

`load_settings` reads ``VIGIL_*`` environment variables (see ``config/README.md``)
once at start-up; nothing else reads the environment. Every value has a default
that works for the local demo.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reputation.decision import DecisionPolicy, parse_limits
from reputation.drift import DriftModel
from reputation.errors import ConfigError, InvalidEventError
from reputation.events import parse_address
from reputation.exposure.search import ExposureModel
from reputation.exposure.services import ServiceDirectory
from reputation.identity import IdentityKeys, parse_identity_keys
from reputation.idwindow import DedupConfig
from reputation.links import LinkModel
from reputation.model import TrustModel

__all__ = [
    "ApiConfig",
    "DashboardConfig",
    "EngineConfig",
    "KafkaConfig",
    "Settings",
    "load_services",
    "load_settings",
    "load_settings_from_environ",
    "parse_bool",
    "settings_of",
]

INPUT_TOPICS = ("tasks", "quality", "payouts", "transfers", "sanctions", "identity")
OUTPUT_TOPICS = ("scores", "alerts", "deadletters")
COMPACTED_TOPICS = frozenset({"scores", "sanctions"})
#: The engine's own topics: alert-status commands (keyed by worker, co-partitioned with
#: the inputs) and the wallet side's single-partition stream of facts.
INTERNAL_TOPICS = ("alert-status", "links")
SINGLE_PARTITION_TOPICS = frozenset({"links"})


KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _check_readable(variable: str, path: Path) -> None:
    """Raise `ConfigError` unless `path` is a file this process can read."""
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise ConfigError(f"{variable}={path}: cannot read it ({exc.strerror or exc})") from None


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """How to reach Kafka, how to authenticate, and how topics are named and sized.

    Every Kafka client Vigil creates takes its connection settings from here:
    `client_options` for kafka-python and aiokafka (both take the same keyword
    arguments), `faust_credentials` for the Faust app. TLS (``SSL``,
    ``SASL_SSL``) verifies the broker against `ssl_cafile` (the system's CAs
    when unset) and its host name; `ssl_certfile`/`ssl_keyfile` add a client
    certificate (mutual TLS).
    """

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "vigil."
    partitions: int = 8
    replication_factor: int = 1
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: str | None = field(default=None, repr=False)
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ConfigError(f"VIGIL_PARTITIONS must be >= 1, got {self.partitions}")
        if self.replication_factor < 1:
            raise ConfigError(
                f"VIGIL_REPLICATION_FACTOR must be >= 1, got {self.replication_factor}"
            )
        if not self.bootstrap:
            raise ConfigError("VIGIL_KAFKA_BOOTSTRAP must not be empty")
        self._check_security()

    def _check_security(self) -> None:
        protocol = self.security_protocol
        if protocol not in KAFKA_SECURITY_PROTOCOLS:
            raise ConfigError(
                f"VIGIL_KAFKA_SECURITY_PROTOCOL must be one of "
                f"{', '.join(KAFKA_SECURITY_PROTOCOLS)}, got {protocol!r}"
            )
        ssl_given = {
            "VIGIL_KAFKA_SSL_CAFILE": self.ssl_cafile,
            "VIGIL_KAFKA_SSL_CERTFILE": self.ssl_certfile,
            "VIGIL_KAFKA_SSL_KEYFILE": self.ssl_keyfile,
            "VIGIL_KAFKA_SSL_KEY_PASSWORD": self.ssl_key_password,
        }
        if not self.uses_tls:
            names = [name for name, value in ssl_given.items() if value is not None]
            if names:
                raise ConfigError(
                    f"{', '.join(names)} set, but VIGIL_KAFKA_SECURITY_PROTOCOL={protocol} "
                    "does not use TLS: set it to SSL or SASL_SSL, or unset them"
                )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ConfigError(
                "VIGIL_KAFKA_SSL_KEYFILE needs VIGIL_KAFKA_SSL_CERTFILE (the client certificate)"
            )
        if self.ssl_key_password is not None and self.ssl_certfile is None:
            raise ConfigError(
                "VIGIL_KAFKA_SSL_KEY_PASSWORD needs VIGIL_KAFKA_SSL_CERTFILE and "
                "VIGIL_KAFKA_SSL_KEYFILE"
            )
        for name, path in ssl_given.items():
            if isinstance(path, Path):
                _check_readable(name, path)
        if self.uses_sasl:
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise ConfigError(
                    f"VIGIL_KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}, "
                    f"got {self.sasl_mechanism!r}"
                )
            missing = [
                name
                for name, value in (
                    ("VIGIL_KAFKA_SASL_USERNAME", self.sasl_username),
                    ("VIGIL_KAFKA_SASL_PASSWORD", self.sasl_password),
                )
                if not value
            ]
            if missing:
                raise ConfigError(
                    f"VIGIL_KAFKA_SECURITY_PROTOCOL={protocol} needs {' and '.join(missing)}"
                )
        elif self.sasl_username is not None or self.sasl_password is not None:
            raise ConfigError(
                f"VIGIL_KAFKA_SASL_USERNAME/PASSWORD set, but VIGIL_KAFKA_SECURITY_PROTOCOL="
                f"{protocol} does not use SASL: set it to SASL_SSL or SASL_PLAINTEXT"
            )
        self.ssl_context()  # a wrong key password or a key that does not match fails here

    @property
    def uses_tls(self) -> bool:
        """Tell whether connections to the brokers are encrypted (``SSL``, ``SASL_SSL``)."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        """Tell whether clients authenticate with SASL (``SASL_PLAINTEXT``, ``SASL_SSL``)."""
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def bootstrap_servers(self) -> list[str]:
        """The bootstrap addresses as a list of ``host:port``."""
        return [b.strip() for b in self.bootstrap.split(",") if b.strip()]

    def topic(self, name: str) -> str:
        """Return the full name of a contract topic (``tasks`` -> ``vigil.tasks``)."""
        return f"{self.topic_prefix}{name}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """Return the TLS context of a client connection, or None without TLS.

        Examples
        --------
        >>> KafkaConfig().ssl_context() is None
        True
        >>> KafkaConfig(security_protocol="SSL").ssl_context().check_hostname
        True
        """
        if not self.uses_tls:
            return None
        try:
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH,
                cafile=None if self.ssl_cafile is None else str(self.ssl_cafile),
            )
            if self.ssl_certfile is not None:
                context.load_cert_chain(
                    str(self.ssl_certfile),
                    None if self.ssl_keyfile is None else str(self.ssl_keyfile),
                    password=self.ssl_key_password,
                )
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise ConfigError(
                f"VIGIL_KAFKA_SSL_*: cannot load the CA file, client certificate or key ({exc})"
            ) from None
        return context

    def security_options(self) -> dict[str, Any]:
        """Return the security keyword arguments of kafka-python and aiokafka clients.

        Both libraries take the same names (``security_protocol``,
        ``ssl_context``, ``sasl_mechanism``, ``sasl_plain_username``,
        ``sasl_plain_password``; SCRAM uses the ``sasl_plain_*`` pair too).

        Examples
        --------
        >>> KafkaConfig().security_options()
        {'security_protocol': 'PLAINTEXT'}
        >>> opts = KafkaConfig(security_protocol="SASL_PLAINTEXT", sasl_username="vigil",
        ...                    sasl_password="pw").security_options()
        >>> opts["sasl_mechanism"], opts["sasl_plain_username"]
        ('PLAIN', 'vigil')
        """
        options: dict[str, Any] = {"security_protocol": self.security_protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options

    def client_options(self) -> dict[str, Any]:
        """Return ``bootstrap_servers`` and the security options of a kafka-python/aiokafka client.

        Examples
        --------
        >>> KafkaConfig(bootstrap="a:9092, b:9092").client_options()["bootstrap_servers"]
        ['a:9092', 'b:9092']
        """
        return {"bootstrap_servers": self.bootstrap_servers, **self.security_options()}

    def faust_credentials(self) -> Any:
        """Return the ``broker_credentials`` of the Faust app (None for ``PLAINTEXT``).

        Faust turns them into the same aiokafka arguments as `security_options`
        for its consumer, producers and topic creation.
        """
        from faust.auth import SASLCredentials, SSLCredentials

        context = self.ssl_context()
        if self.uses_sasl:
            return SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                ssl_context=context,
                mechanism=self.sasl_mechanism,
            )
        if context is not None:
            return SSLCredentials(context)
        return None


LOG_FORMATS = ("text", "json")


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """The stream engine: identity, state directory, batching, limits."""

    app_id: str = "vigil"
    data_dir: Path = Path("var/engine")
    batch_max: int = 2000
    batch_within_s: float = 0.05
    fetch_max_wait_ms: int = 50
    max_message_bytes: int = 64 * 1024
    rocksdb_block_cache_mb: int = 64
    state_cache_size: int = 100_000
    log_level: str = "INFO"
    log_format: str = "text"
    #: The broker drops a member it has not heard from for this long (and its
    #: partitions move): Faust's 60 s left a killed process's partitions idle a minute.
    session_timeout_s: float = 10.0
    heartbeat_interval_s: float = 3.0
    #: Static group membership (KIP-345): a process that restarts with the same id
    #: gets its partitions back at once, without waiting out the session timeout.
    #: Unique per process and stable across its restarts; "" turns it off. The
    #: environment's default (`default_instance_id`) derives it from the host and
    #: the data directory (VIGIL_GROUP_INSTANCE_ID; ``off`` turns it off).
    group_instance_id: str = ""
    #: Most seconds of work an agent does in one event-loop turn before it lets the
    #: HTTP requests and the other agents run (streams.loopturn); 0 yields between
    #: every unit of work.
    turn_slice_s: float = 0.005

    def __post_init__(self) -> None:
        if not 0 <= self.turn_slice_s <= 1:
            raise ConfigError(f"VIGIL_TURN_SLICE_S must be within 0..1, got {self.turn_slice_s}")
        # The broker accepts 6..1800 s (group.min/max.session.timeout.ms defaults).
        if not 6 <= self.session_timeout_s <= 1800:
            raise ConfigError(
                f"VIGIL_SESSION_TIMEOUT_S must be within 6..1800, got {self.session_timeout_s}"
            )
        if not 0 < self.heartbeat_interval_s <= self.session_timeout_s / 3:
            raise ConfigError(
                "VIGIL_HEARTBEAT_INTERVAL_S must be > 0 and at most a third of "
                f"VIGIL_SESSION_TIMEOUT_S ({self.session_timeout_s:g}), "
                f"got {self.heartbeat_interval_s}"
            )
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(
                f"VIGIL_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {self.log_format!r}"
            )
        if self.batch_max < 1:
            raise ConfigError(f"VIGIL_BATCH_MAX must be >= 1, got {self.batch_max}")
        if not 0 < self.batch_within_s <= 10:
            raise ConfigError(
                f"VIGIL_BATCH_WITHIN_S must be within (0, 10], got {self.batch_within_s}"
            )
        if not 1 <= self.fetch_max_wait_ms <= 10_000:
            raise ConfigError(
                f"VIGIL_FETCH_MAX_WAIT_MS must be within 1..10000, got {self.fetch_max_wait_ms}"
            )
        if self.state_cache_size < 1:
            raise ConfigError(f"VIGIL_STATE_CACHE_SIZE must be >= 1, got {self.state_cache_size}")
        if self.max_message_bytes < 1024:
            raise ConfigError(
                f"VIGIL_MAX_MESSAGE_BYTES must be >= 1024, got {self.max_message_bytes}"
            )


SCOPES = frozenset({"scores", "alerts", "admin"})


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The HTTP API of the engine.

    ``tokens`` maps a bearer token to its scopes (``scores``, ``alerts``,
    ``admin``); with none configured the API is open and binds loopback only.
    With `tls_cert` and `tls_key` (PEM files) the API serves HTTPS only.
    """

    host: str = "127.0.0.1"
    port: int = 6066
    tokens: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    #: How the other engine processes reach this one (VIGIL_CANONICAL_URL).
    canonical_url: str | None = None
    #: Token -> the name the audit records as ``by`` (``name@token:scopes``).
    token_names: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: Host names answered besides loopback, the bind host and the canonical URL's
    #: (VIGIL_API_ALLOWED_HOSTS); a leading dot allows every subdomain.
    extra_hosts: frozenset[str] = frozenset()
    #: Longest wait for a request body once its headers are in (VIGIL_API_BODY_TIMEOUT_S).
    body_timeout_s: float = 10.0
    #: Most of the event loop's time that API requests may take (VIGIL_API_READ_SHARE);
    #: the rest is the stream's, however many clients call (streams.webload).
    read_share: float = 0.25

    def __post_init__(self) -> None:
        if self.canonical_url is not None and not re.fullmatch(
            r"https?://[^/\s]+(:\d+)?/?", self.canonical_url
        ):
            raise ConfigError(
                f"VIGIL_CANONICAL_URL must be http(s)://host[:port], got {self.canonical_url!r}"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"VIGIL_WEB_PORT must be within 1..65535, got {self.port}")
        for scopes in self.tokens.values():
            unknown = scopes - SCOPES
            if unknown:
                raise ConfigError(
                    f"VIGIL_API_TOKENS: unknown scope(s) {sorted(unknown)}, "
                    f"expected {sorted(SCOPES)}"
                )
        if not self.tokens and not self.loopback_only:
            raise ConfigError(
                f"VIGIL_WEB_HOST={self.host} needs VIGIL_API_TOKENS: without tokens the API "
                "listens on loopback only"
            )
        if not 0 < self.read_share <= 1:
            raise ConfigError(f"VIGIL_API_READ_SHARE must be within (0, 1], got {self.read_share}")
        if not 0 < self.body_timeout_s <= 300:
            raise ConfigError(
                f"VIGIL_API_BODY_TIMEOUT_S must be within (0, 300], got {self.body_timeout_s}"
            )
        for host in self.extra_hosts:
            if not re.fullmatch(r"\.?[a-z0-9.:_\[\]-]+", host):
                raise ConfigError(f"VIGIL_API_ALLOWED_HOSTS: not a host name: {host!r}")
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = (
                ("VIGIL_API_TLS_CERT", "VIGIL_API_TLS_KEY")
                if self.tls_key is None
                else ("VIGIL_API_TLS_KEY", "VIGIL_API_TLS_CERT")
            )
            raise ConfigError(f"{given} is set but {missing} is not: HTTPS needs both")
        if self.tls_cert is not None and self.tls_key is not None:
            _check_readable("VIGIL_API_TLS_CERT", self.tls_cert)
            _check_readable("VIGIL_API_TLS_KEY", self.tls_key)
            self.server_ssl_context()  # a key that does not match the certificate fails here

    @property
    def loopback_only(self) -> bool:
        """Tell whether the API binds a loopback address only."""
        return self.host in LOOPBACK_HOSTS

    @property
    def tls(self) -> bool:
        """Tell whether the API serves HTTPS."""
        return self.tls_cert is not None

    @property
    def url(self) -> str:
        """The base URL of this process's API (``https://`` with TLS).

        Examples
        --------
        >>> ApiConfig(port=7000).url
        'http://127.0.0.1:7000'
        """
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def advertised_url(self) -> str:
        """The URL other engine processes use to forward requests for workers this one owns.

        `canonical_url` when set; else, for a wildcard bind address (which no peer
        can connect to), this host's name; else `url`.

        Examples
        --------
        >>> ApiConfig(port=7000).advertised_url
        'http://127.0.0.1:7000'
        >>> ApiConfig(canonical_url="http://worker-1:6066").advertised_url
        'http://worker-1:6066'
        """
        if self.canonical_url:
            return self.canonical_url.rstrip("/")
        if self.host in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
            return f"{'https' if self.tls else 'http'}://{socket.gethostname()}:{self.port}"
        return self.url

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """The ``Host`` names the API answers (lower case, no port; see `host_allowed`).

        Loopback names, the bind host (unless a wildcard), the hosts of the bind
        and advertised URLs, and `extra_hosts`. Any other name is refused, so a
        page on a rebound DNS name cannot read the API from a browser.

        Examples
        --------
        >>> sorted(ApiConfig(canonical_url="http://worker-1:6066").allowed_hosts)
        ['127.0.0.1', '::1', 'localhost', 'worker-1']
        """
        hosts = set(LOOPBACK_HOSTS) | set(self.extra_hosts)
        if self.host not in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
            hosts.add(self.host.lower())
        for url in (self.url, self.advertised_url):
            name = urlsplit(url).hostname
            if name and name not in ("0.0.0.0", "::"):  # noqa: S104 - comparing
                hosts.add(name.lower())
        return frozenset(hosts)

    def host_allowed(self, hostname: str) -> bool:
        """Tell whether a request's ``Host`` name (no port) is one the API answers.

        Examples
        --------
        >>> api = ApiConfig(extra_hosts=frozenset({".svc.example"}))
        >>> api.host_allowed("LOCALHOST"), api.host_allowed("a.svc.example")
        (True, True)
        >>> api.host_allowed("rebind.evil.example"), api.host_allowed("10.1.2.3")
        (False, True)

        An IP address is always answered: DNS rebinding needs a name (the browser
        sends the name it resolved), and probes and scrapers (Kubernetes,
        Prometheus) address a pod by its IP.
        """
        name = hostname.lower().rstrip(".")
        try:
            ipaddress.ip_address(name)
            return True
        except ValueError:
            pass
        allowed = self.allowed_hosts
        return name in allowed or any(
            h.startswith(".") and (name.endswith(h) or name == h[1:]) for h in allowed
        )

    @property
    def allowed_origins(self) -> frozenset[str]:
        """The origins of the bind and advertised URLs (``scheme://host:port``).

        Examples
        --------
        >>> sorted(ApiConfig(port=7000).allowed_origins)
        ['http://127.0.0.1:7000']
        """
        return frozenset(
            f"{u.scheme}://{u.netloc}".lower()
            for u in (urlsplit(self.url), urlsplit(self.advertised_url))
        )

    def token_name(self, token: str) -> str:
        """Return the name a token acts under (configured, or derived from its hash).

        Examples
        --------
        >>> ApiConfig(token_names={"s3cret-token": "ann"}).token_name("s3cret-token")
        'ann'
        >>> ApiConfig().token_name("s3cret-token").startswith("token-")
        True
        """
        name = self.token_names.get(token)
        if name:
            return name
        return "token-" + hashlib.sha256(token.encode()).hexdigest()[:8]

    def server_ssl_context(self) -> ssl.SSLContext | None:
        """Return the TLS context of the HTTP server, or None without TLS."""
        if self.tls_cert is None:
            return None
        try:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(
                str(self.tls_cert), None if self.tls_key is None else str(self.tls_key)
            )
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"VIGIL_API_TLS_CERT={self.tls_cert}, VIGIL_API_TLS_KEY={self.tls_key}: "
                f"not a PEM certificate and its private key ({exc})"
            ) from None
        return context


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    """What each engine process keeps in memory for the dashboard (`streams.scorelog`).

    ``history_points`` is the most score points kept per worker: when a worker's
    history is full, every other point of its older half is dropped, so the plot
    still spans the worker's whole life with coarser old detail. ``max_workers``
    caps the workers tracked; past it the least recently updated is forgotten.
    About 20 bytes per point plus the latest record (~0.5 KiB) per worker.
    """

    history_points: int = 240
    max_workers: int = 100_000

    def __post_init__(self) -> None:
        if self.history_points < 4:
            raise ConfigError(
                f"VIGIL_DASHBOARD_HISTORY_POINTS must be >= 4, got {self.history_points}"
            )
        if self.max_workers < 1:
            raise ConfigError(f"VIGIL_DASHBOARD_MAX_WORKERS must be >= 1, got {self.max_workers}")


_TOKEN_NAME = re.compile(r"([A-Za-z0-9._-]{1,64})@(.+)")


def _split_token_name(part: str) -> tuple[str | None, str]:
    match = _TOKEN_NAME.fullmatch(part)
    return (match.group(1), match.group(2)) if match else (None, part)


def parse_tokens(raw: str) -> dict[str, frozenset[str]]:
    """Parse ``token:scope,scope;name@token2:scope`` into a token -> scopes mapping.

    A ``name@`` before a token names who uses it (`parse_token_names`).

    Examples
    --------
    >>> tokens = parse_tokens("s3cret-token:scores,alerts;ann@admin-token:admin")
    >>> tokens["s3cret-token"] == frozenset({"scores", "alerts"})
    True
    >>> sorted(tokens["admin-token"])
    ['admin']
    """
    tokens: dict[str, frozenset[str]] = {}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        token, _, scopes = _split_token_name(part)[1].partition(":")
        if len(token) < 8:
            raise ConfigError("VIGIL_API_TOKENS: each token must be at least 8 characters")
        tokens[token] = frozenset(s.strip() for s in scopes.split(",") if s.strip()) or frozenset(
            {"scores"}
        )
    return tokens


def parse_token_names(raw: str) -> dict[str, str]:
    """Return token -> name for the tokens of ``VIGIL_API_TOKENS`` written ``name@token:...``.

    Examples
    --------
    >>> parse_token_names("ann@s3cret-token:alerts;other-token:scores")
    {'s3cret-token': 'ann'}
    """
    names: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        name, rest = _split_token_name(part)
        if name is not None:
            names[rest.partition(":")[0]] = name
    return names


def parse_hosts(raw: str) -> frozenset[str]:
    """Parse comma- or whitespace-separated host names (``VIGIL_API_ALLOWED_HOSTS``).

    Examples
    --------
    >>> sorted(parse_hosts("Vigil.example, .svc.cluster.local"))
    ['.svc.cluster.local', 'vigil.example']
    """
    return frozenset(h.lower().rstrip(".") for h in raw.replace(",", " ").split())


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings of one Vigil process."""

    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    model: TrustModel = field(default_factory=TrustModel)
    exposure: ExposureModel = field(default_factory=ExposureModel)
    links: LinkModel = field(default_factory=LinkModel)
    drift: DriftModel = field(default_factory=DriftModel)
    dashboard: DashboardConfig = field(default_factory=DashboardConfig)
    #: HMAC keys of identity values, newest first (VIGIL_IDENTITY_KEYS); none: raw values refused.
    identity_keys: IdentityKeys = field(default_factory=IdentityKeys)
    decision: DecisionPolicy = field(default_factory=DecisionPolicy)
    #: Exactly once within an event-time window (VIGIL_DEDUP_*): `reputation.idwindow`.
    dedup: DedupConfig = field(default_factory=DedupConfig)


def default_instance_id(host: str, data_dir: Path) -> str:
    """Return a group instance id that is stable across restarts and unique per process.

    Two processes cannot share a data directory (RocksDB locks it), so the host
    and the data directory's absolute path name one process; a restart with the
    same directory rejoins as the same member.

    Examples
    --------
    >>> a = default_instance_id("h1", Path("/srv/vigil/engine-0"))
    >>> a == default_instance_id("h1", Path("/srv/vigil/engine-0")), a.startswith("vigil-h1-")
    (True, True)
    >>> a == default_instance_id("h1", Path("/srv/vigil/engine-1"))
    False
    """
    digest = hashlib.sha256(f"{host}\0{data_dir.absolute()}".encode()).hexdigest()[:12]
    safe_host = re.sub(r"[^A-Za-z0-9._-]", "_", host)[:64]
    return f"vigil-{safe_host}-{digest}"


def _instance_id(env: Mapping[str, str]) -> str:
    raw = env.get("VIGIL_GROUP_INSTANCE_ID")
    if raw is None:
        data_dir = Path(str(_get(env, "VIGIL_DATA_DIR", str, "var/engine")))
        return default_instance_id(socket.gethostname(), data_dir)
    raw = raw.strip()
    return "" if raw.lower() in ("", "off", "none") else raw


def _get(env: Mapping[str, str], name: str, cast: type, default: object) -> object:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {cast.__name__}, got {raw!r}") from None


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def _model_from_env(env: Mapping[str, str]) -> TrustModel:
    overrides: dict[str, object] = {}
    for f in dataclasses.fields(TrustModel):
        name = f"VIGIL_MODEL_{f.name.upper()}"
        if name in env and f.name != "version":
            kind = type(f.default)
            overrides[f.name] = _get(env, name, kind, f.default)
    return TrustModel(**overrides)  # type: ignore[arg-type]  # values cast per field type above


def parse_services(raw: str) -> frozenset[str]:
    """Parse comma- or whitespace-separated service addresses (exchanges, bridges).

    Examples
    --------
    >>> sorted(parse_services("0x" + "A" * 40 + ", 0x" + "b" * 40))[0] == "0x" + "a" * 40
    True
    """
    out: set[str] = set()
    for part in raw.replace(",", " ").split():
        try:
            out.add(parse_address(part.lower(), "VIGIL_SERVICE_ADDRESSES"))
        except InvalidEventError as exc:
            raise ConfigError(f"VIGIL_SERVICE_ADDRESSES: {exc.detail}") from None
    return frozenset(out)


def parse_bool(variable: str, raw: str | None, default: bool) -> bool:
    """Parse a yes/no setting (``true/false``, ``yes/no``, ``on/off``, ``1/0``).

    Examples
    --------
    >>> parse_bool("X", "off", True), parse_bool("X", None, True)
    (False, True)
    """
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{variable} must be true or false, got {raw!r}")


def load_services(env: Mapping[str, str]) -> ServiceDirectory:
    """Return the known service addresses: the shipped list plus ``VIGIL_SERVICE_ADDRESSES``.

    The shipped list (``chain/data/service_addresses.csv``, labelled and
    sourced) is on unless ``VIGIL_SHIPPED_SERVICES`` is false; the operator's
    addresses are always added to it.

    Examples
    --------
    >>> len(load_services({})) > 40
    True
    >>> extra = "0x" + "ab" * 20
    >>> d = load_services({"VIGIL_SHIPPED_SERVICES": "false", "VIGIL_SERVICE_ADDRESSES": extra})
    >>> len(d), d.get(extra).origin
    (1, 'VIGIL_SERVICE_ADDRESSES')
    """
    configured = ServiceDirectory.from_addresses(
        parse_services(env.get("VIGIL_SERVICE_ADDRESSES", "")), "VIGIL_SERVICE_ADDRESSES"
    )
    if not parse_bool("VIGIL_SHIPPED_SERVICES", env.get("VIGIL_SHIPPED_SERVICES"), True):
        return configured
    # Imported here: chain/ pulls in the RPC stack, which only this step of config needs.
    from chain.errors import ServiceListError
    from chain.services import load_shipped_services

    try:
        shipped = load_shipped_services()
    except ServiceListError as exc:
        raise ConfigError(f"chain/data/service_addresses.csv: {exc}") from None
    return shipped.merged(configured)


def _dataclass_from_env(cls: type, env: Mapping[str, str], prefix: str, **fixed: object) -> Any:
    overrides: dict[str, object] = dict(fixed)
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name.upper()}"
        if name in env and f.name not in fixed and isinstance(f.default, int | float):
            overrides[f.name] = _get(env, name, type(f.default), f.default)
    return cls(**overrides)


def _decision_from_env(env: Mapping[str, str]) -> DecisionPolicy:
    raw = env.get("VIGIL_DECISION_UNVERIFIED_LIMITS", "").strip()
    fixed = {"unverified_limits": parse_limits(raw)} if raw else {}
    return _dataclass_from_env(DecisionPolicy, env, "VIGIL_DECISION_", **fixed)  # type: ignore[no-any-return]  # built per field above


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build and validate the settings from environment variables.

    Examples
    --------
    >>> s = load_settings({"VIGIL_TOPIC_PREFIX": "test.", "VIGIL_MODEL_HALF_LIFE_DAYS": "14"})
    >>> s.kafka.topic("tasks"), s.model.half_life_days
    ('test.tasks', 14.0)
    """
    retired = sorted(k for k in env if k.startswith("VIGIL_KAFKA_CLIENT_"))
    if retired:
        raise ConfigError(
            f"{', '.join(retired)}: VIGIL_KAFKA_CLIENT_* is no longer read; use "
            "VIGIL_KAFKA_SECURITY_PROTOCOL, VIGIL_KAFKA_SSL_* and VIGIL_KAFKA_SASL_* "
            "(config/README.md)"
        )
    kafka = KafkaConfig(
        bootstrap=str(_get(env, "VIGIL_KAFKA_BOOTSTRAP", str, "127.0.0.1:9092")),
        topic_prefix=str(_get(env, "VIGIL_TOPIC_PREFIX", str, "vigil.")),
        partitions=int(_get(env, "VIGIL_PARTITIONS", int, 8)),  # type: ignore[call-overload]
        replication_factor=int(_get(env, "VIGIL_REPLICATION_FACTOR", int, 1)),  # type: ignore[call-overload]
        security_protocol=str(_get(env, "VIGIL_KAFKA_SECURITY_PROTOCOL", str, "PLAINTEXT")).upper(),
        ssl_cafile=_path(env, "VIGIL_KAFKA_SSL_CAFILE"),
        ssl_certfile=_path(env, "VIGIL_KAFKA_SSL_CERTFILE"),
        ssl_keyfile=_path(env, "VIGIL_KAFKA_SSL_KEYFILE"),
        ssl_key_password=env.get("VIGIL_KAFKA_SSL_KEY_PASSWORD") or None,
        sasl_mechanism=str(_get(env, "VIGIL_KAFKA_SASL_MECHANISM", str, "PLAIN")).upper(),
        sasl_username=env.get("VIGIL_KAFKA_SASL_USERNAME") or None,
        sasl_password=env.get("VIGIL_KAFKA_SASL_PASSWORD") or None,
    )
    engine = EngineConfig(
        app_id=str(_get(env, "VIGIL_APP_ID", str, "vigil")),
        data_dir=Path(str(_get(env, "VIGIL_DATA_DIR", str, "var/engine"))),
        batch_max=int(_get(env, "VIGIL_BATCH_MAX", int, 2000)),  # type: ignore[call-overload]
        batch_within_s=float(_get(env, "VIGIL_BATCH_WITHIN_S", float, 0.05)),  # type: ignore[arg-type]
        fetch_max_wait_ms=int(_get(env, "VIGIL_FETCH_MAX_WAIT_MS", int, 50)),  # type: ignore[call-overload]
        max_message_bytes=int(_get(env, "VIGIL_MAX_MESSAGE_BYTES", int, 64 * 1024)),  # type: ignore[call-overload]
        rocksdb_block_cache_mb=int(_get(env, "VIGIL_ROCKSDB_BLOCK_CACHE_MB", int, 64)),  # type: ignore[call-overload]
        state_cache_size=int(_get(env, "VIGIL_STATE_CACHE_SIZE", int, 100_000)),  # type: ignore[call-overload]
        log_level=str(_get(env, "VIGIL_LOG_LEVEL", str, "INFO")).upper(),
        log_format=str(_get(env, "VIGIL_LOG_FORMAT", str, "text")).lower(),
        session_timeout_s=float(_get(env, "VIGIL_SESSION_TIMEOUT_S", float, 10.0)),  # type: ignore[arg-type]
        heartbeat_interval_s=float(_get(env, "VIGIL_HEARTBEAT_INTERVAL_S", float, 3.0)),  # type: ignore[arg-type]
        group_instance_id=_instance_id(env),
        turn_slice_s=float(_get(env, "VIGIL_TURN_SLICE_S", float, 0.005)),  # type: ignore[arg-type]
    )
    api = ApiConfig(
        host=str(_get(env, "VIGIL_WEB_HOST", str, "127.0.0.1")),
        port=int(_get(env, "VIGIL_WEB_PORT", int, 6066)),  # type: ignore[call-overload]
        tokens=parse_tokens(env.get("VIGIL_API_TOKENS", "")),
        tls_cert=_path(env, "VIGIL_API_TLS_CERT"),
        tls_key=_path(env, "VIGIL_API_TLS_KEY"),
        canonical_url=env.get("VIGIL_CANONICAL_URL") or env.get("NODE_CANONICAL_URL") or None,
        token_names=parse_token_names(env.get("VIGIL_API_TOKENS", "")),
        extra_hosts=parse_hosts(env.get("VIGIL_API_ALLOWED_HOSTS", "")),
        body_timeout_s=float(_get(env, "VIGIL_API_BODY_TIMEOUT_S", float, 10.0)),  # type: ignore[arg-type]
        read_share=float(_get(env, "VIGIL_API_READ_SHARE", float, 0.25)),  # type: ignore[arg-type]
    )
    services = load_services(env)
    return Settings(
        kafka=kafka,
        engine=engine,
        api=api,
        model=_model_from_env(env),
        exposure=_dataclass_from_env(ExposureModel, env, "VIGIL_EXPOSURE_", services=services),
        links=_dataclass_from_env(LinkModel, env, "VIGIL_LINKS_"),
        drift=_dataclass_from_env(DriftModel, env, "VIGIL_DRIFT_"),
        dashboard=_dataclass_from_env(DashboardConfig, env, "VIGIL_DASHBOARD_"),
        identity_keys=parse_identity_keys(env.get("VIGIL_IDENTITY_KEYS", "")),
        decision=_decision_from_env(env),
        dedup=_dataclass_from_env(DedupConfig, env, "VIGIL_DEDUP_"),
    )


def load_settings_from_environ() -> Settings:
    """Build the settings from this process's environment (the one place that reads it)."""
    import os

    return load_settings(os.environ)


def settings_of(args: object) -> Settings:
    """Return the settings a ``vigil`` command loaded at start (``args.settings``), or load them.

    Sub-commands registered by other packages (``chain``, ``sim``) also run on
    their own, without ``vigil``'s entry point; then the environment is read here.
    """
    settings = getattr(args, "settings", None)
    if isinstance(settings, Settings):
        return settings
    return load_settings_from_environ()

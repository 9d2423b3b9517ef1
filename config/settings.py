"""Settings of a Vigil process: Kafka, the engine, the HTTP API and the trust model.

`load_settings` reads ``VIGIL_*`` environment variables (see ``config/README.md``)
once at start-up; nothing else reads the environment. Every value has a default
that works for the local demo.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reputation.drift import DriftModel
from reputation.errors import ConfigError, InvalidEventError
from reputation.events import parse_address
from reputation.exposure.search import ExposureModel
from reputation.links import LinkModel
from reputation.model import TrustModel

__all__ = [
    "ApiConfig",
    "EngineConfig",
    "KafkaConfig",
    "Settings",
    "load_settings",
    "load_settings_from_environ",
]

INPUT_TOPICS = ("tasks", "quality", "payouts", "transfers", "sanctions")
OUTPUT_TOPICS = ("scores", "alerts", "deadletters")
COMPACTED_TOPICS = frozenset({"scores", "sanctions"})
#: The engine's own topics: alert-status commands (keyed by worker, co-partitioned with
#: the inputs) and the wallet side's single-partition stream of facts.
INTERNAL_TOPICS = ("alert-status", "links")
SINGLE_PARTITION_TOPICS = frozenset({"links"})


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """How to reach Kafka and how topics are named and sized."""

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = "vigil."
    partitions: int = 8
    replication_factor: int = 1
    security_protocol: str = "PLAINTEXT"
    extra: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.partitions < 1:
            raise ConfigError(f"VIGIL_PARTITIONS must be >= 1, got {self.partitions}")
        if self.replication_factor < 1:
            raise ConfigError(
                f"VIGIL_REPLICATION_FACTOR must be >= 1, got {self.replication_factor}"
            )
        if not self.bootstrap:
            raise ConfigError("VIGIL_KAFKA_BOOTSTRAP must not be empty")

    def topic(self, name: str) -> str:
        """Return the full name of a contract topic (``tasks`` -> ``vigil.tasks``)."""
        return f"{self.topic_prefix}{name}"


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

    def __post_init__(self) -> None:
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


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """The HTTP API of the engine.

    ``tokens`` maps a bearer token to its scopes (``scores``, ``alerts``,
    ``admin``); with none configured the API is open and binds loopback only.
    """

    host: str = "127.0.0.1"
    port: int = 6066
    tokens: Mapping[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ConfigError(f"VIGIL_WEB_PORT must be within 1..65535, got {self.port}")
        for scopes in self.tokens.values():
            unknown = scopes - SCOPES
            if unknown:
                raise ConfigError(
                    f"VIGIL_API_TOKENS: unknown scope(s) {sorted(unknown)}, "
                    f"expected {sorted(SCOPES)}"
                )
        if not self.tokens and self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ConfigError(
                f"VIGIL_WEB_HOST={self.host} needs VIGIL_API_TOKENS: without tokens the API "
                "listens on loopback only"
            )


def parse_tokens(raw: str) -> dict[str, frozenset[str]]:
    """Parse ``token:scope,scope;token2:scope`` into a token -> scopes mapping.

    Examples
    --------
    >>> parse_tokens("s3cret:scores,alerts;adm:admin")["s3cret"] == frozenset({"scores", "alerts"})
    True
    """
    tokens: dict[str, frozenset[str]] = {}
    for part in filter(None, (p.strip() for p in raw.split(";"))):
        token, _, scopes = part.partition(":")
        if len(token) < 8:
            raise ConfigError("VIGIL_API_TOKENS: each token must be at least 8 characters")
        tokens[token] = frozenset(s.strip() for s in scopes.split(",") if s.strip()) or frozenset(
            {"scores"}
        )
    return tokens


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


def _get(env: Mapping[str, str], name: str, cast: type, default: object) -> object:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return cast(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a {cast.__name__}, got {raw!r}") from None


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


def _dataclass_from_env(cls: type, env: Mapping[str, str], prefix: str, **fixed: object) -> Any:
    overrides: dict[str, object] = dict(fixed)
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name.upper()}"
        if name in env and f.name not in fixed and isinstance(f.default, int | float):
            overrides[f.name] = _get(env, name, type(f.default), f.default)
    return cls(**overrides)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Build and validate the settings from environment variables.

    Examples
    --------
    >>> s = load_settings({"VIGIL_TOPIC_PREFIX": "test.", "VIGIL_MODEL_HALF_LIFE_DAYS": "14"})
    >>> s.kafka.topic("tasks"), s.model.half_life_days
    ('test.tasks', 14.0)
    """
    extra = {
        k[len("VIGIL_KAFKA_CLIENT_") :].lower(): v
        for k, v in env.items()
        if k.startswith("VIGIL_KAFKA_CLIENT_")
    }
    kafka = KafkaConfig(
        bootstrap=str(_get(env, "VIGIL_KAFKA_BOOTSTRAP", str, "127.0.0.1:9092")),
        topic_prefix=str(_get(env, "VIGIL_TOPIC_PREFIX", str, "vigil.")),
        partitions=int(_get(env, "VIGIL_PARTITIONS", int, 8)),  # type: ignore[call-overload]
        replication_factor=int(_get(env, "VIGIL_REPLICATION_FACTOR", int, 1)),  # type: ignore[call-overload]
        security_protocol=str(_get(env, "VIGIL_KAFKA_SECURITY_PROTOCOL", str, "PLAINTEXT")),
        extra=extra,
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
    )
    api = ApiConfig(
        host=str(_get(env, "VIGIL_WEB_HOST", str, "127.0.0.1")),
        port=int(_get(env, "VIGIL_WEB_PORT", int, 6066)),  # type: ignore[call-overload]
        tokens=parse_tokens(env.get("VIGIL_API_TOKENS", "")),
    )
    services = parse_services(env.get("VIGIL_SERVICE_ADDRESSES", ""))
    return Settings(
        kafka=kafka,
        engine=engine,
        api=api,
        model=_model_from_env(env),
        exposure=_dataclass_from_env(ExposureModel, env, "VIGIL_EXPOSURE_", services=services),
        links=_dataclass_from_env(LinkModel, env, "VIGIL_LINKS_"),
        drift=_dataclass_from_env(DriftModel, env, "VIGIL_DRIFT_"),
    )


def load_settings_from_environ() -> Settings:
    """Build the settings from this process's environment (the one place that reads it)."""
    import os

    return load_settings(os.environ)

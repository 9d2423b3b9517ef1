"""Frozen settings built once at start-up from the environment and validated."""

from __future__ import annotations

from config.settings import (
    ApiConfig,
    EngineConfig,
    KafkaConfig,
    Settings,
    load_settings,
    load_settings_from_environ,
)

__all__ = [
    "ApiConfig",
    "EngineConfig",
    "KafkaConfig",
    "Settings",
    "load_settings",
    "load_settings_from_environ",
]

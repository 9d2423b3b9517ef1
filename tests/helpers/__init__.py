"""Helpers shared by the test suites (real brokers for integration tests)."""

from __future__ import annotations

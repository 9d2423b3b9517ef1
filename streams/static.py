"""The dashboard page served at ``GET /`` (no build step: plain HTML and JavaScript)."""

from __future__ import annotations

from importlib.resources import files

__all__ = ["DASHBOARD_HTML"]

DASHBOARD_HTML = files("streams").joinpath("dashboard.html").read_text(encoding="utf-8")

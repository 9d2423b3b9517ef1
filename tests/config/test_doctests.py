"""The doctests of config/ and streams/logs.py (outside pytest's doctest paths)."""

from __future__ import annotations

import doctest

import pytest

import config.settings
import streams.logs


@pytest.mark.parametrize("module", [config.settings, streams.logs], ids=lambda m: m.__name__)
def test_doctests(module: object) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)  # type: ignore[arg-type]
    assert result.failed == 0

"""The doctests of `chain/` (pytest's testpaths collect doctests of `reputation/` only)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["chain.fake_chain", "chain.rpc", "chain.sanctions", "chain.services"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0 and result.failed == 0

"""The pure core imports no I/O: only the standard library's pure modules, numpy and itself."""

from __future__ import annotations

import ast
from pathlib import Path

import reputation

ALLOWED_THIRD_PARTY = {"numpy", "Crypto", "phonenumbers"}  # Keccak; phone parsing (pure)
FORBIDDEN = {
    "os",
    "io",
    "socket",
    "subprocess",
    "logging",
    "time",
    "random",
    "asyncio",
    "pathlib",
    "shutil",
    "tempfile",
    "urllib",
    "http",
    "sqlite3",
    "threading",
    "multiprocessing",
    "requests",
    "aiohttp",
    "faust",
    "kafka",
    "aiokafka",
    "web3",
    "prometheus_client",
    "rocksdict",
    "orjson",
    "sys",
}


def test_reputation_imports_no_io() -> None:
    root = Path(reputation.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in FORBIDDEN or (
                    top not in ALLOWED_THIRD_PARTY and top != "reputation" and not _is_stdlib(top)
                ):
                    offenders.append(f"{path.name}: {name}")
    assert not offenders, offenders


def _is_stdlib(name: str) -> bool:
    import sys

    return name in sys.stdlib_module_names or name == "__future__"

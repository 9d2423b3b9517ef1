"""The Faust app and everything that touches Kafka, RocksDB, HTTP and Prometheus.

Also ``vigil replay``, which runs the same processing over files.
"""

from __future__ import annotations

__all__: list[str] = []

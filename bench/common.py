"""What the broker benchmarks (throughput.py, alert_latency.py) share: their broker.

Nothing in here measures anything by itself.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


@contextmanager
def broker(bootstrap: str | None, port: int = 39092) -> Iterator[str]:
    """Yield a bootstrap address: the given one, or a fresh broker started here.

    A started broker lives in a new temporary folder, removed when it stops: a
    shared folder piled up thousands of partitions over runs and the broker no
    longer started within a minute.
    """
    if bootstrap:
        yield bootstrap
        return
    from tests.helpers.kafka import ensure_single_broker

    started = ensure_single_broker(port, Path(tempfile.mkdtemp(prefix="vigil-bench-kafka-")))
    try:
        yield started.bootstrap
    finally:
        started.stop()
        shutil.rmtree(started.dir, ignore_errors=True)

from __future__ import annotations

import sys
from pathlib import Path

# bench/ is a folder of scripts, not a package: make `import crowd_lib` / `import crowd` work.
BENCH = str(Path(__file__).resolve().parents[2] / "bench")
if BENCH not in sys.path:
    sys.path.append(BENCH)

"""Restart after ``kill -9``: seconds until the restarted engine applies events again.

Starts a fresh broker (unless ``--bootstrap``) and, for each mode, a group of
one ``vigil worker`` (its own topics, group and data directory) while a
producer sends worker events at ``--rate`` for the whole mode. The engine
holds every input partition, so its first applied event after a restart means
its partitions are served again. First a cold start: the seconds from starting
the process until it has applied its first event (start-up, table recovery and
joining an empty group: the floor of every restart). Then each round kills the
engine with SIGKILL (no leave of the group, no final commit), starts it again
at once with the same settings and data directory, and prints the seconds from
the kill until the new process has applied an event (a duplicate or a dead
letter counts too: it is working again).

Modes (``--modes NAME:KILLS ...``):

``default``
    Vigil's defaults: static membership with the instance id derived from the
    host and the data directory (the same across the restart).
``static``
    ``VIGIL_GROUP_INSTANCE_ID`` set explicitly: the restarted process rejoins
    as the member the broker still knows and gets its partitions back at once.
``dynamic``
    ``VIGIL_GROUP_INSTANCE_ID=off``, session timeout 10 s. The new process
    waits until the broker drops the dead member.
``faust60``
    No instance id and Faust's own 60 s session timeout: the behaviour issue
    15 measured (61 s), the baseline.

    .venv/bin/python bench/restart.py --modes default:3 static:3 dynamic:3 faust60:1

Starts its own broker on 127.0.0.1:39392 unless --bootstrap is given.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from common import broker  # noqa: E402  (bench/ is a folder of scripts, not a package)
from serving import applied_total, produce_at_rate  # noqa: E402

from tests.helpers.events import make_events  # noqa: E402

VIGIL = str(Path(sys.executable).with_name("vigil"))
MODES: dict[str, dict[str, str]] = {
    "default": {},
    "static": {"VIGIL_GROUP_INSTANCE_ID": "bench-engine-0"},
    "dynamic": {"VIGIL_GROUP_INSTANCE_ID": "off"},
    "faust60": {"VIGIL_GROUP_INSTANCE_ID": "off", "VIGIL_SESSION_TIMEOUT_S": "60"},
}
#: Seconds to wait for a first applied event before giving up on a mode.
FIRST_EVENT_TIMEOUT_S = 300.0


def wait_first_applied(proc: subprocess.Popen[bytes], port: int, log: Path) -> float:
    """Poll the engine's /metrics until it has applied an event; return the monotonic time."""
    deadline = time.monotonic() + FIRST_EVENT_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the engine exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError):
            if applied_total(port) > 0:
                return time.monotonic()
        time.sleep(0.1)
    raise SystemExit(f"no event applied within {FIRST_EVENT_TIMEOUT_S:.0f} s; see {log}")


def run_mode(
    name: str, kills: int, bootstrap: str, args: argparse.Namespace
) -> tuple[float, list[float]]:
    """Cold start, then `kills` rounds of kill -9 and restart; return the seconds measured."""
    prefix = f"rst{uuid.uuid4().hex[:6]}."
    workdir = Path(tempfile.mkdtemp(prefix=f"vigil-bench-restart-{name}-"))
    env = dict(
        os.environ,
        VIGIL_KAFKA_BOOTSTRAP=bootstrap,
        VIGIL_TOPIC_PREFIX=prefix,
        VIGIL_APP_ID=f"{prefix}engine",
        VIGIL_WEB_PORT=str(args.port),
        VIGIL_DATA_DIR=str(workdir / "engine"),
        VIGIL_LOG_LEVEL="WARNING",
    )
    env.update(MODES[name])
    log_path = workdir / "engine.log"
    subprocess.run([VIGIL, "topics"], env=env, check=True, capture_output=True)
    # Enough events for the mode's longest possible run at the rate.
    total = int(args.rate * (kills + 1) * (args.between + FIRST_EVENT_TIMEOUT_S))
    events = make_events(args.workers, min(total, args.max_events), seed=5)
    stop = threading.Event()
    producer = threading.Thread(
        target=produce_at_rate, args=(bootstrap, prefix, events, args.rate, stop)
    )
    after_kill: list[float] = []
    with log_path.open("ab") as log:

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [VIGIL, "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
            )

        producer.start()
        proc = start()
        try:
            began = time.monotonic()
            cold = wait_first_applied(proc, args.port, log_path) - began
            print(f"{name}: cold start, first event applied {cold:.1f} s after start", flush=True)
            for k in range(kills):
                time.sleep(args.between)
                proc.send_signal(signal.SIGKILL)
                killed = time.monotonic()
                proc.wait()
                proc = start()
                back = wait_first_applied(proc, args.port, log_path)
                after_kill.append(back - killed)
                print(
                    f"{name}: kill {k + 1}, events applied again {back - killed:.1f} s after "
                    "the kill",
                    flush=True,
                )
        finally:
            stop.set()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            producer.join(timeout=60)
    return cold, after_kill


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--modes",
        nargs="+",
        default=["default:3", "static:3", "dynamic:3", "faust60:1"],
        help="NAME:KILLS with NAME in " + ", ".join(MODES),
    )
    ap.add_argument("--rate", type=float, default=100.0, help="worker events per second")
    ap.add_argument("--workers", type=int, default=300)
    ap.add_argument("--between", type=float, default=15.0, help="seconds of work between kills")
    ap.add_argument("--max-events", type=int, default=200_000, help="events generated per mode")
    ap.add_argument("--bootstrap")
    ap.add_argument("--broker-port", type=int, default=39392)
    ap.add_argument("--port", type=int, default=16098, help="the engine's HTTP port")
    args = ap.parse_args()
    plan: list[tuple[str, int]] = []
    for spec in args.modes:
        name, _, n = spec.partition(":")
        if name not in MODES:
            ap.error(f"unknown mode {name!r}; expected one of {', '.join(MODES)}")
        plan.append((name, int(n or 3)))

    results: list[tuple[str, float, list[float]]] = []
    with broker(args.bootstrap, port=args.broker_port) as bootstrap:
        for name, kills in plan:
            cold, after_kill = run_mode(name, kills, bootstrap, args)
            results.append((name, cold, after_kill))

    print(
        f"\n{args.workers} workers, {args.rate:,.0f} events/s produced, a kill every "
        f"{args.between:.0f} s of work; seconds until the engine applies events again\n"
    )
    print("| mode | engine settings | cold start | after each kill -9 | median | max |")
    print("|---|---|---:|---|---:|---:|")
    for name, cold, after_kill in results:
        settings = " ".join(f"{k}={v}" for k, v in MODES[name].items()) or "defaults"
        each = ", ".join(f"{s:.1f}" for s in after_kill)
        med = statistics.median(after_kill) if after_kill else float("nan")
        print(
            f"| {name} | {settings} | {cold:.1f} | {each} | {med:.1f} "
            f"| {max(after_kill, default=float('nan')):.1f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

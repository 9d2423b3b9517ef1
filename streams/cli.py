"""The ``vigil`` command: engine, replay, topics, simulator, chain watcher, sanctions."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from config.settings import Settings, load_settings_from_environ
from reputation.errors import ConfigError, InvalidEventError, ReputationError
from reputation.events import parse_time

__all__ = ["build_parser", "main"]

log = logging.getLogger("vigil")

_DESCRIPTION = """\
Vigil: continuous, time-weighted trust for gig workers.

Configuration comes from VIGIL_* environment variables (see config/README.md),
e.g. VIGIL_KAFKA_BOOTSTRAP=127.0.0.1:9092, VIGIL_TOPIC_PREFIX=vigil.,
VIGIL_WEB_PORT=6066, VIGIL_DATA_DIR=var/engine.
"""


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="vigil", description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    worker = sub.add_parser(
        "worker",
        help="run the streaming engine (Faust worker) with the HTTP API",
        description="Consume vigil.tasks/quality/payouts, keep every worker's trust state in "
        "RocksDB, publish vigil.scores and serve the HTTP API (default 127.0.0.1:6066). "
        "Creates missing topics first. Stop with Ctrl-C (SIGINT) or SIGTERM.",
    )
    worker.add_argument("--web-port", type=int, help="HTTP port (overrides VIGIL_WEB_PORT)")
    worker.add_argument("--data-dir", type=Path, help="state directory (overrides VIGIL_DATA_DIR)")
    worker.set_defaults(func=_cmd_worker)

    replay = sub.add_parser(
        "replay",
        help="run the engine over JSONL files of input events, no Kafka",
        description='Each line is {"topic": "tasks", "event": {...}}. Writes the final trust '
        "record of every worker and the alerts as JSONL; invalid lines are reported (and "
        "written with --deadletters) and processing goes on.",
    )
    replay.add_argument("files", nargs="+", type=Path, metavar="FILE")
    replay.add_argument("--scores", type=Path, required=True, help="output JSONL of trust records")
    replay.add_argument("--alerts", type=Path, required=True, help="output JSONL of alerts")
    replay.add_argument("--deadletters", type=Path, help="output JSONL of rejected lines")
    replay.add_argument("--now", help="ingestion time for the future-time check (RFC 3339)")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")
    replay.set_defaults(func=_cmd_replay)

    topics = sub.add_parser("topics", help="create the contract's Kafka topics (idempotent)")
    topics.set_defaults(func=_cmd_topics)

    for module in ("sim.cli", "chain.cli"):
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:  # a package of this build is absent
            log.debug("%s not available: %s", module, exc)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    import dataclasses

    settings = load_settings_from_environ()
    engine, api = settings.engine, settings.api
    if getattr(args, "data_dir", None):
        engine = dataclasses.replace(engine, data_dir=args.data_dir)
    if getattr(args, "web_port", None):
        api = dataclasses.replace(api, port=args.web_port)
    return dataclasses.replace(settings, engine=engine, api=api)


def _cmd_worker(args: argparse.Namespace) -> int:
    import faust

    from streams.admin import ensure_topics
    from streams.app import Engine

    settings = _settings(args)
    ensure_topics(settings.kafka, app_id=settings.engine.app_id)
    settings.engine.data_dir.mkdir(parents=True, exist_ok=True)
    engine = Engine(settings)
    log.info(
        "Vigil engine %s: Kafka %s, topics %s*, HTTP http://%s:%d/ (no API token configured: "
        "listening on %s only)",
        settings.engine.app_id,
        settings.kafka.bootstrap,
        settings.kafka.topic_prefix,
        settings.api.host,
        settings.api.port,
        settings.api.host,
    )
    worker = faust.Worker(engine.app, loglevel=settings.engine.log_level)
    if logging.getLevelName(settings.engine.log_level) != logging.DEBUG:
        # aiokafka and Faust format a debug record per produced message when any handler
        # lets DEBUG through (measured: ~15 % of the engine's time); below the configured
        # level nothing is wanted, so switch debug calls off at the source.
        logging.disable(logging.DEBUG)
    worker.execute_from_commandline()
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    from streams.replay import replay_files, write_jsonl

    settings = _settings(args)
    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"vigil replay: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    now = datetime.now(UTC)
    if args.now:
        try:
            now = parse_time(args.now, "--now")
        except InvalidEventError as exc:
            print(f"vigil replay: {exc.detail}", file=sys.stderr)
            return 2
    result = replay_files(settings, args.files, clock=lambda: now, progress=not args.quiet)
    processor_records = (_record(settings, state) for _, state in sorted(result.states.items()))
    n_scores = write_jsonl(args.scores, processor_records)
    n_alerts = write_jsonl(args.alerts, (a.to_json() for a in result.alerts))
    if args.deadletters:
        write_jsonl(args.deadletters, (d.to_json() for d in result.dead_letters))
    print(
        f"replayed {result.events} events: {n_scores} workers scored, {n_alerts} alerts, "
        f"{len(result.dead_letters)} rejected"
        + (
            f" (first: line {result.dead_letters[0].offset}: {result.dead_letters[0].error})"
            if result.dead_letters
            else ""
        ),
        file=sys.stderr,
    )
    return 0


def _record(settings: Settings, state: object) -> dict[str, object]:
    from reputation.assess import assess
    from reputation.state import WorkerState

    if not isinstance(state, WorkerState):  # pragma: no cover - replay stores only states
        raise TypeError(f"expected WorkerState, got {type(state).__name__}")
    return assess(settings.model, state).to_json()


def _cmd_topics(args: argparse.Namespace) -> int:
    from streams.admin import ensure_topics

    settings = _settings(args)
    created = ensure_topics(settings.kafka, app_id=settings.engine.app_id)
    print(f"created {len(created)} topics: {', '.join(created) or '(all existed)'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vigil`` command line."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"vigil: configuration error: {exc}", file=sys.stderr)
        return 2
    except ReputationError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

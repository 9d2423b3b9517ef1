"""The ``vigil`` command: engine, replay, topics, simulator, chain watcher, sanctions."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from config.settings import LOG_FORMATS, Settings, load_settings_from_environ, settings_of
from reputation.errors import ConfigError, InvalidEventError, ReputationError
from reputation.events import parse_time
from streams.logs import configure_logging, faust_logging_config

__all__ = ["build_parser", "main"]

log = logging.getLogger("vigil")

_DESCRIPTION = """\
Vigil: continuous, time-weighted trust for gig workers.

Configuration comes from VIGIL_* environment variables, read once at start-up
(every variable and its default: config/README.md), e.g.
  VIGIL_KAFKA_BOOTSTRAP=127.0.0.1:9092  VIGIL_TOPIC_PREFIX=vigil.
  VIGIL_WEB_HOST=127.0.0.1  VIGIL_WEB_PORT=6066  VIGIL_DATA_DIR=var/engine
  VIGIL_API_TOKENS=token:scores,alerts;token2:admin  VIGIL_MODEL_<PARAMETER>=...
`vigil COMMAND --help` explains each command.
"""
_EPILOG = """\
exit status: 0 done, 1 an outside system failed (Kafka, an EVM node), 2 bad input or
configuration.

examples:
  vigil topics && vigil worker                  # the engine; API on http://127.0.0.1:6066/
  vigil simulate --seed 1 --workers 200 --days 30 --out sim/
  vigil replay sim/events.jsonl --scores scores.jsonl --alerts alerts.jsonl
"""
_WORKER_EPILOG = """\
reads: VIGIL_KAFKA_* (broker and security), VIGIL_TOPIC_PREFIX, VIGIL_PARTITIONS,
VIGIL_APP_ID, VIGIL_DATA_DIR, VIGIL_WEB_HOST, VIGIL_WEB_PORT, VIGIL_API_TOKENS,
VIGIL_BATCH_*, VIGIL_MODEL_*, VIGIL_EXPOSURE_*, VIGIL_LOG_LEVEL (config/README.md).
The HTTP routes are described at GET /openapi.json.

example:
  VIGIL_KAFKA_BOOTSTRAP=127.0.0.1:9092 vigil worker --web-port 6067 --data-dir var/engine-2
"""
_REPLAY_EPILOG = """\
reads: VIGIL_MODEL_*, VIGIL_EXPOSURE_*, VIGIL_SERVICE_ADDRESSES (no Kafka setting is used).
Shows a progress bar on stderr (bytes read of all files) unless --quiet.

example:
  vigil replay sim/events.jsonl --scores out/scores.jsonl --alerts out/alerts.jsonl \\
      --deadletters out/rejected.jsonl --now 2026-12-01T00:00:00Z
"""
_TOPICS_EPILOG = """\
reads: VIGIL_KAFKA_* (broker and security), VIGIL_TOPIC_PREFIX, VIGIL_PARTITIONS,
VIGIL_REPLICATION_FACTOR, VIGIL_APP_ID.

example:
  VIGIL_KAFKA_BOOTSTRAP=127.0.0.1:9092 VIGIL_TOPIC_PREFIX=test. vigil topics
"""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps prose paragraphs to the terminal; keeps paragraphs with indented lines (examples)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        paragraphs = []
        for para in text.strip("\n").split("\n\n"):
            lines = para.splitlines()
            if any(line.startswith(" ") for line in lines):
                paragraphs.append("\n".join(indent + line for line in lines))
            else:
                paragraphs.append(
                    textwrap.fill(
                        " ".join(para.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                    )
                )
        return "\n\n".join(paragraphs)


def _set_formatter(parser: argparse.ArgumentParser) -> None:
    """Give every (sub)command, including those of other packages, the same help layout."""
    parser.formatter_class = HelpFormatter
    # argparse lists subcommands only through these private names.
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for child in action.choices.values():
                _set_formatter(child)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="vigil",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        help="log lines as text or one JSON object each (overrides VIGIL_LOG_FORMAT, default text)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, title="commands")

    worker = sub.add_parser(
        "worker",
        help="run the streaming engine (Faust worker) with the HTTP API",
        description="Consume vigil.tasks/quality/payouts/transfers/sanctions, keep every "
        "worker's trust state in RocksDB (changelog-backed), publish vigil.scores and "
        "vigil.alerts and serve the HTTP API (default http://127.0.0.1:6066/). Creates missing "
        "topics first. Run several with the same VIGIL_APP_ID to share the partitions. Runs "
        "until stopped with Ctrl-C (SIGINT) or SIGTERM.",
        epilog=_WORKER_EPILOG,
    )
    worker.add_argument(
        "--web-port",
        type=int,
        metavar="PORT",
        help="HTTP port of the API (overrides VIGIL_WEB_PORT, default 6066)",
    )
    worker.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="RocksDB state directory (overrides VIGIL_DATA_DIR, default var/engine)",
    )
    worker.set_defaults(func=_cmd_worker)

    replay = sub.add_parser(
        "replay",
        help="run the engine over JSONL files of input events, no Kafka",
        description='The engine\'s very same processing over JSONL files: each line is {"topic": '
        '"tasks", "event": {...}} (the format `vigil simulate --out` writes). Writes the final '
        "trust record of every worker and the alerts as JSONL; invalid lines are reported (and "
        "written with --deadletters) and processing goes on. Same events, same final scores "
        "and alerts as `vigil worker` on Kafka.",
        epilog=_REPLAY_EPILOG,
    )
    replay.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="input JSONL files, read in the order given (topics: tasks, quality, payouts, "
        "transfers, sanctions)",
    )
    replay.add_argument(
        "--scores",
        type=Path,
        required=True,
        metavar="OUT",
        help="output JSONL of trust records, one per worker (the vigil.scores format)",
    )
    replay.add_argument(
        "--alerts",
        type=Path,
        required=True,
        metavar="OUT",
        help="output JSONL of the alerts that stand at the end (the vigil.alerts format; "
        "alerts withdrawn on the way are left out)",
    )
    replay.add_argument(
        "--file-order",
        action="store_true",
        help="apply the events in the files' order instead of event-time order (the results "
        "are the same either way: a check of order independence; slower on shuffled input)",
    )
    replay.add_argument(
        "--deadletters",
        type=Path,
        metavar="OUT",
        help="output JSONL of rejected lines with their reason (default: only counted)",
    )
    replay.add_argument(
        "--now",
        metavar="TIME",
        help="ingestion time (RFC 3339) for the check that rejects events too far in the "
        "future (default: the current time)",
    )
    replay.add_argument("--quiet", action="store_true", help="no progress bar on stderr")
    replay.set_defaults(func=_cmd_replay)

    topics = sub.add_parser(
        "topics",
        help="create the contract's Kafka topics (idempotent)",
        description="Create every topic of the contract that is missing (inputs, vigil.scores "
        "and vigil.sanctions compacted, vigil.alerts, vigil.deadletters and the engine's "
        "internal topics) with VIGIL_PARTITIONS partitions; existing topics are left as they "
        "are. `vigil worker` does the same at start-up.",
        epilog=_TOPICS_EPILOG,
    )
    topics.set_defaults(func=_cmd_topics)

    for module in ("sim.cli", "chain.cli"):
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:  # a package of this build is absent
            log.debug("%s not available: %s", module, exc)
    _set_formatter(parser)
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    import dataclasses

    settings = settings_of(args)
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
    api = settings.api
    log.info(
        "Vigil engine %s: Kafka %s (%s), topics %s*, HTTP %s/ (%s)",
        settings.engine.app_id,
        settings.kafka.bootstrap,
        settings.kafka.security_protocol,
        settings.kafka.topic_prefix,
        api.url,
        f"bearer tokens required, {len(api.tokens)} configured"
        if api.tokens
        else f"no API token configured: listening on {api.host} only",
    )
    if api.tokens and not api.tls and not api.loopback_only:
        log.warning(
            "the API on %s serves plain HTTP: bearer tokens cross the network in clear text; "
            "set VIGIL_API_TLS_CERT and VIGIL_API_TLS_KEY",
            api.host,
        )
    json_logs = settings.engine.log_format == "json"
    worker = faust.Worker(
        engine.app,
        loglevel=settings.engine.log_level,
        logging_config=faust_logging_config(settings.engine.log_format, settings.engine.log_level),
        quiet=json_logs,  # Faust's start-up banner is not a log line
    )
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
    result = replay_files(
        settings,
        args.files,
        clock=lambda: now,
        progress=not args.quiet,
        order="file" if args.file_order else "time",
    )
    processor_records = (_record(settings, state) for _, state in sorted(result.states.items()))
    n_scores = write_jsonl(args.scores, processor_records)
    n_alerts = write_jsonl(args.alerts, (a.to_json() for a in result.standing()))
    if args.deadletters:
        write_jsonl(args.deadletters, (d.to_json() for d in result.dead_letters))
    print(
        f"replayed {result.events} events: {n_scores} workers scored, {n_alerts} alerts "
        f"({len(result.withdrawn)} withdrawn on the way), "
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
    import dataclasses

    args = build_parser().parse_args(argv)
    try:
        settings = load_settings_from_environ()
    except ConfigError as exc:
        print(f"vigil: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.log_format:
        engine = dataclasses.replace(settings.engine, log_format=args.log_format)
        settings = dataclasses.replace(settings, engine=engine)
    # Read once here; every command (and the chain and sim packages) takes them from args.
    args.settings = settings
    configure_logging(settings.engine.log_format, settings.engine.log_level)
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

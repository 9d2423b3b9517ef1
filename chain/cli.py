"""The ``vigil chain watch`` and ``vigil sanctions load`` commands.

`register` adds both to the ``vigil`` parser (``streams/cli.py`` calls it);
each sets ``func`` to a handler that takes the parsed arguments and returns
the exit code: 0 done, 1 an outside system failed (node, Kafka), 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from chain.checkpoint import FileCheckpointStore
from chain.errors import ChainError, CheckpointError, SanctionsFormatError
from chain.heads import HeadNotifier
from chain.publisher import KafkaRecordSink, KafkaTransferSink, TransferSink
from chain.rpc import Web3ChainReader
from chain.sanctions import (
    CurrentEntry,
    SanctionsDiff,
    SanctionsList,
    current_from_records,
    diff_lists,
    load_sanctions_file,
    sanction_record,
)
from chain.sanctions_topic import KafkaSanctionsSource, ensure_compacted_topic
from chain.watcher import WatchConfig, Watcher
from config.settings import settings_of
from reputation.errors import ConfigError, InvalidEventError
from reputation.events import Address, TransferEvent, parse_address

__all__ = ["register", "run_sanctions_load", "run_watch"]

log = logging.getLogger(__name__)

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_PREFIX = "vigil."
DEFAULT_CHECKPOINT = Path("var/chain/checkpoint.json")
_SHOW = 20  # entries listed per kind in the load summary
_WATCH_EPILOG = """\
Runs until SIGINT/SIGTERM, logging each published block range; the checkpoint file makes a
restart continue where it stopped. The broker is given with --bootstrap and --topic-prefix;
TLS and SASL come from VIGIL_KAFKA_SECURITY_PROTOCOL, VIGIL_KAFKA_SSL_* and
VIGIL_KAFKA_SASL_* (config/README.md).

examples:
  vigil chain watch --rpc http://127.0.0.1:8545 --confirmations 2 \\
      --tokens 0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48
  vigil chain watch --rpc wss://node.example/ws --stdout --from-block 21000000
"""
_LOAD_EPILOG = """\
Prints the diff (added, removed, changed entries) and how many messages were published.
The broker is given with --bootstrap and --topic-prefix; TLS and SASL come from
VIGIL_KAFKA_SECURITY_PROTOCOL, VIGIL_KAFKA_SSL_* and VIGIL_KAFKA_SASL_* (config/README.md).

examples:
  vigil sanctions load chain/data/ofac_sdn_evm_addresses.csv --dry-run
  vigil sanctions load sdn_advanced.xml --bootstrap 127.0.0.1:9092 --topic-prefix vigil.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``chain`` and ``sanctions`` commands to the ``vigil`` parser."""
    chain = subparsers.add_parser(
        "chain",
        help="follow an EVM node (chain watch)",
        description="The chain watcher: turns an EVM node's confirmed transfers into "
        "<prefix>transfers events for the wallet side of the engine.",
    )
    chain_sub = chain.add_subparsers(
        dest="chain_command", metavar="COMMAND", required=True, title="commands"
    )
    watch = chain_sub.add_parser(
        "watch",
        help="publish confirmed ERC-20 and ETH transfers to <prefix>transfers",
        description="Follow an EVM node over JSON-RPC and publish confirmed ERC-20 and native "
        "ETH transfers (the vigil.transfers format) once a block has --confirmations blocks on "
        "top; shallower reorganisations are handled, a deeper one stops the watcher with an "
        "error.",
        epilog=_WATCH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    watch.add_argument(
        "--rpc", required=True, help="JSON-RPC URL: http(s):// (polled) or ws(s)://; never logged"
    )
    watch.add_argument(
        "--tokens", default="", help="comma-separated ERC-20 contract addresses to follow"
    )
    watch.add_argument(
        "--confirmations",
        type=int,
        default=12,
        help="blocks on top before a block is published (default 12)",
    )
    watch.add_argument(
        "--checkpoint",
        type=Path,
        default=DEFAULT_CHECKPOINT,
        help=f"cursor file (default {DEFAULT_CHECKPOINT})",
    )
    watch.add_argument(
        "--from-block",
        type=int,
        default=None,
        help="first block when there is no checkpoint (default: the next block to be confirmed)",
    )
    watch.add_argument(
        "--bootstrap",
        default=DEFAULT_BOOTSTRAP,
        help=f"Kafka brokers (default {DEFAULT_BOOTSTRAP})",
    )
    watch.add_argument(
        "--topic-prefix",
        default=DEFAULT_PREFIX,
        help=f"topic name prefix; publishes to PREFIXtransfers (default {DEFAULT_PREFIX})",
    )
    watch.add_argument(
        "--poll-interval-s",
        type=float,
        default=1.0,
        help="seconds between polls for new blocks (default 1.0)",
    )
    watch.add_argument(
        "--max-blocks-per-poll",
        type=int,
        default=200,
        help="most blocks read per poll while catching up (default 200)",
    )
    watch.add_argument("--no-native", action="store_true", help="skip native ETH transfers")
    watch.add_argument(
        "--ws",
        default=None,
        help="ws(s):// URL for newHeads notifications, to poll as soon as a block arrives "
        "(default: --rpc itself when it is ws(s)://)",
    )
    watch.add_argument(
        "--stdout",
        action="store_true",
        help="print transfers as JSON lines instead of publishing to Kafka",
    )
    watch.set_defaults(func=run_watch)

    sanctions = subparsers.add_parser(
        "sanctions",
        help="sanctions lists (sanctions load)",
        description="Sanctions lists: publish a list's EVM addresses to the compacted "
        "<prefix>sanctions topic, which the engine screens payouts and wallets against.",
    )
    sanctions_sub = sanctions.add_subparsers(
        dest="sanctions_command", metavar="COMMAND", required=True, title="commands"
    )
    load = sanctions_sub.add_parser(
        "load",
        help="publish a sanctions list's additions and removals to <prefix>sanctions",
        description="Diff an OFAC SDN list (CSV or XML) against the compacted sanctions "
        "topic and publish additions and removals (a removal is an entry with delisted: true); "
        "running it again with the same list publishes nothing.",
        epilog=_LOAD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    load.add_argument("file", type=Path, help="OFAC SDN CSV, SDN.XML or sdn_advanced.xml")
    load.add_argument(
        "--format",
        choices=("csv", "xml", "auto"),
        default="auto",
        help="file format (default auto: from the file's extension and content)",
    )
    load.add_argument(
        "--as-of", default=None, help="publication date YYYY-MM-DD (default: from the file)"
    )
    load.add_argument(
        "--bootstrap",
        default=DEFAULT_BOOTSTRAP,
        help=f"Kafka brokers (default {DEFAULT_BOOTSTRAP})",
    )
    load.add_argument(
        "--topic-prefix",
        default=DEFAULT_PREFIX,
        help=f"topic name prefix; publishes to PREFIXsanctions (default {DEFAULT_PREFIX})",
    )
    load.add_argument("--dry-run", action="store_true", help="show the diff, publish nothing")
    load.add_argument(
        "--against",
        type=Path,
        default=None,
        help="diff against this list file instead of the topic (no Kafka read)",
    )
    load.set_defaults(func=run_sanctions_load)


# ----- chain watch ---------------------------------------------------------------------------


class _StdoutSink:
    """Prints transfers as JSON lines (``--stdout``)."""

    def publish(self, events: Sequence[TransferEvent]) -> None:
        for e in events:
            sys.stdout.write(json.dumps(e.to_json(), separators=(",", ":")) + "\n")
        sys.stdout.flush()


def _kafka_security(args: argparse.Namespace) -> dict[str, Any]:
    """TLS and SASL options of the Kafka clients, from ``VIGIL_KAFKA_*`` (config/README.md)."""
    return settings_of(args).kafka.security_options()


def _tokens(text: str) -> frozenset[str]:
    out = set()
    for part in text.split(","):
        if part.strip():
            out.add(str(parse_address(part.strip(), "tokens")))
    return frozenset(out)


def run_watch(args: argparse.Namespace) -> int:
    """Handle ``vigil chain watch``."""
    try:
        config = WatchConfig(
            tokens=_tokens(args.tokens),
            confirmations=args.confirmations,
            native=not args.no_native,
            from_block=args.from_block,
            max_blocks_per_poll=args.max_blocks_per_poll,
            poll_interval_s=args.poll_interval_s,
        )
        reader = Web3ChainReader(args.rpc)
        security = {} if args.stdout else _kafka_security(args)
    except (ConfigError, InvalidEventError, ChainError) as exc:
        print(f"vigil chain watch: {exc}", file=sys.stderr)
        return 2
    sink: TransferSink
    try:
        if args.stdout:
            sink = _StdoutSink()
        else:
            sink = KafkaTransferSink(
                args.bootstrap, f"{args.topic_prefix}transfers", security=security
            )
    except ChainError as exc:
        print(f"vigil chain watch: {exc}", file=sys.stderr)
        return 1
    watcher = Watcher(reader, sink, FileCheckpointStore(args.checkpoint), config)
    stop = threading.Event()
    ws_url = args.ws or (args.rpc if args.rpc.startswith(("ws://", "wss://")) else None)
    heads = None if ws_url is None else HeadNotifier(ws_url).start()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: stopping after the current poll", signum)
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        watcher.run(stop, wake=None if heads is None else heads.wait)
    except (CheckpointError, ChainError) as exc:
        print(f"vigil chain watch: {exc}", file=sys.stderr)
        return 1
    finally:
        if heads is not None:
            heads.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
        close = getattr(sink, "close", None)
        if close is not None:
            close()
    cursor = watcher.cursor
    log.info(
        "stopped at block %s; %d transfers in %d blocks published",
        None if cursor is None else cursor.block_number,
        watcher.stats.transfers_published,
        watcher.stats.blocks_published,
    )
    return 0


# ----- sanctions load ----------------------------------------------------------------------


def _as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise SanctionsFormatError(f"--as-of must be YYYY-MM-DD, got {text!r}") from None


def _current_from_list(lst: SanctionsList) -> dict[Address, CurrentEntry]:
    return current_from_records((e.address, sanction_record(e)) for e in lst.entries)


def _print_summary(
    new: SanctionsList,
    current: dict[Address, CurrentEntry],
    diff: SanctionsDiff,
    topic: str,
    published: bool,
) -> None:
    listed = sum(1 for c in current.values() if c.listed)
    print(f"{new.source} list as of {new.as_of.date()}: {len(new)} EVM addresses")
    print(f"current list: {listed} listed, {len(current) - listed} delisted")
    print(diff.summary())
    removed = tuple(c.entry for c in diff.removed)
    for sign, entries in (("+", diff.added), ("-", removed), ("~", diff.changed)):
        for e in entries[:_SHOW]:
            print(f"  {sign} {e.address}  {e.program}  {e.entity[:60]}")
        if len(entries) > _SHOW:
            print(f"  {sign} ... and {len(entries) - _SHOW} more")
    n = len(diff.records())
    print(
        f"published {n} messages to {topic}"
        if published
        else f"dry run: {n} messages not published"
    )


def run_sanctions_load(args: argparse.Namespace) -> int:
    """Handle ``vigil sanctions load``."""
    topic = f"{args.topic_prefix}sanctions"
    try:
        as_of = _as_of(args.as_of)
        new = load_sanctions_file(args.file, fmt=args.format, as_of=as_of)
        security = {} if args.against is not None else _kafka_security(args)
        if args.against is not None:
            current = _current_from_list(load_sanctions_file(args.against, historical=True))
        else:
            current = KafkaSanctionsSource(args.bootstrap, topic, security=security).read_current()
    except (SanctionsFormatError, OSError, ConfigError) as exc:
        print(f"vigil sanctions load: {exc}", file=sys.stderr)
        return 2
    except ChainError as exc:
        print(f"vigil sanctions load: {exc}", file=sys.stderr)
        return 1
    diff = diff_lists(current, new)
    publish = not args.dry_run and args.against is None
    if publish and diff.records():
        try:
            ensure_compacted_topic(args.bootstrap, topic, security=security)
            sink = KafkaRecordSink(
                args.bootstrap, topic, client_id="vigil-sanctions-load", security=security
            )
            try:
                sink.publish(diff.records())
            finally:
                sink.close()
        except ChainError as exc:
            print(f"vigil sanctions load: {exc}", file=sys.stderr)
            return 1
    _print_summary(new, current, diff, topic, publish)
    return 0

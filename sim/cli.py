"""``vigil simulate``: the command-line front of the simulator.

`register` adds the sub-command to the ``vigil`` parser (``streams/cli.py``);
``python -m sim.cli`` runs it on its own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from config.settings import settings_of
from reputation.errors import ConfigError
from sim import output
from sim.config import DEFAULT_START, KINDS, SimConfig, SimulationError
from sim.generate import simulate
from sim.times import parse_time

#: Command-line option of each special kind (``--takeovers 20``).
KIND_OPTIONS: dict[str, str] = {
    "traveller": "--travellers",
    "night_owl": "--night-owls",
    "wallet_change_legit": "--wallet-changes",
    "many_ips": "--many-ips",
    "takeover": "--takeovers",
    "laptop_farm": "--laptop-farms",
    "ring": "--ring-workers",
    "sanctioned_direct": "--sanctioned-direct",
    "sanctioned_linked": "--sanctioned-linked",
    "sanctioned_retroactive": "--sanctioned-retroactive",
    "decoy": "--decoys",
    "quality_decline": "--quality-decline",
}
#: What each special kind of worker does (``vigil simulate --help``).
KIND_HELP: dict[str, str] = {
    "traveller": "honest workers on a trip: another country, UTC offset and network",
    "night_owl": "honest workers who work at night",
    "wallet_change_legit": "honest workers who change their payout wallet once",
    "many_ips": "honest workers on many networks (5-12 ASNs)",
    "takeover": "accounts handed to another operator mid-way: new device, hours, wallet",
    "laptop_farm": "an operator works the owner's own laptop and network at hours 8-14 h away",
    "ring": "accounts of one operator that share a wallet or consolidate to one address",
    "sanctioned_direct": "workers paid straight to a listed address",
    "sanctioned_linked": "workers whose payout wallet is 1-2 transfers from a listed address",
    "sanctioned_retroactive": "workers whose wallet is listed or linked only after the payout",
    "decoy": "honest workers near a listed address but not linked (3 hops, via a service, "
    "or after delisting)",
    "quality_decline": "workers whose output quality drops",
}
_EPILOG = """\
Prints a progress bar while producing to Kafka (unless --quiet). The broker is given with
--bootstrap and --topic-prefix; TLS and SASL come from VIGIL_KAFKA_SECURITY_PROTOCOL,
VIGIL_KAFKA_SSL_* and VIGIL_KAFKA_SASL_* (config/README.md).

examples:
  vigil simulate --seed 1 --workers 200 --days 30 --out sim/
  vigil simulate --seed 1 --workers 1000 --days 60 --out sim/ --kafka \\
      --bootstrap 127.0.0.1:9092 --topic-prefix vigil. --rate 500
"""


def _start(text: str) -> str:
    try:
        parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to a parser."""
    parser.add_argument("--seed", type=int, required=True, help="seed of every random choice")
    parser.add_argument("--workers", type=int, default=1000, help="population size (default 1000)")
    parser.add_argument("--days", type=int, default=60, help="horizon in days (default 60)")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write DIR/events.jsonl (the `vigil replay` format) and DIR/truth.json",
    )
    parser.add_argument(
        "--start",
        type=_start,
        default=DEFAULT_START,
        help=f"first instant (default {DEFAULT_START})",
    )
    sizes = parser.add_argument_group(
        "population",
        "workers of each special kind (default: a share of --workers); the rest are honest",
    )
    for kind, option in KIND_OPTIONS.items():
        sizes.add_argument(option, dest=f"n_{kind}", type=int, metavar="N", help=KIND_HELP[kind])
    parser.add_argument(
        "--fixed-params",
        action="store_true",
        help="nominal population parameters (the centre of every range) instead of "
        "drawing them from the seed",
    )
    parser.add_argument("--payers", type=int, default=15, help="platforms and paying agents (15)")
    parser.add_argument(
        "--reviewers", type=int, default=4, help="reviewer agents that only score (4)"
    )
    parser.add_argument(
        "--invalid-rate",
        type=float,
        default=0.0,
        help="share of events that get a deliberately invalid copy (dead-letter tests; default 0)",
    )
    parser.add_argument(
        "--sanctions-csv",
        type=Path,
        help="OFAC SDN EVM addresses CSV (default: the copy bundled in chain/data)",
    )
    parser.add_argument(
        "--delisted-csv",
        type=Path,
        help="delisted addresses CSV (default: the copy bundled in chain/data)",
    )
    kafka = parser.add_argument_group("kafka")
    kafka.add_argument(
        "--kafka",
        action="store_true",
        help="produce the events to Kafka (too), with a progress bar",
    )
    kafka.add_argument(
        "--bootstrap", default="127.0.0.1:9092", help="Kafka bootstrap servers (127.0.0.1:9092)"
    )
    kafka.add_argument("--topic-prefix", default="vigil.", help="topic name prefix (vigil.)")
    kafka.add_argument(
        "--rate", type=float, default=0.0, help="events per second, 0 = as fast as possible"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``simulate`` sub-command and its handler (``args.func``)."""
    parser = subparsers.add_parser(
        "simulate",
        help="a seeded synthetic gig platform with ground truth",
        description="Generate a deterministic synthetic platform: honest workers with "
        "look-alike habits, account takeovers, laptop farms, shared-wallet rings, sanctioned "
        "payouts and look-alike decoys, with their "
        "tasks, quality scores, payouts, on-chain transfers and sanctions entries, and the "
        "ground truth in truth.json. The same options give the same events.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> SimConfig:
    """Build the run configuration from parsed arguments."""
    sizes = {
        k: int(getattr(args, f"n_{k}")) for k in KINDS if getattr(args, f"n_{k}", None) is not None
    }
    return SimConfig(
        seed=args.seed,
        workers=args.workers,
        days=args.days,
        start=parse_time(args.start),
        sizes=sizes,
        payers=args.payers,
        reviewers=args.reviewers,
        invalid_rate=args.invalid_rate,
        randomise=not args.fixed_params,
    )


def run(args: argparse.Namespace) -> int:
    """Handle ``vigil simulate``; return the process exit code."""
    if args.out is None and not args.kafka:
        print("vigil simulate: give --out DIR, --kafka, or both", file=sys.stderr)
        return 2
    try:
        cfg = config_from_args(args)
        lists = output.load_sanctions_lists(args.sanctions_csv, args.delisted_csv)
    except (ValueError, OSError, KeyError) as exc:  # bad options or an unreadable CSV
        print(f"vigil simulate: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    try:
        from tqdm import tqdm

        with tqdm(total=cfg.workers, unit="worker", desc="simulating", disable=args.quiet) as bar:
            result = simulate(cfg, lists, bar.update)
    except SimulationError as exc:  # e.g. a --start before the listed addresses were listed
        print(f"vigil simulate: {exc}", file=sys.stderr)
        return 2
    took = time.perf_counter() - began
    if args.out is not None:
        events_path, truth_path = output.write_simulation(result, args.out)
        if not args.quiet:
            print(
                f"wrote {len(result.events)} events to {events_path} and {truth_path}",
                file=sys.stderr,
            )
    elif not args.quiet:
        print(
            "no --out: truth.json is not written (same --seed and options give it)", file=sys.stderr
        )
    if not args.quiet:
        counts = result.truth["counts"]
        print(f"generated in {took:.2f}s: {counts}", file=sys.stderr)
    if args.kafka:
        try:
            security = settings_of(args).kafka.security_options()
            producer = output.connect_kafka(args.bootstrap, security)
            sent = output.send_to_kafka(
                result.events, producer, args.topic_prefix, args.rate, not args.quiet
            )
        except ConfigError as exc:
            print(f"vigil simulate: configuration error: {exc}", file=sys.stderr)
            return 2
        except output.KafkaOutputError as exc:
            print(f"vigil simulate: {exc}", file=sys.stderr)
            return 1
        if not args.quiet:
            print(
                f"produced {sent} events to {args.bootstrap} ({args.topic_prefix}*)",
                file=sys.stderr,
            )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``simulate`` as a stand-alone program (``python -m sim.cli``)."""
    parser = argparse.ArgumentParser(prog="vigil")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())

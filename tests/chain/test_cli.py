"""``vigil chain watch`` / ``vigil sanctions load`` argument handling, without network."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from chain.cli import register

DATA = Path(__file__).resolve().parents[2] / "chain" / "data"
FIXTURES = Path(__file__).parent / "fixtures"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vigil")
    register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


def test_defaults() -> None:
    args = parse("chain", "watch", "--rpc", "http://127.0.0.1:8545")
    assert (
        args.confirmations,
        args.bootstrap,
        args.topic_prefix,
        args.poll_interval_s,
        args.from_block,
    ) == (12, "127.0.0.1:9092", "vigil.", 1.0, None)
    args = parse("sanctions", "load", "x.csv")
    assert (args.format, args.dry_run, args.against) == ("auto", False, None)


def test_sanctions_load_offline_diff(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(
        "sanctions",
        "load",
        str(DATA / "ofac_sdn_evm_addresses.csv"),
        "--against",
        str(DATA / "ofac_sdn_evm_addresses_delisted.csv"),
        "--as-of",
        "2026-08-20",
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "list as of 2026-08-20: 104 EVM addresses" in out
    assert "additions 104, removals 92, changes 0, unchanged 0" in out
    assert "dry run: 196 messages not published" in out
    assert "... and 84 more" in out


def test_sanctions_load_xml_dry_run_against_itself(capsys: pytest.CaptureFixture[str]) -> None:
    sample = str(FIXTURES / "sdn_sample.xml")
    args = parse("sanctions", "load", sample, "--format", "xml", "--dry-run", "--against", sample)
    assert args.func(args) == 0
    assert "additions 0, removals 0, changes 0, unchanged 4" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        ["sanctions", "load", str(DATA / "ofac_sdn_evm_addresses_delisted.csv"), "--dry-run"],
        ["sanctions", "load", str(DATA / "nope.csv"), "--dry-run"],
        [
            "sanctions",
            "load",
            str(DATA / "ofac_sdn_evm_addresses.csv"),
            "--as-of",
            "20/08/2026",
            "--dry-run",
        ],
    ],
)
def test_sanctions_load_bad_input_exits_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse(*argv)
    assert args.func(args) == 2
    assert capsys.readouterr().err.startswith("vigil sanctions load: ")


@pytest.mark.parametrize(
    "extra", [["--tokens", "0xnot-an-address"], ["--confirmations", "-1"], ["--no-native"]]
)
def test_watch_bad_input_exits_2(extra: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("chain", "watch", "--rpc", "http://127.0.0.1:1", *extra)
    assert args.func(args) == 2
    assert capsys.readouterr().err.startswith("vigil chain watch: ")

"""The ``simulate`` sub-command: argument wiring, file output and Kafka production."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from sim import cli, output


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="vigil")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    return parser.parse_args(["simulate", *argv])


def test_register_sets_the_handler_and_defaults() -> None:
    args = _parse(["--seed", "3", "--out", "x"])
    assert args.func is cli.run
    assert (args.workers, args.days, args.start) == (1000, 60, "2026-09-01T00:00:00Z")
    assert (args.bootstrap, args.topic_prefix, args.rate, args.kafka) == (
        "127.0.0.1:9092",
        "vigil.",
        0.0,
        False,
    )
    assert args.invalid_rate == 0.0


def test_population_options_reach_the_config() -> None:
    args = _parse(
        [
            "--seed",
            "1",
            "--workers",
            "50",
            "--days",
            "10",
            "--takeovers",
            "4",
            "--ring-workers",
            "0",
            "--start",
            "2026-10-01T00:00:00+02:00",
        ]
    )
    cfg = cli.config_from_args(args)
    assert cfg.sizes["takeover"] == 4 and cfg.sizes["ring"] == 0
    assert cfg.start.isoformat() == "2026-09-30T22:00:00+00:00"


def test_start_without_offset_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _parse(["--seed", "1", "--start", "2026-10-01T00:00:00"])
    assert "offset" in capsys.readouterr().err


def test_run_writes_events_and_truth(tmp_path: Path) -> None:
    args = _parse(
        [
            "--seed",
            "4",
            "--workers",
            "40",
            "--days",
            "8",
            "--out",
            str(tmp_path),
            "--quiet",
            "--invalid-rate",
            "0.01",
        ]
    )
    assert args.func(args) == 0
    truth = json.loads((tmp_path / "truth.json").read_text())
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    assert truth["parameters"]["workers"] == 40 and truth["invalid_event_ids"]
    assert sum(
        truth["counts"][t] for t in ("tasks", "quality", "payouts", "transfers", "sanctions")
    ) == len(lines)


def test_run_needs_an_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(_parse(["--seed", "1"])) == 2
    assert "--out" in capsys.readouterr().err


def test_run_reports_bad_sizes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parse(["--seed", "1", "--workers", "5", "--takeovers", "9", "--out", str(tmp_path)])
    assert cli.run(args) == 2
    assert "sizes" in capsys.readouterr().err


class _FakeProducer:
    instances: list[_FakeProducer] = []

    def __init__(self, **config: Any) -> None:
        self.config = config
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self.flushed = self.closed = False
        _FakeProducer.instances.append(self)

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"") -> None:
        self.sent.append((topic, key, value))

    def flush(self) -> None:
        self.flushed = True

    def close(self) -> None:
        self.closed = True


def test_kafka_production_keys_values_and_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        output, "connect_kafka", lambda b, security=None: _FakeProducer(bootstrap=b)
    )
    args = _parse(
        [
            "--seed",
            "2",
            "--workers",
            "20",
            "--days",
            "5",
            "--kafka",
            "--quiet",
            "--topic-prefix",
            "test.",
            "--bootstrap",
            "127.0.0.1:1,127.0.0.1:2",
        ]
    )
    assert cli.run(args) == 0
    producer = _FakeProducer.instances[-1]
    assert producer.flushed and producer.closed
    assert producer.config["bootstrap"] == "127.0.0.1:1,127.0.0.1:2"
    topics = {t for t, _, _ in producer.sent}
    assert topics == {
        "test.tasks",
        "test.quality",
        "test.payouts",
        "test.transfers",
        "test.sanctions",
    }
    for topic, key, value in producer.sent:
        event = json.loads(value)
        assert key is not None
        if topic in ("test.tasks", "test.quality", "test.payouts"):
            assert key.decode() == event["worker_id"]
        elif topic == "test.transfers":
            assert key.decode() == event["from"].lower()
        else:
            assert key.decode() == event["address"]


def test_kafka_failure_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(bootstrap: str, security: object = None) -> _FakeProducer:
        raise output.KafkaOutputError(f"cannot connect to Kafka at {bootstrap}: NoBrokersAvailable")

    monkeypatch.setattr(output, "connect_kafka", refuse)
    args = _parse(
        [
            "--seed",
            "2",
            "--workers",
            "20",
            "--days",
            "3",
            "--kafka",
            "--quiet",
            "--out",
            str(tmp_path),
        ]
    )
    assert cli.run(args) == 1
    assert "NoBrokersAvailable" in capsys.readouterr().err
    assert (tmp_path / "events.jsonl").is_file()


def test_fixed_params_and_laptop_farms_reach_the_config() -> None:
    cfg = cli.config_from_args(
        _parse(["--seed", "4", "--workers", "200", "--days", "30", "--laptop-farms", "7"])
    )
    assert cfg.randomise and cfg.sizes["laptop_farm"] == 7
    fixed = cli.config_from_args(_parse(["--seed", "4", "--fixed-params", "--out", "x"]))
    assert not fixed.randomise and fixed.params.randomised is False

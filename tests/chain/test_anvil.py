"""The watcher against a real node: anvil (npm) on loopback with a solc-compiled ERC-20."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chain.bloom import bloom_may_contain
from chain.checkpoint import FileCheckpointStore
from chain.publisher import MemoryTransferSink
from chain.rpc import TRANSFER_TOPIC, Web3ChainReader
from chain.watcher import WatchConfig, Watcher
from reputation.events import TransferEvent, parse_transfer
from tests.chain.conftest import ANVIL_PORT, CHAIN_SH, REPO, Anvil, Token

pytestmark = pytest.mark.integration

CHAIN_ID = 31337


def watcher(
    anvil: Anvil,
    token: Token | None,
    tmp_path: Path,
    *,
    confirmations: int = 0,
    name: str = "cp.json",
    **kw: Any,
) -> tuple[Watcher, MemoryTransferSink]:
    sink = MemoryTransferSink()
    config = WatchConfig(
        tokens=frozenset({token.address}) if token else frozenset(),
        confirmations=confirmations,
        from_block=kw.pop("from_block", 0),
        poll_interval_s=0.05,
        **kw,
    )
    w = Watcher(Web3ChainReader(anvil.url), sink, FileCheckpointStore(tmp_path / name), config)
    return w, sink


def drain(w: Watcher) -> None:
    """Poll until the watcher holds nothing it could still publish."""
    for _ in range(50):
        r = w.poll()
        if r.published_through >= r.head - w.config.confirmations:
            return
    raise AssertionError("watcher did not catch up")


def test_erc20_and_eth_transfers(
    anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    token = deploy_token()
    w3 = anvil.w3
    a, b, c = w3.eth.accounts[1:4]
    tx1 = token.transfer(a, b, 12_500_000)
    tx2 = "0x" + bytes(w3.eth.send_transaction({"from": a, "to": c, "value": 10**18})).hex()
    # a value transfer that reverts (VigilUSD is not payable) is in a block but moved nothing
    failed = w3.eth.send_transaction(
        {"from": a, "to": token.contract.address, "value": 5, "gas": 100_000}
    )
    assert w3.eth.wait_for_transaction_receipt(failed)["status"] == 0
    # several transfers in one block: distinct log indexes
    anvil.rpc("evm_setAutomine", False)
    many = [token.transfer(b, c, n) for n in (1, 2, 3)]
    anvil.mine()
    anvil.rpc("evm_setAutomine", True)

    w, sink = watcher(anvil, token, tmp_path)
    drain(w)
    by_tx = {e.tx_hash: e for e in sink.events}
    t1 = by_tx[tx1]
    assert (t1.token, t1.sender, t1.recipient, t1.amount, t1.decimals) == (
        token.address,
        a.lower(),
        b.lower(),
        12_500_000,
        6,
    )
    assert t1.event_id == f"{CHAIN_ID}:{tx1}:{t1.log_index}"
    block = w3.eth.get_block(t1.block_number)
    assert t1.block_time.timestamp() == block["timestamp"]
    t2 = by_tx[tx2]
    assert (t2.token, t2.log_index, t2.amount, t2.decimals, t2.recipient) == (
        "ETH",
        -1,
        10**18,
        18,
        c.lower(),
    )
    assert "0x" + bytes(failed).hex() not in by_tx
    same_block = [by_tx[h] for h in many]
    assert len({e.block_number for e in same_block}) == 1
    assert sorted(e.log_index for e in same_block) == [0, 1, 2]
    assert [e.amount for e in same_block] == [1, 2, 3]
    # mints are transfers from the zero address; every event survives the contract JSON
    mints = [e for e in sink.events if e.sender == "0x" + "0" * 40]
    assert len(mints) == 5
    for e in sink.events:
        assert parse_transfer(json.loads(json.dumps(e.to_json()))) == e
    assert len({e.event_id for e in sink.events}) == len(sink.events)
    # the logs bloom that lets the watcher skip blocks really holds token and topic
    bloom = bytes(block["logsBloom"])
    assert bloom_may_contain(bloom, bytes.fromhex(token.address[2:]))
    assert bloom_may_contain(bloom, bytes.fromhex(TRANSFER_TOPIC[2:]))
    empty = bytes(w3.eth.get_block(t2.block_number)["logsBloom"])
    assert not bloom_may_contain(empty, bytes.fromhex(TRANSFER_TOPIC[2:]))


def test_reorg_orphaned_transfer_is_never_published(
    anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    token = deploy_token()
    a, b, c = anvil.w3.eth.accounts[1:4]
    w, sink = watcher(anvil, token, tmp_path, confirmations=2)
    anvil.mine(2)
    drain(w)
    before = len(sink.events)
    snapshot = anvil.rpc("evm_snapshot")
    orphan = token.transfer(a, b, 111)  # block n
    anvil.mine(1)  # one confirmation: not yet published
    drain(w)
    assert all(e.tx_hash != orphan for e in sink.events)
    assert w.poll().held == 2  # the watcher holds the blocks, unpublished
    assert anvil.rpc("evm_revert", snapshot) is True
    kept = token.transfer(a, c, 222)  # a different block n
    anvil.mine(3)
    drain(w)
    new = sink.events[before:]
    assert [e.tx_hash for e in new] == [kept]
    assert all(e.tx_hash != orphan for e in sink.events)
    assert w.stats.orphaned_held >= 1


def test_reorg_deeper_than_confirmations_rewinds(
    anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    token = deploy_token()
    a, b, c = anvil.w3.eth.accounts[1:4]
    w, sink = watcher(anvil, token, tmp_path, confirmations=0)
    drain(w)
    snapshot = anvil.rpc("evm_snapshot")
    orphan = token.transfer(a, b, 111)
    drain(w)
    assert sink.events[-1].tx_hash == orphan  # published at 0 confirmations
    anvil.rpc("evm_revert", snapshot)
    kept = token.transfer(a, c, 222)
    drain(w)
    assert sink.events[-1].tx_hash == kept
    assert w.stats.orphaned_published == 1
    cursor = FileCheckpointStore(tmp_path / "cp.json").load()
    assert cursor is not None
    assert (
        cursor.block_hash == "0x" + bytes(anvil.w3.eth.get_block(cursor.block_number)["hash"]).hex()
    )


def test_restart_mid_stream_neither_skips_nor_repeats(
    anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    token = deploy_token()
    accounts = anvil.w3.eth.accounts
    first, sink1 = watcher(anvil, token, tmp_path, confirmations=1, max_blocks_per_poll=3)
    for i in range(12):
        token.transfer(accounts[1 + i % 3], accounts[5], i + 1)
        anvil.rpc("anvil_setBalance", accounts[6], hex(10**21))
        anvil.w3.eth.send_transaction({"from": accounts[6], "to": accounts[7], "value": i + 1})
        if i % 2:
            first.poll()
    # "kill" the first watcher mid-stream; the second starts from the checkpoint
    cursor = FileCheckpointStore(tmp_path / "cp.json").load()
    assert cursor is not None and 0 < cursor.block_number < anvil.w3.eth.block_number - 1
    second, sink2 = watcher(anvil, token, tmp_path, confirmations=1, from_block=5)
    for i in range(12, 16):
        token.transfer(accounts[1], accounts[5], i + 1)
    anvil.mine(1)
    drain(second)
    reference, sink_ref = watcher(anvil, token, tmp_path, confirmations=1, name="ref.json")
    drain(reference)
    ids = [e.event_id for e in sink1.events + sink2.events]
    assert ids == [e.event_id for e in sink_ref.events]
    assert len(ids) == len(set(ids))
    blocks = sorted({e.block_number for e in sink1.events} | {e.block_number for e in sink2.events})
    assert max(e.block_number for e in sink1.events) < min(e.block_number for e in sink2.events)
    assert blocks == sorted({e.block_number for e in sink_ref.events})


def test_latency_is_under_a_second(
    anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    import threading

    token = deploy_token()
    a, b = anvil.w3.eth.accounts[1:3]
    w, sink = watcher(anvil, token, tmp_path, confirmations=0)
    drain(w)
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
    thread.start()
    try:
        latencies = []
        for n in range(5):
            sent = time.monotonic()
            tx = token.transfer(a, b, n + 1)
            while not any(e.tx_hash == tx for e in list(sink.events)):
                assert time.monotonic() - sent < 5.0
                time.sleep(0.01)
            latencies.append(time.monotonic() - sent)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert max(latencies) < 1.0, latencies


def test_websocket_transport(
    anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    token = deploy_token()
    a, b = anvil.w3.eth.accounts[1:3]
    tx = token.transfer(a, b, 42)
    sink = MemoryTransferSink()
    ws = Web3ChainReader(f"ws://127.0.0.1:{ANVIL_PORT}")
    w = Watcher(
        ws,
        sink,
        FileCheckpointStore(tmp_path / "ws.json"),
        WatchConfig(tokens=frozenset({token.address}), confirmations=0, from_block=0),
    )
    drain(w)
    assert [e.amount for e in sink.events if e.tx_hash == tx] == [42]
    assert ws.token_decimals(token.address) == 6


def test_cli_watch_prints_transfers_and_stops_on_sigterm(
    anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    token = deploy_token()
    a, b = anvil.w3.eth.accounts[1:3]
    tx = token.transfer(a, b, 777)
    runner = (
        "import argparse, sys\n"
        "from chain.cli import register\n"
        "p = argparse.ArgumentParser(prog='vigil')\n"
        "register(p.add_subparsers(dest='command', required=True))\n"
        "a = p.parse_args()\n"
        "sys.exit(a.func(a))\n"
    )
    checkpoint = tmp_path / "cli.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-W",
            "ignore::DeprecationWarning",
            "-c",
            runner,
            "chain",
            "watch",
            "--rpc",
            anvil.url,
            "--tokens",
            token.address,
            "--confirmations",
            "0",
            "--from-block",
            "0",
            "--checkpoint",
            str(checkpoint),
            "--poll-interval-s",
            "0.1",
            "--stdout",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 30
        while (cp := FileCheckpointStore(checkpoint).load()) is None or (
            cp.block_number < anvil.w3.eth.block_number
        ):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    events = [parse_transfer(json.loads(line)) for line in out.decode().splitlines()]
    assert any(e.tx_hash == tx and e.amount == 777 for e in events)
    assert all(isinstance(e, TransferEvent) for e in events)


def test_chain_sh_start_status_stop(chain_tooling: dict[str, Any], tmp_path: Path) -> None:
    port = "18546"
    env = {**os.environ, "VIGIL_CACHE_DIR": str(tmp_path)}

    def sh(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CHAIN_SH), *args, "--port", port],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )

    try:
        assert sh("status").returncode == 3
        started = sh("start")
        assert started.returncode == 0, started.stderr
        assert "running on http://127.0.0.1:18546" in started.stdout
        assert "already running" in sh("start").stdout  # idempotent
        assert sh("status").returncode == 0
        pid = int((tmp_path / "anvil" / f"anvil-{port}.pid").read_text())
        assert (tmp_path / "anvil" / f"anvil-{port}.log").exists()
    finally:
        stopped = sh("stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert sh("stop").returncode == 0  # idempotent
    assert sh("status").returncode == 3
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_new_head_notifications_wake_a_slow_poller(
    anvil: Anvil, deploy_token: Callable[[], Token], tmp_path: Path
) -> None:
    import threading

    from chain.heads import HeadNotifier

    token = deploy_token()
    a, b = anvil.w3.eth.accounts[1:3]
    w, sink = watcher(anvil, token, tmp_path, confirmations=0)
    w = Watcher(
        w.reader,
        sink,
        w.checkpoints,
        WatchConfig(
            tokens=frozenset({token.address}), confirmations=0, from_block=0, poll_interval_s=10.0
        ),
    )
    drain(w)
    heads = HeadNotifier(f"ws://127.0.0.1:{ANVIL_PORT}").start()
    assert heads.connected.wait(10)
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,), kwargs={"wake": heads.wait}, daemon=True)
    thread.start()
    try:
        time.sleep(0.3)  # the watcher is now in its 10 s pause
        sent = time.monotonic()
        tx = token.transfer(a, b, 5)
        while not any(e.tx_hash == tx for e in list(sink.events)):
            assert time.monotonic() - sent < 5.0, "the new head did not wake the watcher"
            time.sleep(0.01)
        assert time.monotonic() - sent < 1.0
        assert heads.heads_seen >= 1
    finally:
        stop.set()
        heads.stop()
        thread.join(timeout=15)

"""Sanctions exposure end to end: anvil, `vigil chain watch`, `vigil sanctions load`, the engine.

A real EVM node (anvil from npm) runs a USDC-like token compiled by the project;
the watcher publishes its transfers to a real broker; the real OFAC SDN list is
loaded with `vigil sanctions load`; payouts go to ``vigil.payouts``. The engine
must raise the sanctions alerts with the transfer path as evidence, override
the bands, answer the pre-payout check, and `vigil replay` over the same topics
must raise the same alerts. The second test does the same through a reorg of
the unconfirmed tail and watcher restarts (SIGTERM and kill -9) while blocks
keep coming.
"""

from __future__ import annotations

import csv
import re
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from chain.checkpoint import FileCheckpointStore
from chain.rpc import TRANSFER_TOPIC, import_web3
from reputation.eip55 import checksum_address as _checksum
from tests.chain.conftest import Anvil, Token, anvil, chain_tooling, deploy_token  # noqa: F401, F811
from tests.integration.conftest import VIGIL, Stack, http, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
OFAC = REPO / "chain" / "data" / "ofac_sdn_evm_addresses.csv"


def listed_addresses() -> list[str]:
    with OFAC.open() as fh:
        return [row["address"].lower() for row in csv.DictReader(fh)]


def checksum_address(address: str) -> str:
    return _checksum(address.lower().removeprefix("0x"))


def rfc3339(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def payout(n: int, worker: str, wallet: str, at: datetime) -> dict[str, object]:
    return {
        "event_id": f"p-chain-{n}",
        "worker_id": worker,
        "payer_id": "agent-7",
        "wallet": checksum_address(wallet),
        "chain_id": 31337,
        "asset": "USDC",
        "amount": "125.00",
        "paid_at": rfc3339(at),
    }


Watch = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def watcher(stack: Stack, anvil: Anvil) -> Iterator[Watch]:  # noqa: F811
    """Start ``vigil chain watch`` (checkpoint ``watch.json``, log ``watch.log``)."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(token: str, confirmations: int = 0) -> subprocess.Popen[bytes]:
        with (stack.workdir / "watch.log").open("ab") as log:
            procs.append(
                subprocess.Popen(
                    [
                        VIGIL,
                        "chain",
                        "watch",
                        "--rpc",
                        anvil.url,
                        "--tokens",
                        token,
                        "--confirmations",
                        str(confirmations),
                        "--from-block",
                        "0",
                        "--poll-interval-s",
                        "0.2",
                        "--checkpoint",
                        str(stack.workdir / "watch.json"),
                        "--bootstrap",
                        stack.bootstrap,
                        "--topic-prefix",
                        stack.prefix,
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=stack.workdir,
                    env=stack.env(),
                )
            )
        return procs[-1]

    yield start
    for proc in procs:
        stack.stop(proc)


def sanctions_load(stack: Stack, path: Path) -> None:
    stack.vigil(
        "sanctions",
        "load",
        str(path),
        "--bootstrap",
        stack.bootstrap,
        "--topic-prefix",
        stack.prefix,
    )


def alerts_by_type(stack: Stack) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for _, value, _, _ in stack.read_all("alerts"):
        a = orjson.loads(value)
        out[(a["type"], a["worker_id"])] = a
    return out


def replay_alerts(stack: Stack) -> set[tuple[str, str]]:
    """(alert_id, type) of every alert `vigil replay` raises over the input topics' contents."""
    lines = []
    for topic in ("sanctions", "transfers", "payouts"):
        for _, value, _, _ in stack.read_all(topic):
            lines.append(orjson.dumps({"topic": topic, "event": orjson.loads(value)}))
    events = stack.workdir / "events.jsonl"
    events.write_bytes(b"\n".join(lines) + b"\n")
    out = stack.workdir / "alerts.jsonl"
    stack.vigil(
        "replay",
        str(events),
        "--scores",
        str(stack.workdir / "s.jsonl"),
        "--alerts",
        str(out),
        "--quiet",
    )
    return {(a["alert_id"], a["type"]) for a in map(orjson.loads, out.read_bytes().splitlines())}


def test_chain_watch_sanctions_load_and_engine_raise_exposure_alerts(
    stack: Stack,
    anvil: Anvil,  # noqa: F811
    deploy_token: Callable[[], Token],  # noqa: F811
    watcher: Watch,  # noqa: F811
) -> None:
    listed = listed_addresses()
    target = listed[0]
    token = deploy_token()
    w3 = anvil.w3
    wallet, later_listed = (a.lower() for a in w3.eth.accounts[1:3])
    now = datetime.now(UTC)

    stack.create_topics()
    stack.start_engine("engine-a", 16091)
    sanctions_load(stack, OFAC)  # the real OFAC SDN list, 104 EVM addresses
    # Payouts before anything links the wallets: a payout straight to a listed address,
    # one to the wallet that will send funds to a listed address, one to a wallet that
    # a later list update names.
    stack.produce(
        [
            (
                "payouts",
                b"w-direct",
                orjson.dumps(payout(1, "w-direct", target, now - timedelta(hours=3))),
            ),
            (
                "payouts",
                b"w-linked",
                orjson.dumps(payout(2, "w-linked", wallet, now - timedelta(hours=2))),
            ),
            (
                "payouts",
                b"w-later",
                orjson.dumps(payout(3, "w-later", later_listed, now - timedelta(days=3))),
            ),
        ]
    )
    # On chain: the paid wallet sends USDC on to a listed address (1 hop, to_listed).
    tx = token.transfer(w3.eth.accounts[1], checksum_address(target), 100 * 10**6)
    watcher(token.address)

    def has(*keys: tuple[str, str]) -> bool:
        found = alerts_by_type(stack)
        return all(k in found for k in keys)

    wait_until(
        lambda: has(("SANCTIONED_PAYOUT", "w-direct"), ("RETROACTIVE_MATCH", "w-linked")),
        120,
        "the direct and the retroactive (new transfer) alerts",
        interval_s=1.0,
    )
    found = alerts_by_type(stack)
    direct = found[("SANCTIONED_PAYOUT", "w-direct")]
    assert direct["kind"] == "sanctions" and direct["severity"] == "critical"
    assert direct["evidence"]["listed_address"] == target
    retro = found[("RETROACTIVE_MATCH", "w-linked")]
    hops = retro["evidence"]["path"]["hops"]
    assert [(h["from"], h["to"]) for h in hops] == [(wallet, target)]
    assert hops[0]["event_id"].startswith(f"31337:{tx}:")
    assert retro["detected_at"] > retro["evidence"]["paid_at"]

    # A payout after the link is a linked payout at once.
    block_time = datetime.fromtimestamp(w3.eth.get_block("latest")["timestamp"], UTC)
    after = block_time + timedelta(seconds=1)
    stack.produce([("payouts", b"w-linked", orjson.dumps(payout(4, "w-linked", wallet, after)))])
    # A list update names the third wallet: its earlier payout becomes a retroactive match.
    update = stack.workdir / "sdn-update.csv"
    rows = OFAC.read_text().rstrip("\n").splitlines()
    today = now.strftime("%Y-%m-%d")
    rows.append(f"{later_listed},ETH,TEST PERSON,DPRK3,99999,,{today},{today},dprk_program")
    update.write_text("\n".join(rows) + "\n")
    sanctions_load(stack, update)
    wait_until(
        lambda: has(("SANCTIONED_LINKED_PAYOUT", "w-linked"), ("RETROACTIVE_MATCH", "w-later")),
        120,
        "the linked payout and the list-update retroactive match",
        interval_s=1.0,
    )

    def bands() -> dict[str, str]:
        return {w: str(r["band"]) for w, r in stack.latest_scores().items()}

    wait_until(
        lambda: bands() == {"w-direct": "blocked", "w-linked": "review", "w-later": "review"},
        60,
        "the sanctions override of bands",
    )
    base = "http://127.0.0.1:16091"
    status, body = http("GET", f"{base}/wallets/{wallet}/exposure")
    assert status == 200 and body["linked"] and not body["listed"]  # type: ignore[index]
    assert body["path"]["listed"] == target and body["workers"] == ["w-linked"]  # type: ignore[index]
    status, body = http("GET", f"{base}/wallets/{checksum_address(target)}/exposure")
    assert status == 200 and body["listed"]  # type: ignore[index]
    good = checksum_address(target)
    i = next(i for i, c in enumerate(good) if i > 1 and c.isalpha())
    bad = good[:i] + good[i].swapcase() + good[i + 1 :]
    assert http("GET", f"{base}/wallets/{bad}/exposure")[0] == 400  # wrong EIP-55 checksum

    # Replay over the topics' contents raises the same alerts.
    assert replay_alerts(stack) == {
        (a["alert_id"], a["type"]) for a in alerts_by_type(stack).values()
    }


# ----- a reorg and watcher restarts, end to end ------------------------------------------------


class Miner:
    """Mines an empty block every `interval_s` on its own connection, until stopped."""

    def __init__(self, url: str, interval_s: float) -> None:
        web3 = import_web3()
        self._w3 = web3.Web3(web3.HTTPProvider(url, request_kwargs={"timeout": 10}))
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.blocks = 0

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self._w3.provider.make_request("evm_mine", [])
            self.blocks += 1

    def __enter__(self) -> Miner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def checkpoint_block(stack: Stack) -> int:
    """The last block the watcher published (its checkpoint file), -1 before it has one."""
    cp = FileCheckpointStore(stack.workdir / "watch.json").load()
    return -1 if cp is None else cp.block_number


def published_transfers(stack: Stack) -> list[dict[str, Any]]:
    """Every message on ``{prefix}transfers``, duplicates included."""
    return [orjson.loads(value) for _, value, _, _ in stack.read_all("transfers")]


def canonical_transfers(anvil: Anvil, token: Token, through: int) -> dict[str, int]:  # noqa: F811
    """event_id → block of every transfer the canonical chain holds in blocks 0..through.

    Read from the node directly (logs by range, native value by block), independently of
    the watcher's by-hash reads.
    """
    w3 = anvil.w3
    out: dict[str, int] = {}
    logs = w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": through,
            "address": w3.to_checksum_address(token.address),
            "topics": [TRANSFER_TOPIC],
        }
    )
    for x in logs:
        out[f"31337:0x{bytes(x['transactionHash']).hex()}:{x['logIndex']}"] = x["blockNumber"]
    for n in range(through + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if tx["value"] and w3.eth.get_transaction_receipt(tx["hash"])["status"] == 1:
                out[f"31337:0x{bytes(tx['hash']).hex()}:-1"] = n
    return out


def engine_transfers_applied(port: int) -> int:
    """How many ``{prefix}transfers`` messages the engine's wallet side has applied."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback URL
        text = resp.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith("vigil_events_total{") and 'topic="transfers"' in line:
            if 'result="applied"' in line:
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


def test_reorg_and_watcher_restarts_raise_each_confirmed_alert_exactly_once(
    stack: Stack,
    anvil: Anvil,  # noqa: F811
    deploy_token: Callable[[], Token],  # noqa: F811
    watcher: Watch,  # noqa: F811
) -> None:
    web3 = import_web3()
    confirmations = 2
    port = 16097  # 16095 is bench/alert_latency.py's default
    token = deploy_token()
    w3 = anvil.w3
    accounts = w3.eth.accounts
    for account in accounts[5:9]:
        token.contract.functions.mint(account, 1_000_000 * 10**6).transact({"from": accounts[0]})
    # One payout wallet per worker, each sending to its own listed address, so every
    # transfer raises exactly one RETROACTIVE_MATCH of its own (no shared destination).
    restart = [f"w-restart-{i}" for i in range(1, 7)]
    wallets = dict(zip(["w-orphan", "w-replace", *restart], accounts[1:9], strict=True))
    listed = dict(zip(wallets, listed_addresses()[1:], strict=False))
    bystander = accounts[9]  # not listed, paid to no worker
    now = datetime.now(UTC)

    stack.create_topics()
    stack.start_engine("engine-r", port)
    sanctions_load(stack, OFAC)
    stack.produce(
        [
            (
                "payouts",
                w.encode(),
                orjson.dumps(payout(10 + i, w, wallet, now - timedelta(hours=1))),
            )
            for i, (w, wallet) in enumerate(wallets.items())
        ]
    )
    proc = watcher(token.address, confirmations)

    def confirmed_head() -> int:
        return int(w3.eth.block_number) - confirmations

    def block_of(tx: str) -> int:
        return int(w3.eth.get_transaction_receipt(tx)["blockNumber"])

    def send(worker: str) -> str:
        return token.transfer(wallets[worker], checksum_address(listed[worker]), 100 * 10**6)

    wait_until(lambda: checkpoint_block(stack) == confirmed_head(), 30, "catch-up", 0.1)

    # ----- a reorg of the unconfirmed tail: anvil_reorg replaces the last 2 blocks -----
    orphan = send("w-orphan")
    fork = block_of(orphan)
    anvil.mine(1)  # 1 confirmation of 2: held, not published
    # the checkpoint reaches fork - 1 only after a poll that saw head fork + 1: the watcher
    # holds the orphan's block now
    wait_until(lambda: checkpoint_block(stack) == fork - 1, 30, "the orphan's block held", 0.1)
    time.sleep(0.6)  # three more polls: the block stays held, unpublished
    assert checkpoint_block(stack) == fork - 1

    def request(sender: str, to: str, amount: int) -> dict[str, object]:
        data = token.contract.encode_abi("transfer", args=[to, amount])
        return {"from": sender, "to": w3.to_checksum_address(token.address), "data": data}

    anvil.rpc(
        "anvil_reorg",
        2,
        [
            [request(wallets["w-replace"], checksum_address(listed["w-replace"]), 7 * 10**6), 0],
            [request(wallets["w-orphan"], bystander, 3 * 10**6), 1],  # the orphan's wallet, again
        ],
    )
    assert w3.eth.block_number == fork + 1  # same height, other blocks
    with pytest.raises(web3.exceptions.TransactionNotFound):  # dropped, not re-mined
        w3.eth.get_transaction_receipt(orphan)
    replaced, harmless = (
        "0x" + bytes(w3.eth.get_block(n)["transactions"][0]).hex() for n in (fork, fork + 1)
    )
    anvil.mine(confirmations)
    wait_until(lambda: checkpoint_block(stack) == confirmed_head(), 30, "the new chain", 0.1)
    log = (stack.workdir / "watch.log").read_text()
    assert re.search(rf"reorg: block {fork} 0x[0-9a-f]+ orphaned before publication", log), log

    # ----- restarts mid-stream while blocks keep coming -----
    sent: dict[str, str] = {"w-replace": replaced}
    with Miner(anvil.url, interval_s=0.2) as miner:
        sent["w-restart-1"] = send("w-restart-1")
        sent["w-restart-2"] = send("w-restart-2")
        wait_until(
            lambda: checkpoint_block(stack) >= block_of(sent["w-restart-1"]), 30, "restart-1", 0.1
        )
        stack.stop(proc)  # SIGTERM: the current poll ends, its checkpoint is saved
        assert proc.returncode == 0
        stopped_at = checkpoint_block(stack)
        # a graceful stop published exactly the blocks through its checkpoint, each once
        ids = Counter(t["event_id"] for t in published_transfers(stack))
        assert ids == Counter(canonical_transfers(anvil, token, stopped_at).keys())
        assert stopped_at < confirmed_head()  # blocks kept coming
        sent["w-restart-3"] = send("w-restart-3")  # while no watcher runs
        sent["w-restart-4"] = send("w-restart-4")
        proc = watcher(token.address, confirmations)
        wait_until(
            lambda: checkpoint_block(stack) >= block_of(sent["w-restart-3"]), 30, "restart-3", 0.1
        )
        sent["w-restart-5"] = send("w-restart-5")
        time.sleep(0.3)
        stack.stop(proc, kill=True)  # kill -9 wherever it is
        time.sleep(0.5)  # anything the dead producer had on the wire has landed
        killed_at = checkpoint_block(stack)
        assert killed_at < confirmed_head()  # blocks kept coming
        # what it published past its checkpoint (acknowledged, not yet checkpointed) is sent
        # again by the next run: at-least-once, by design
        in_flight = {
            t["event_id"] for t in published_transfers(stack) if t["block_number"] > killed_at
        }
        sent["w-restart-6"] = send("w-restart-6")
        proc = watcher(token.address, confirmations)
        time.sleep(1.0)
    assert miner.blocks > 5
    anvil.mine(confirmations)
    wait_until(lambda: checkpoint_block(stack) == confirmed_head(), 30, "the final catch-up", 0.1)
    stack.stop(proc)
    log = (stack.workdir / "watch.log").read_text()
    for resumed in (stopped_at, killed_at):  # each restart resumed from its checkpoint
        assert f"checkpoint found (block {resumed}); --from-block 0 is ignored" in log, log

    # ----- the transfers topic: every confirmed transfer, nothing orphaned, no repeat -----
    transfers = published_transfers(stack)
    ids = Counter(t["event_id"] for t in transfers)
    canonical = canonical_transfers(anvil, token, checkpoint_block(stack))
    assert set(ids) == set(canonical)  # nothing skipped, nothing orphaned
    assert {i for i, n in ids.items() if n > 1} == in_flight  # repeats: only the kill -9 batch
    assert all(ids[i] == 2 for i in in_flight)
    assert all(orphan not in i for i in ids)
    assert not any(
        t["from"] == wallets["w-orphan"].lower() and t["to"] == listed["w-orphan"]
        for t in transfers
    )
    for tx in (replaced, harmless, *sent.values()):
        assert any(i.startswith(f"31337:{tx}:") for i in ids), tx

    # ----- the alerts: one per confirmed transfer to a listed address, each exactly once -----
    expected = {("RETROACTIVE_MATCH", w) for w in sent}
    wait_until(
        lambda: (
            engine_transfers_applied(port) == len(transfers)
            and expected <= set(alerts_by_type(stack))
        ),
        90,
        "the engine to apply every transfer and raise the alerts",
        0.5,
    )
    alerts = [orjson.loads(v) for _, v, _, _ in stack.read_all("alerts")]
    assert all(n == 1 for n in Counter(a["alert_id"] for a in alerts).values())
    assert sorted((a["type"], a["worker_id"]) for a in alerts) == sorted(expected)  # no w-orphan
    for a in alerts:
        (hop,) = a["evidence"]["path"]["hops"]
        assert (hop["from"], hop["to"]) == (wallets[a["worker_id"]].lower(), listed[a["worker_id"]])
        assert hop["event_id"].startswith(f"31337:{sent[a['worker_id']]}:")

    # ----- `vigil replay` over the topics (duplicates included) raises the same alerts -----
    assert replay_alerts(stack) == {(a["alert_id"], a["type"]) for a in alerts}

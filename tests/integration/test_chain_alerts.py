"""Sanctions exposure end to end: anvil, `vigil chain watch`, `vigil sanctions load`, the engine.

A real EVM node (anvil from npm) runs a USDC-like token compiled by the project;
the watcher publishes its transfers to a real broker; the real OFAC SDN list is
loaded with `vigil sanctions load`; payouts go to ``vigil.payouts``. The engine
must raise the sanctions alerts with the transfer path as evidence, override
the bands, answer the pre-payout check, and `vigil replay` over the same topics
must raise the same alerts.
"""

from __future__ import annotations

import csv
import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

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


@pytest.fixture
def watcher(stack: Stack, anvil: Anvil) -> Iterator[Callable[[str], None]]:  # noqa: F811
    procs: list[subprocess.Popen[bytes]] = []

    def start(token: str) -> None:
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
                        "0",
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


def test_chain_watch_sanctions_load_and_engine_raise_exposure_alerts(
    stack: Stack,
    anvil: Anvil,  # noqa: F811
    deploy_token: Callable[[], Token],  # noqa: F811
    watcher: Callable[[str], None],  # noqa: F811
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
    replayed = {
        (a["alert_id"], a["type"]) for a in map(orjson.loads, out.read_bytes().splitlines())
    }
    assert replayed == {(a["alert_id"], a["type"]) for a in alerts_by_type(stack).values()}

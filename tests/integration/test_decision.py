"""``GET /decision`` on a real broker and a real ``vigil worker`` (with API tokens).

A listed address, a wallet one transfer from it, a clean wallet with transfers of
its own, a long-standing good worker paid to the clean wallet and an equally
good one paid to the listed address go through Kafka into the engine. Then a
paying agent asks before each payout: the listed wallet is denied whatever the
score, the linked one goes to review, an unseen worker or wallet is not allowed
(coverage unknown or partial) and the trusted worker with its known, clean
wallet is allowed with full coverage. Every answer, and a ``/rank`` answer,
must fit the tool definitions of streams/agent_tools.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jsonschema_rs
import orjson
import pytest

from reputation.eip55 import checksum_address
from tests.chain.conftest import Anvil, Token, anvil, chain_tooling, deploy_token  # noqa: F401, F811
from tests.integration.conftest import Stack, http, wait_until
from tests.integration.test_dashboard import free_port

pytestmark = [pytest.mark.integration]

TOKEN, ALERTS_ONLY = "decision-scores-token", "decision-alerts-token"
LISTED = "0x8589427373D6D84E98730D7795D8f6f8731FDA16"  # on the OFAC list (Tornado Cash)
LINKED = checksum_address("00000000000000000000000000000000000000aa")
CLEAN = checksum_address("00000000000000000000000000000000000000bb")
FRIEND = checksum_address("00000000000000000000000000000000000000cc")
UNSEEN = checksum_address("00000000000000000000000000000000000000dd")
AGENT = Path(__file__).resolve().parents[2] / "scripts" / "demo_agent.py"
TOOLS = json.loads(
    (Path(__file__).resolve().parents[2] / "streams" / "agent_tools.json").read_text()
)
OUTPUT = {t["name"]: jsonschema_rs.Draft202012Validator(t["outputSchema"]) for t in TOOLS["tools"]}
INPUT = {t["name"]: jsonschema_rs.Draft202012Validator(t["inputSchema"]) for t in TOOLS["tools"]}


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def good_history(worker: str, wallet: str, end: datetime) -> list[tuple[str, dict[str, object]]]:
    """45 days of accepted, well-scored work for four payers, each task paid to `wallet`."""
    out: list[tuple[str, dict[str, object]]] = []
    for i in range(60):
        t = end - timedelta(days=45) + timedelta(hours=18 * i)
        t = t.replace(hour=10 + i % 3, minute=0, second=0)
        payer, key = f"agent-{i % 4}", f"{worker}-{i}"
        out.append(("tasks", {
            "event_id": f"t-{key}", "worker_id": worker, "payer_id": payer, "task_id": f"k-{key}",
            "outcome": "accepted", "assigned_at": iso(t - timedelta(minutes=40)),
            "completed_at": iso(t), "reward": {"amount": "20.00", "asset": "USDC"},
            "context": {"utc_offset_min": 60, "ip_asn": 3320, "country": "DE",
                        "device_id": f"d-{worker}"},
        }))  # fmt: skip
        out.append(("quality", {
            "event_id": f"q-{key}", "worker_id": worker, "task_id": f"k-{key}",
            "scorer_id": payer, "score": 0.95, "scored_at": iso(t + timedelta(minutes=10)),
        }))  # fmt: skip
        out.append(("payouts", {
            "event_id": f"p-{key}", "worker_id": worker, "payer_id": payer, "wallet": wallet,
            "chain_id": 1, "asset": "USDC", "amount": "20.00",
            "paid_at": iso(t + timedelta(minutes=30)),
        }))  # fmt: skip
    return out


def transfer(i: int, sender: str, recipient: str, at: datetime) -> dict[str, object]:
    return {
        "event_id": f"1:0x{i:064x}:0", "chain_id": 1, "block_number": 21_000_000 + i,
        "block_time": iso(at), "tx_hash": f"0x{i:064x}", "log_index": 0,
        "token": "ETH", "from": sender, "to": recipient, "amount": "1000000", "decimals": 18,
    }  # fmt: skip


def messages(end: datetime) -> list[tuple[str, bytes | None, bytes]]:
    listing = {"address": LISTED, "program": "CYBER2", "entity": "Tornado Cash",
               "listed_at": "2022-08-08T00:00:00Z", "source": "test"}  # fmt: skip
    out: list[tuple[str, bytes | None, bytes]] = [
        ("sanctions", LISTED.lower().encode(), orjson.dumps(listing)),
        ("transfers", LISTED.lower().encode(), orjson.dumps(transfer(1, LISTED, LINKED, end))),
        # The clean wallet's own graph: it sends to and hears from an unlisted friend.
        ("transfers", CLEAN.lower().encode(), orjson.dumps(transfer(2, CLEAN, FRIEND, end))),
        ("transfers", FRIEND.lower().encode(), orjson.dumps(transfer(3, FRIEND, CLEAN, end))),
    ]
    for topic, event in good_history("w-good", CLEAN, end) + good_history(
        "w-paid-listed", LISTED, end
    ):
        out.append((topic, str(event["worker_id"]).encode(), orjson.dumps(event)))
    return out


def decision(base: str, **params: str) -> tuple[int, dict[str, Any]]:
    status, body = http("GET", f"{base}/decision?{urlencode(params)}", token=TOKEN)
    assert isinstance(body, dict), body
    if status == 200:
        OUTPUT["decision"].validate(body)
        INPUT["decision"].validate(params)
    return status, body


def codes(body: dict[str, Any]) -> list[str]:
    return [r["code"] for r in body["reasons"]]


def test_a_paying_agent_asks_before_each_payout(stack: Stack) -> None:
    stack.env_extra["VIGIL_API_TOKENS"] = f"{TOKEN}:scores;{ALERTS_ONLY}:alerts"
    end = datetime.now(UTC) - timedelta(days=1)
    stack.create_topics()
    stack.produce(messages(end))
    port = free_port()
    stack.start_engine("engine", port)
    base = f"http://127.0.0.1:{port}"

    def settled() -> bool:
        good = http("GET", f"{base}/workers/w-good/trust", token=TOKEN)
        bad = http("GET", f"{base}/workers/w-paid-listed/trust", token=TOKEN)
        linked = http("GET", f"{base}/wallets/{LINKED}/exposure", token=TOKEN)
        return (
            good[0] == 200
            and good[1]["band"] == "trusted"  # type: ignore[index]
            and bad[0] == 200
            and bad[1]["band"] == "blocked"  # type: ignore[index]
            and linked[1]["linked"] is True  # type: ignore[index]
            and http("GET", f"{base}/alerts?type=SANCTIONED_PAYOUT", token=ALERTS_ONLY)[1]["count"]  # type: ignore[index]
            > 0
        )

    wait_until(settled, 180, "the engine to score both workers and link the wallet")

    # Paid to a listed address: deny, whatever the score; for a trusted worker too.
    for worker in ("w-paid-listed", "w-good"):
        status, body = decision(base, worker_id=worker, wallet=LISTED, amount="20.00")
        assert status == 200 and body["decision"] == "deny", body
        assert "WALLET_LISTED" in [b["code"] for b in body["blocks"]]
        assert body["max_age_s"] == 3600
    status, body = decision(base, worker_id="w-good", wallet=LISTED, amount="0")
    assert body["decision"] == "deny" and body["band"] == "trusted" and body["score"] > 0.8
    # The listed worker's band blocks it elsewhere too (its own sanctions alert is open).
    status, body = decision(base, worker_id="w-paid-listed", wallet=CLEAN, amount="1")
    assert body["decision"] == "deny" and "WORKER_BLOCKED" in codes(body)

    # One transfer from a listed address: review, with the hops in the reason.
    status, body = decision(base, worker_id="w-good", wallet=LINKED, amount="20.00")
    assert status == 200 and body["decision"] == "review" and body["blocks"] == []
    linked = next(r for r in body["reasons"] if r["code"] == "WALLET_LINKED")
    assert "1 transfer hop" in linked["text"] and LISTED.lower() in linked["text"]
    assert body["max_age_s"] == 30

    # Unseen: never reported as clean.
    status, body = decision(base, worker_id="w-nobody", wallet=UNSEEN, amount="500")
    assert (body["decision"], body["coverage"]) == ("review", "unknown")
    assert {"WORKER_UNSEEN", "WALLET_UNSEEN", "UNVERIFIED_AMOUNT"} <= set(codes(body))
    assert body["score"] is None and body["band"] is None
    status, body = decision(base, worker_id="w-nobody", wallet=CLEAN, amount="500")
    assert (body["decision"], body["coverage"]) == ("review", "partial")
    status, body = decision(base, worker_id="w-good", wallet=UNSEEN, amount="500", asset="usdc")
    assert (body["decision"], body["coverage"]) == ("review", "partial")
    assert "WALLET_UNSEEN" in codes(body) and body["asset"] == "USDC"

    # Known and clean on both sides: allow, with full coverage.
    status, body = decision(base, worker_id="w-good", wallet=CLEAN, amount="500")
    assert (body["decision"], body["coverage"]) == ("allow", "full"), body
    assert body["band"] == "trusted" and body["blocks"] == []
    assert body["worker_reasons"] and all(r["text"] for r in body["worker_reasons"])

    # Bad input: clear 400s; a token without the scores scope: 403; none: 401.
    for params, says in (
        ({"worker_id": "w-good", "wallet": "0x12", "amount": "1"}, "wallet"),
        ({"worker_id": "w-good", "wallet": CLEAN.lower(), "amount": "-5"}, "must not be negative"),
        ({"worker_id": "w-good", "wallet": CLEAN, "amount": "ten"}, "decimal"),
        ({"worker_id": "w-good", "wallet": CLEAN}, "amount: required"),
        ({"wallet": CLEAN, "amount": "1"}, "worker_id"),
        ({"worker_id": "w-good", "wallet": CLEAN, "amount": "1", "asset": "U S"}, "asset"),
    ):
        status, body = decision(base, **params)
        assert status == 400 and says in body["error"], (params, body)
    url = f"{base}/decision?{urlencode({'worker_id': 'w-good', 'wallet': CLEAN, 'amount': '1'})}"
    assert http("GET", url, token=ALERTS_ONLY)[0] == 403
    assert http("GET", url)[0] == 401

    # The rank tool's answers fit its schema too; the tool file is served.
    rank_args = {"workers": ["w-good", "w-paid-listed", "w-nobody"], "min_confidence": 0.1}
    INPUT["rank"].validate(rank_args)
    status, ranked = http("POST", f"{base}/rank", rank_args, token=TOKEN)
    assert status == 200
    OUTPUT["rank"].validate(ranked)
    assert [r["worker_id"] for r in ranked["ranked"]] == ["w-good"]  # type: ignore[index]
    assert http("GET", f"{base}/agent-tools.json", token=TOKEN)[1] == TOOLS


def run_demo_agent(
    base: str, truth: Path, workers: dict[str, dict[str, str]], chain: list[str]
) -> list[str]:
    truth.write_text(json.dumps({"workers": workers}))
    done = subprocess.run(
        [sys.executable, str(AGENT), "--api", base, "--token", TOKEN, "--truth", str(truth),
         "--once", *chain],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return done.stdout.splitlines()


@pytest.mark.slow
def test_the_demo_agent_refuses_listed_and_linked_wallets(
    stack: Stack,
    anvil: Anvil,  # noqa: F811
    deploy_token: Callable[[], Token],  # noqa: F811
) -> None:
    """It pays the trusted worker on the chain (a real anvil, the project's token), no one else."""
    token = deploy_token()
    chain = ["--rpc", anvil.url, "--token-address", token.address]
    stack.env_extra["VIGIL_API_TOKENS"] = f"{TOKEN}:scores"
    end = datetime.now(UTC) - timedelta(days=1)
    stack.create_topics()
    stack.produce(messages(end))
    port = free_port()
    stack.start_engine("engine", port)
    base = f"http://127.0.0.1:{port}"

    def settled() -> bool:
        good = http("GET", f"{base}/workers/w-good/trust", token=TOKEN)[1]
        linked = http("GET", f"{base}/wallets/{LINKED}/exposure", token=TOKEN)[1]
        return (
            isinstance(good, dict)
            and good.get("band") == "trusted"
            and isinstance(linked, dict)
            and linked.get("linked") is True
        )

    wait_until(settled, 180, "the engine to score the worker and link the wallet")
    honest = {"w-good": {"kind": "honest", "wallet": CLEAN}}
    for risky, wallet, verdict in (
        ("w-paid-listed", LISTED, "deny"),
        ("w-linked", LINKED, "review"),
    ):
        kind = "sanctioned_direct" if wallet == LISTED else "sanctioned_linked"
        lines = run_demo_agent(
            base,
            stack.workdir / "truth.json",
            {**honest, risky: {"kind": kind, "wallet": wallet}},
            chain,
        )
        assert any("/rank picks ['w-good']" in line for line in lines), lines
        assert f"agent: pay 25.00 USDC to w-good at {CLEAN}" in "\n".join(lines), lines
        refusal = next(
            line for line in lines if line.startswith(f"agent: refuse 25.00 USDC to {risky}")
        )
        assert f": {verdict} " in refusal, refusal
        assert ("WALLET_LISTED" if verdict == "deny" else "WALLET_LINKED") in refusal
        assert "paid on chain in tx 0x" in next(line for line in lines if "agent: pay" in line)
        assert "paid on chain" not in refusal
    # Two rounds, two payments to the trusted worker; nothing to the listed or linked wallet.
    balance = token.contract.functions.balanceOf
    assert balance(CLEAN).call() == 2 * 25 * 10**6
    assert balance(LISTED).call() == 0
    assert balance(LINKED).call() == 0

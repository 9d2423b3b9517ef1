"""The demo's paying agent: routes jobs with ``POST /rank``, asks ``GET /decision`` before paying.

    python scripts/demo_agent.py --api http://127.0.0.1:6066 --truth var/demo/sim/truth.json

Every ``--interval-s`` it posts a job to a few of the simulated platform's
workers, picks the best one ``/rank`` returns, and asks ``/decision`` whether
to pay it to its payout wallet; it also asks about one worker the simulator
paid to a listed or linked wallet, so the refusal shows. It prints one line per
decision (``pay`` on allow; ``refuse`` on deny or review, with the reasons).
With ``--rpc`` and ``--token-address`` it pays on the local chain too: on allow
it sends the amount of the demo's USDC stand-in (VigilUSD, 6 decimals) from
the node's first account to the worker's wallet and prints the transaction; on
deny or review it sends nothing. ``--once`` makes one round and exits (the
integration test runs it so).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

RISKY_KINDS = ("sanctioned_direct", "sanctioned_linked")
REPO = Path(__file__).resolve().parents[1]
ARTIFACT = REPO / ".cache" / "contracts" / "VigilUSD.json"
DECIMALS = 6


class Payer:
    """Pays allowed payouts in VigilUSD on the local chain (anvil), from its first account."""

    def __init__(self, rpc: str, token_address: str) -> None:
        sys.path.insert(0, str(REPO))
        from chain.rpc import import_web3

        web3 = import_web3()
        self.web3 = web3
        self.w3 = web3.Web3(web3.HTTPProvider(rpc, request_kwargs={"timeout": 10}))
        abi = json.loads(ARTIFACT.read_text())["abi"]
        address = web3.Web3.to_checksum_address(token_address)
        self.token = self.w3.eth.contract(address=address, abi=abi)

    def pay(self, wallet: str, amount: str) -> str:
        """Send `amount` (a decimal string) to `wallet`; return the mined transaction's hash."""
        units = int(Decimal(amount) * 10**DECIMALS)
        to = self.web3.Web3.to_checksum_address(wallet)
        tx = self.token.functions.transfer(to, units).transact({"from": self.w3.eth.accounts[0]})
        self.w3.eth.wait_for_transaction_receipt(tx, timeout=60)
        return "0x" + bytes(tx).hex()


def call(api: str, path: str, token: str | None, body: object | None = None) -> Any:
    """Call the engine's API and return the JSON answer (also of an error)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{api}{path}", data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - the demo's API
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}")


def ask(
    api: str, token: str | None, worker: str, wallet: str, amount: str, payer: Payer | None = None
) -> str:
    """Ask /decision about one payout, pay it on allow (with a `payer`); return the line."""
    q = urlencode({"worker_id": worker, "wallet": wallet, "amount": amount, "asset": "USDC"})
    d = call(api, f"/decision?{q}", token)
    if "decision" not in d:
        return f"agent: cannot decide {worker}: {d.get('error', d)}"
    why = "; ".join(f"{r['code']}: {r['text']}" for r in d["reasons"] if r["effect"] != "info")
    if d["decision"] == "allow":
        line = f"agent: pay {amount} USDC to {worker} at {wallet} (coverage {d['coverage']})"
        if payer is not None:
            line += f"; paid on chain in tx {payer.pay(wallet, amount)}"
        return line
    return (
        f"agent: refuse {amount} USDC to {worker} at {wallet}: {d['decision']} "
        f"(coverage {d['coverage']}) {why}"
    )


def round_once(
    api: str,
    token: str | None,
    workers: dict[str, Any],
    rnd: random.Random,
    payer: Payer | None = None,
) -> list[str]:
    """One job: rank a few workers, decide the best one's payout, and one risky worker's."""
    with_wallet = sorted(w for w, info in workers.items() if info.get("wallet"))
    lines: list[str] = []
    if with_wallet:
        job = rnd.sample(with_wallet, min(5, len(with_wallet)))
        ranked = call(api, "/rank", token, {"workers": job, "min_confidence": 0.1})
        best = [r["worker_id"] for r in ranked.get("ranked", [])][:1]
        lines.append(f"agent: job for {', '.join(job)}: /rank picks {best or 'nobody'}")
        for worker in best:
            lines.append(ask(api, token, worker, workers[worker]["wallet"], "25.00", payer))
    risky = sorted(
        w for w, info in workers.items() if info.get("kind") in RISKY_KINDS and info.get("wallet")
    )
    if risky:
        worker = rnd.choice(risky)
        lines.append(ask(api, token, worker, workers[worker]["wallet"], "25.00", payer))
    return lines


def main() -> int:
    """Run the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api", default="http://127.0.0.1:6066")
    parser.add_argument("--token", default=None, help="a bearer token with the scores scope")
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--interval-s", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--rpc", default=None, help="pay allowed payouts on this EVM node")
    parser.add_argument("--token-address", default=None, help="the VigilUSD token to pay in")
    args = parser.parse_args()
    if (args.rpc is None) != (args.token_address is None):
        parser.error("--rpc and --token-address go together")
    payer = None if args.rpc is None else Payer(args.rpc, args.token_address)
    rnd = random.Random(args.seed)  # noqa: S311 - picks demo jobs, nothing secret
    while True:
        while not args.truth.is_file():
            time.sleep(1.0)
        workers = json.loads(args.truth.read_text())["workers"]
        for line in round_once(args.api, args.token, workers, rnd, payer):
            print(line, flush=True)
        if args.once:
            return 0
        time.sleep(args.interval_s)


if __name__ == "__main__":
    sys.exit(main())

"""The demo's chain: a VigilUSD token on the local anvil, and transfers for the watcher to see.

    python scripts/demo_chain.py deploy --rpc URL            prints the token address
    python scripts/demo_chain.py run --rpc URL --token ADDR --truth var/demo/sim/truth.json

``run`` moves tokens between anvil's funded accounts every few seconds, and
once, after ``--exposure-after-s``, has one simulated honest worker's payout
wallet (impersonated on anvil) send tokens to a real OFAC-listed address: the
engine then raises a retroactive sanctions match on that worker. Stops on Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import json
import signal
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from chain.rpc import import_web3  # noqa: E402

ARTIFACT = REPO / ".cache" / "contracts" / "VigilUSD.json"
OFAC = REPO / "chain" / "data" / "ofac_sdn_evm_addresses.csv"


def connect(rpc: str) -> Any:
    """Return a web3 client of the node, waiting up to 30 s for it to answer."""
    web3 = import_web3()
    w3 = web3.Web3(web3.HTTPProvider(rpc, request_kwargs={"timeout": 10}))
    for _ in range(60):
        if w3.is_connected():
            return w3
        time.sleep(0.5)
    sys.exit(f"demo_chain: no EVM node answers at {rpc}")


def deploy(w3: Any) -> str:
    """Deploy VigilUSD from account 0, mint to accounts 0-4, return its address."""
    artifact = json.loads(ARTIFACT.read_text())
    owner = w3.eth.accounts[0]
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": owner}))
    token = w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])
    for account in w3.eth.accounts[:5]:
        token.functions.mint(account, 1_000_000 * 10**6).transact({"from": owner})
    return str(receipt["contractAddress"])


def honest_wallet(truth_path: Path) -> tuple[str, str]:
    """Return the first honest worker of the simulated platform and its payout wallet."""
    truth = json.loads(truth_path.read_text())
    for worker_id, info in sorted(truth["workers"].items(), key=lambda kv: int(kv[0][2:])):
        if info["kind"] == "honest" and info.get("wallet"):
            return worker_id, str(info["wallet"])
    sys.exit("demo_chain: no honest worker with a wallet in truth.json")


def run(w3: Any, token_address: str, truth_path: Path, interval_s: float, after_s: float) -> None:
    """Make transfers forever; once, expose a worker's wallet to a listed address."""
    artifact = json.loads(ARTIFACT.read_text())
    web3 = import_web3()
    address = web3.Web3.to_checksum_address(token_address)
    token = w3.eth.contract(address=address, abi=artifact["abi"])
    accounts = w3.eth.accounts[:5]
    with OFAC.open() as fh:
        listed = next(iter(csv.DictReader(fh)))["address"]
    started, exposed, n = time.monotonic(), False, 0
    while True:
        a, b = accounts[n % 5], accounts[(n + 1) % 5]
        token.functions.transfer(b, (n % 7 + 1) * 10**6).transact({"from": a})
        n += 1
        if not exposed and time.monotonic() - started >= after_s:
            while not truth_path.is_file():
                time.sleep(1.0)
            worker, wallet = honest_wallet(truth_path)
            sender = web3.Web3.to_checksum_address(wallet)
            w3.provider.make_request("anvil_impersonateAccount", [sender])
            w3.provider.make_request("anvil_setBalance", [sender, hex(10**18)])
            # Blocks come every few seconds: the mint must be mined before the transfer.
            minted = token.functions.mint(sender, 500 * 10**6).transact({"from": accounts[0]})
            w3.eth.wait_for_transaction_receipt(minted, timeout=60)
            to = web3.Web3.to_checksum_address(listed)
            sent = token.functions.transfer(to, 400 * 10**6).transact(
                {"from": sender, "gas": 100_000}
            )
            w3.eth.wait_for_transaction_receipt(sent, timeout=60)
            print(
                f"demo_chain: {worker}'s wallet {wallet} sent 400 VUSD to listed {listed}",
                flush=True,
            )
            exposed = True
        time.sleep(interval_s)


def main() -> int:
    """Run the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("deploy")
    d.add_argument("--rpc", default="http://127.0.0.1:8545")
    r = sub.add_parser("run")
    r.add_argument("--rpc", default="http://127.0.0.1:8545")
    r.add_argument("--token", required=True)
    r.add_argument("--truth", type=Path, required=True)
    r.add_argument("--interval-s", type=float, default=3.0)
    r.add_argument("--exposure-after-s", type=float, default=45.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    w3 = connect(args.rpc)
    if args.cmd == "deploy":
        print(deploy(w3))
        return 0
    try:
        run(w3, args.token, args.truth, args.interval_s, args.exposure_after_s)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Factory fixtures for a real EVM node: anvil from npm on loopback, and the VigilUSD token.

anvil listens on 127.0.0.1:18545 (not 8545, which a developer's node may use).
Each test gets a fresh node, started as a child process and stopped in the
finalizer. ``deploy/chain/chain.sh install`` and ``compile`` run once per
session; both are no-ops when nothing changed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
CHAIN_SH = REPO / "deploy" / "chain" / "chain.sh"
ARTIFACT = REPO / ".cache" / "contracts" / "VigilUSD.json"
ANVIL_PORT = 18545
ANVIL_URL = f"http://127.0.0.1:{ANVIL_PORT}"
_START_TIMEOUT_S = 30.0


@pytest.fixture(scope="session")
def chain_tooling() -> dict[str, Any]:
    """Install anvil + solc (npm) and compile the token; return the compiled artifact."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed for the EVM integration tests")
    subprocess.run(
        [str(CHAIN_SH), "install"], check=True, timeout=900, capture_output=True, text=True
    )
    subprocess.run(
        [str(CHAIN_SH), "compile"], check=True, timeout=300, capture_output=True, text=True
    )
    artifact: dict[str, Any] = json.loads(ARTIFACT.read_text())
    return artifact


@dataclass
class Anvil:
    """A running anvil and a web3 client for it."""

    url: str
    proc: subprocess.Popen[bytes]
    w3: Any  # web3.Web3

    def rpc(self, method: str, *params: object) -> Any:
        """Call a JSON-RPC method (anvil's evm_* / anvil_* included) and return its result."""
        response = self.w3.provider.make_request(method, list(params))
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response["result"]

    def mine(self, blocks: int = 1) -> None:
        """Mine empty blocks."""
        for _ in range(blocks):
            self.rpc("evm_mine")


@pytest.fixture
def anvil(
    chain_tooling: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Anvil]:
    """A fresh anvil on 127.0.0.1:18545 (automine: one block per transaction)."""
    from chain.rpc import import_web3

    web3 = import_web3()
    HTTPProvider, Web3 = web3.HTTPProvider, web3.Web3  # noqa: N806

    binary = subprocess.run(
        [str(CHAIN_SH), "anvil-path"], check=True, capture_output=True, text=True
    ).stdout.strip()
    w3 = Web3(HTTPProvider(ANVIL_URL, request_kwargs={"timeout": 10}))
    if w3.is_connected():
        pytest.fail(f"something already answers on {ANVIL_URL}; stop it (a stale anvil?)")
    log = (tmp_path / "anvil.log").open("wb")
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(ANVIL_PORT), "--chain-id", "31337"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        log.close()

    request.addfinalizer(stop)
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not w3.is_connected():
        if proc.poll() is not None:
            pytest.fail(f"anvil exited: {(tmp_path / 'anvil.log').read_text()[-2000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"anvil did not answer on {ANVIL_URL} within {_START_TIMEOUT_S}s")
        time.sleep(0.05)
    yield Anvil(ANVIL_URL, proc, w3)


@dataclass
class Token:
    """The deployed VigilUSD and helpers to move it."""

    address: str  # lower-case
    contract: Any
    anvil: Anvil

    def transfer(self, sender: str, recipient: str, amount: int) -> str:
        """Send `amount` units from `sender`; return the tx hash (0x, lower-case)."""
        tx = self.contract.functions.transfer(recipient, amount).transact({"from": sender})
        return "0x" + bytes(tx).hex()


@pytest.fixture
def deploy_token(anvil: Anvil, chain_tooling: dict[str, Any]) -> Callable[[], Token]:
    """Deploy a VigilUSD (6 decimals) from account 0 and mint 1,000,000 to accounts 0-4."""

    def deploy() -> Token:
        w3 = anvil.w3
        owner = w3.eth.accounts[0]
        factory = w3.eth.contract(abi=chain_tooling["abi"], bytecode=chain_tooling["bytecode"])
        receipt = w3.eth.wait_for_transaction_receipt(
            factory.constructor().transact({"from": owner})
        )
        contract = w3.eth.contract(address=receipt["contractAddress"], abi=chain_tooling["abi"])
        for account in w3.eth.accounts[:5]:
            contract.functions.mint(account, 1_000_000 * 10**6).transact({"from": owner})
        return Token(str(receipt["contractAddress"]).lower(), contract, anvil)

    return deploy

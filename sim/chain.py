"""On-chain activity: payouts mirrored as transfers, wallets moving funds, sanctions paths.

Services are hubs: several exchange hot wallets and DEX pools and routers, each
with hundreds of unrelated counterparties, some of them listed or one hop from
listed addresses (they deposit to, withdraw from and swap in the same places).
Exchange users sweep their balance every few days to the exchange, mostly
through a personal deposit address that the exchange sweeps to its hot wallet,
and some withdraw from it now and then; DEX users swap through a router and a
pool; other wallets hold and now and then pay a peer. A naive graph search links
honest wallets to listed ones through the hubs: that is the trap.
Ring wallets forward most of each payout within days to one consolidation address.
Sanctioned-linked wallets sit one or two transfer hops from a listed address;
decoys sit three hops away, or two hops only through an exchange hot wallet.
Hops follow transfer direction: ``listed -> ... -> wallet`` (``in``) or
``wallet -> ... -> listed`` (``out``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from sim.addresses import (
    CHAIN_ID,
    ETH_DECIMALS,
    USDC_DECIMALS,
    USDC_TOKEN,
    derive_address,
    derive_tx_hash,
    present,
)
from sim.config import SimConfig
from sim.entities import Population, Worker
from sim.events import Event, JSONObject, make_event
from sim.platform import Payout
from sim.rng import randint, seeded
from sim.times import DAY_S, HOUR_S, format_time

BASE_BLOCK = 21_000_000
BLOCK_S = 12
_MIN_SWEEP = {"USDC": 20 * 10**6, "ETH": 8 * 10**15}


@dataclass(slots=True)
class ChainFacts:
    """What the chain stage decided, for truth.json.

    Parameters
    ----------
    listings
        ``address -> Unix seconds`` of list entries published during the run.
    change_ts
        ``worker index -> Unix seconds`` at which a sanctions condition starts
        (a link completed, a later transfer) where the chain decides it.
    paths
        ``worker index -> addresses`` along the transfer path, in transfer order.
    forwards
        ``(ts, from wallet, to consolidation)`` for ring forwarding transfers.
    roles
        ``address -> role`` of the auxiliary addresses (deposit, intermediary...).
    """

    listings: dict[str, int] = field(default_factory=dict)
    change_ts: dict[int, int] = field(default_factory=dict)
    paths: dict[int, list[str]] = field(default_factory=dict)
    forwards: list[tuple[int, str, str]] = field(default_factory=list)
    roles: dict[str, str] = field(default_factory=dict)


class _Ledger:
    """Collects transfer events; block numbers and times follow 12-second slots."""

    def __init__(self, cfg: SimConfig, rng: random.Random) -> None:
        self.cfg = cfg
        self.rng = rng
        self.events: list[Event] = []
        self.count = 0

    def block_of(self, ts: int) -> tuple[int, int]:
        slot = max(0, (ts - self.cfg.start_ts) // BLOCK_S + 1)
        return BASE_BLOCK + slot, self.cfg.start_ts + slot * BLOCK_S

    def transfer(
        self,
        ts: int,
        sender: str,
        receiver: str,
        asset: str,
        units: int,
        tx_hash: str | None = None,
        log_index: int | None = None,
    ) -> int:
        """Record a transfer mined in the first block after `ts`; return its block time."""
        block, block_ts = self.block_of(ts)
        if block_ts >= self.cfg.end_ts or units <= 0:
            return block_ts
        self.count += 1
        if tx_hash is None:
            tx_hash = derive_tx_hash(self.cfg.seed, f"transfer:{self.count}")
        if log_index is None:
            log_index = randint(self.rng, 0, 299)
        usdc = asset == "USDC"
        payload: JSONObject = {
            "event_id": f"{CHAIN_ID}:{tx_hash}:{log_index}",
            "chain_id": CHAIN_ID,
            "block_number": block,
            "block_time": format_time(block_ts),
            "tx_hash": tx_hash,
            "log_index": log_index,
            "token": USDC_TOKEN if usdc else "ETH",
            "from": present(sender, self.rng.random() < 0.5),
            "to": present(receiver, self.rng.random() < 0.5),
            "amount": str(units),
            "decimals": USDC_DECIMALS if usdc else ETH_DECIMALS,
        }
        self.events.append(make_event(block_ts, "transfers", sender.lower(), payload))
        return block_ts


def _eth(rng: random.Random, low_milli: int, high_milli: int) -> int:
    return randint(rng, low_milli, high_milli) * 10**15


def _small_amount(rng: random.Random, asset: str) -> int:
    """Return a modest amount in smallest units: 0.02-0.3 ETH or 20-300 USDC."""
    return _eth(rng, 20, 300) if asset == "ETH" else randint(rng, 20, 300) * 10**6


def build_chain(
    pop: Population, cfg: SimConfig, payouts: list[Payout]
) -> tuple[list[Event], ChainFacts]:
    """Return every transfer of the run and the facts truth.json needs.

    Parameters
    ----------
    pop
        The population, with sanctions roles in each worker's ``info``.
    cfg
        Run parameters.
    payouts
        Payouts from `sim.platform.settle_payouts`; each becomes a transfer from
        the payer's treasury with the payout's tx hash.
    """
    rng = seeded(f"{cfg.seed}:chain")
    ledger = _Ledger(cfg, rng)
    facts = ChainFacts()
    hot = [a for n, a in sorted(pop.service_addresses.items()) if n.startswith("exchange-")]
    start, end = cfg.start_ts, cfg.end_ts

    # 1. Payouts, mirrored on chain (a daily batch is one tx, one log per worker).
    tx_delay: dict[str, int] = {}
    incoming: dict[str, list[tuple[int, str, int]]] = {}
    first_payout: dict[int, int] = {}
    for p in sorted(payouts, key=lambda p: (p.paid_ts, p.event_id)):
        delay = tx_delay.setdefault(p.tx_hash, randint(rng, 5, 90))
        treasury = pop.payers[p.payer].treasury
        block_ts = ledger.transfer(
            p.paid_ts + delay, treasury, p.wallet, p.asset, p.units, p.tx_hash, p.log_index
        )
        incoming.setdefault(p.wallet, []).append((block_ts, p.asset, p.units))
        first_payout.setdefault(p.worker, p.paid_ts)

    listed_wallets = {e.address for e in pop.initial_listed}
    for w in pop.workers:
        if w.info.get("variant") == "later_listing_direct":
            listed_wallets.add(str(w.info["listed_address"]))

    # 2. Sanctions paths and decoys (before sweeps: they add to balances only in ETH dust).
    for w in pop.workers:
        if w.kind in ("sanctioned_linked", "sanctioned_retroactive", "decoy"):
            _sanctions_paths(ledger, facts, rng, pop, cfg, w, first_payout.get(w.index), hot)

    # 3. Ring forwarding to consolidation addresses.
    forwarded: set[str] = set()
    for w in pop.workers:
        consolidation = w.info.get("consolidation")
        if w.kind != "ring" or not isinstance(consolidation, str):
            continue
        wallet = w.wallets[0][1]
        forwarded.add(wallet)
        facts.roles[consolidation] = "consolidation"
        for ts, asset, units in incoming.get(wallet, []):
            when = ts + randint(rng, DAY_S // 2, 3 * DAY_S)
            share = randint(rng, 80, 95)
            block_ts = ledger.transfer(when, wallet, consolidation, asset, units * share // 100)
            if block_ts < end:
                facts.forwards.append((block_ts, wallet, consolidation))
                incoming.setdefault(consolidation, []).append(
                    (block_ts, asset, units * share // 100)
                )

    # 4. A legitimate wallet change: the old wallet empties into the new one once.
    for w in pop.workers:
        if "wallet_change" in w.traits and len(w.wallets) > 1:
            old, (change, new) = w.wallets[0][1], w.wallets[1]
            when = change + randint(rng, HOUR_S, 3 * DAY_S)
            for asset in ("USDC", "ETH"):
                balance = sum(u for ts, a, u in incoming.get(old, []) if a == asset and ts < when)
                ledger.transfer(when, old, new, asset, balance * 97 // 100)
            forwarded.add(old)

    # 5. What every other wallet does with its money: the habits of its (first) owner.
    habits: dict[str, Worker] = {}
    for w in pop.workers:
        for _, address in w.wallets:
            habits.setdefault(address, w)
    for wallet in sorted(incoming):
        if wallet in forwarded or wallet in listed_wallets or wallet not in habits:
            continue
        owner = habits[wallet]
        _spend(ledger, facts, rng, cfg, pop, wallet, incoming[wallet], owner)

    # 6. The hubs' other customers, some of them listed or close to listed addresses.
    _hub_background(ledger, facts, rng, cfg, pop)
    for i, entry in enumerate(pop.initial_listed[: min(12, len(pop.initial_listed))]):
        ts = start + rng.randrange(cfg.days * DAY_S)
        mule = derive_address(cfg.seed, f"mule:{i}")
        ledger.transfer(ts, entry.address, mule, "ETH", _eth(rng, 500, 20_000))
        ledger.transfer(
            ts + randint(rng, HOUR_S, DAY_S),
            mule,
            derive_address(cfg.seed, f"mule2:{i}"),
            "ETH",
            _eth(rng, 100, 400),
        )
    return ledger.events, facts


def _swap(
    ledger: _Ledger,
    rng: random.Random,
    ts: int,
    trader: str,
    pool: str,
    router: str,
    asset: str,
    units: int,
) -> None:
    """Record a DEX swap: one transaction, the trader pays the pool, the router pays out."""
    tx_hash = derive_tx_hash(ledger.cfg.seed, f"swap:{trader}:{ts}:{ledger.count}")
    log = randint(rng, 0, 200)
    out_asset = "ETH" if asset == "USDC" else "USDC"
    # USDC (6 decimals, ~1 USD) <-> ETH (18 decimals, 2,500 USD), less a 0.3 % fee.
    out_units = units * 4 * 10**8 * 997 // 1000 if asset == "USDC" else units // (4 * 10**8)
    out_units = max(1, out_units)
    ledger.transfer(ts, trader, pool, asset, units, tx_hash, log)
    ledger.transfer(ts, pool, router, out_asset, out_units, tx_hash, log + 1)
    ledger.transfer(ts, router, trader, out_asset, out_units, tx_hash, log + 2)


def _spend(
    ledger: _Ledger,
    facts: ChainFacts,
    rng: random.Random,
    cfg: SimConfig,
    pop: Population,
    wallet: str,
    received: list[tuple[int, str, int]],
    owner: Worker,
) -> None:
    """Move a payout wallet's money by its owner's habits: exchange, DEX, peers, or hold."""
    services = pop.service_addresses
    exchange = owner.trait_info.get("exchange_user")
    dex = owner.trait_info.get("dex_user")
    peer_p = cfg.params.values["peer_payment_p"]
    received = sorted(received)
    if exchange is not None:
        hot = services[str(exchange["exchange"])]
        deposit: str | None = None
        if exchange.get("via_deposit_address"):
            deposit = derive_address(cfg.seed, f"deposit:{wallet}")
            facts.roles[deposit] = "deposit"
        interval = max(1, int(float(str(exchange["sweep_days"])) * DAY_S))
    else:
        hot, deposit, interval = "", None, randint(rng, 5, 14) * DAY_S
    t = received[0][0] + interval
    swept = {"USDC": 0, "ETH": 0}
    got = {"USDC": 0, "ETH": 0}
    i = 0
    while t < cfg.end_ts:
        while i < len(received) and received[i][0] < t:
            got[received[i][1]] += received[i][2]
            i += 1
        for asset in ("USDC", "ETH"):
            balance = got[asset] - swept[asset]
            if balance < _MIN_SWEEP[asset]:
                continue
            amount = balance * randint(rng, 85, 100) // 100
            if rng.random() < peer_p:  # now and then a payment to someone else
                swept[asset] += amount
                ledger.transfer(
                    t, wallet, derive_address(cfg.seed, f"peer:{wallet}:{t}"), asset, amount
                )
                continue
            if dex is not None and rng.random() < 0.35:
                swept[asset] += amount // 2
                _swap(
                    ledger,
                    rng,
                    t,
                    wallet,
                    services[str(dex["pool"])],
                    services[str(dex["router"])],
                    asset,
                    amount // 2,
                )
                continue
            if not hot:
                continue  # a holder keeps its money
            swept[asset] += amount
            if deposit is None:
                ledger.transfer(t, wallet, hot, asset, amount)
            else:
                block_ts = ledger.transfer(t, wallet, deposit, asset, amount)
                ledger.transfer(
                    block_ts + randint(rng, HOUR_S, 6 * HOUR_S), deposit, hot, asset, amount
                )
        if exchange is not None and exchange.get("withdraws") and rng.random() < 0.3:
            # Gas money or a transfer back from the exchange account.
            ledger.transfer(t + randint(rng, HOUR_S, DAY_S), hot, wallet, "ETH", _eth(rng, 5, 60))
        t += interval + randint(rng, -HOUR_S * 6, HOUR_S * 6)


def _hub_background(
    ledger: _Ledger, facts: ChainFacts, rng: random.Random, cfg: SimConfig, pop: Population
) -> None:
    """Give every hub hundreds of unrelated counterparties, and some listed ones.

    Strangers deposit to each exchange (most through their own deposit address),
    withdraw from it and swap in the pools. A few listed addresses and some of
    their mules do the same, so listed addresses share hubs with honest workers.
    """
    start, span = cfg.start_ts, cfg.days * DAY_S
    services = sorted(pop.service_addresses.items())
    exchanges = [a for n, a in services if n.startswith("exchange-")]
    pools = [a for n, a in services if n.startswith("dex-pool-")]
    routers = [a for n, a in services if n.startswith("dex-router-")]
    n = cfg.params.count("hub_counterparties")
    for h, hot in enumerate(exchanges):
        for i in range(n):
            stranger = derive_address(cfg.seed, f"customer:{h}:{i}")
            ts = start + rng.randrange(span)
            amount = randint(rng, 20, 5000) * 10**6
            if rng.random() < 0.5:
                if rng.random() < 0.8:
                    deposit = derive_address(cfg.seed, f"customer-deposit:{h}:{i}")
                    block_ts = ledger.transfer(ts, stranger, deposit, "USDC", amount)
                    ledger.transfer(
                        block_ts + randint(rng, HOUR_S, 6 * HOUR_S), deposit, hot, "USDC", amount
                    )
                else:
                    ledger.transfer(ts, stranger, hot, "USDC", amount)
            else:
                ledger.transfer(ts, hot, stranger, "USDC", amount)
    for p, pool in enumerate(pools):
        for i in range(n):
            trader = derive_address(cfg.seed, f"trader:{p}:{i}")
            asset = "USDC" if rng.random() < 0.6 else "ETH"
            units = randint(rng, 20, 3000) * 10**6 if asset == "USDC" else _eth(rng, 10, 2000)
            router = routers[rng.randrange(len(routers))] if routers else pool
            _swap(ledger, rng, start + rng.randrange(span), trader, pool, router, asset, units)
    listed = [e.address for e in pop.initial_listed]
    k = min(len(listed), cfg.params.count("listed_hub_users"))
    for j, address in enumerate(listed[-k:] if k else []):
        # Listed addresses (and one-hop mules of them) use the same exchanges and pools.
        actor = address if j % 3 else derive_address(cfg.seed, f"listed-mule:{j}")
        if actor != address:
            facts.roles[actor] = "listed_mule"
            ledger.transfer(
                start + rng.randrange(span // 4), address, actor, "ETH", _eth(rng, 500, 5000)
            )
        for _ in range(randint(rng, 1, 3)):
            ts = start + span // 4 + rng.randrange(span - span // 4)
            if exchanges:
                hot = exchanges[rng.randrange(len(exchanges))]
                ledger.transfer(ts, actor, hot, "ETH", _eth(rng, 200, 5000))
                ledger.transfer(
                    ts + randint(rng, HOUR_S, 3 * DAY_S),
                    hot,
                    actor,
                    "USDC",
                    randint(rng, 500, 50_000) * 10**6,
                )
            if pools:
                pool = pools[rng.randrange(len(pools))]
                router = routers[rng.randrange(len(routers))] if routers else pool
                _swap(
                    ledger,
                    rng,
                    ts + randint(rng, 60, DAY_S),
                    actor,
                    pool,
                    router,
                    "ETH",
                    _eth(rng, 100, 3000),
                )


def _sanctions_paths(
    ledger: _Ledger,
    facts: ChainFacts,
    rng: random.Random,
    pop: Population,
    cfg: SimConfig,
    w: Worker,
    first_paid: int | None,
    hot: list[str],
) -> None:
    wallet = w.wallets[0][1]
    listed = str(w.info["listed_address"])
    variant = str(w.info.get("variant"))
    label = f"{w.worker_id}:{variant}"
    start, end = cfg.start_ts, cfg.end_ts
    # Links that must exist before the first payout are placed early on day 0.
    early = start + randint(rng, 60, 6 * HOUR_S)
    if first_paid is not None:
        early = max(start, min(early, first_paid - 2 * HOUR_S))
    later = start + int(cfg.days * DAY_S * rng.uniform(0.45, 0.8))
    if first_paid is not None and later <= first_paid:
        later = min(first_paid + DAY_S, end - DAY_S)

    def mid(n: int) -> str:
        address = derive_address(cfg.seed, f"hop:{label}:{n}")
        facts.roles[address] = "intermediary"
        return address

    def chain(ts: int, hops: list[str], asset: str = "ETH") -> int:
        last = ts
        for a, b in zip(hops, hops[1:], strict=False):
            last = ledger.transfer(
                last + randint(rng, 30, 600), a, b, asset, _small_amount(rng, asset)
            )
        return last

    if w.kind == "sanctioned_linked":
        hops, direction = int(str(w.info["hops"])), str(w.info["direction"])
        path = [listed, *[mid(i) for i in range(hops - 1)], wallet]
        if direction == "out":
            path.reverse()
        facts.change_ts[w.index] = chain(early, path)
        facts.paths[w.index] = path
    elif w.kind == "sanctioned_retroactive":
        if variant == "later_transfer":
            hops, direction = int(str(w.info["hops"])), str(w.info["direction"])
            if direction == "in":
                path = [listed, *[mid(i) for i in range(hops - 1)], wallet]
                done = chain(later, path)
            else:
                path = [wallet, *[mid(i) for i in range(hops - 1)], listed]
                # The wallet paid someone early on; that someone pays a listed address later.
                chain(early + DAY_S // 2, path[:-1])
                done = chain(later, path[-2:])
            facts.paths[w.index] = path
            facts.change_ts[w.index] = done
        else:
            if variant == "later_listing_linked":
                path = [listed, wallet]
                chain(early, path)
                facts.paths[w.index] = path
            else:
                facts.paths[w.index] = [listed]
            facts.listings[listed] = later
            facts.change_ts[w.index] = later
    elif w.kind == "decoy":
        service = w.info.get("service")
        if variant == "three_hops_in":
            path = [listed, mid(0), mid(1), wallet]
        elif variant == "three_hops_out":
            path = [wallet, mid(0), mid(1), listed]
        elif variant == "via_service_in" and isinstance(service, str):
            path = [listed, service, wallet]
        elif variant == "via_service_out" and isinstance(service, str):
            path = [wallet, service, listed]
        else:  # after_delisting: funds from an address only after it left the list
            path = [listed, wallet]
            chain(max(pop.delisted_at + HOUR_S, early), path)
            facts.paths[w.index] = path
            return
        chain(early, path, "USDC" if "service" in variant else "ETH")
        facts.paths[w.index] = path

"""Properties of the paying agent's decision (reputation/decision.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import jsonschema_rs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reputation.alerts import SEVERITIES
from reputation.assess import BANDS, assess
from reputation.decision import (
    DecisionPolicy,
    OpenAlert,
    WalletView,
    WorkerView,
    decide,
    parse_amount,
    parse_asset,
    parse_limits,
    wallet_view_from_exposure,
    worker_view_from_record,
)
from reputation.errors import ConfigError, InvalidEventError
from reputation.events import Address
from reputation.model import TrustModel
from reputation.state import WorkerState

AT = datetime(2026, 12, 1, tzinfo=UTC)
POLICY = DecisionPolicy()
MODEL = TrustModel()
WALLET = Address("0x" + "ab" * 20)
RANK = {"allow": 0, "review": 1, "deny": 2}
TOOLS = json.loads(
    (Path(__file__).resolve().parents[2] / "streams" / "agent_tools.json").read_text()
)
DECISION_SCHEMA = jsonschema_rs.Draft202012Validator(
    next(t for t in TOOLS["tools"] if t["name"] == "decision")["outputSchema"]
)

alerts = st.lists(
    st.builds(
        OpenAlert,
        alert_id=st.text("abc123", min_size=1, max_size=6),
        type=st.sampled_from(["QUALITY_SHIFT", "SHARED_WALLET", "CONTEXT_SHIFT"]),
        severity=st.sampled_from([*SEVERITIES, None]),
    ),
    max_size=3,
).map(tuple)
workers = st.builds(
    WorkerView,
    worker_id=st.just("w-1"),
    score=st.floats(0, 1),
    confidence=st.floats(0, 1),
    band=st.sampled_from(BANDS),
    as_of=st.just(AT),
    reasons=st.just(("LONG_HISTORY",)),
    open_alerts=alerts,
)
wallets = st.builds(
    WalletView,
    address=st.just(WALLET),
    listed=st.booleans(),
    linked=st.booleans(),
    hops=st.none() | st.integers(1, 2),
    listed_address=st.just("0x" + "cd" * 20),
    program=st.none() | st.just("DPRK3"),
    payouts_seen=st.integers(0, 3),
    transfers_seen=st.integers(0, 3),
    truncated=st.booleans(),
    service_or_hub=st.booleans(),
    workers=st.sampled_from([(), ("w-1",), ("w-2",), ("w-1", "w-2")]),
    open_alerts=alerts,
)
amounts = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False)
assets = st.sampled_from(["USDC", "usdc", "ETH", "DOGE"])


def run(
    worker: WorkerView | None, wallet: WalletView, amount: Decimal, asset: str = "USDC"
) -> dict[str, object]:
    d = decide(POLICY, MODEL, worker, wallet, amount, asset, AT, worker_id="w-1")
    body = d.to_json()
    DECISION_SCHEMA.validate(body)  # every answer fits the published tool schema
    return body


@given(st.none() | workers, wallets, amounts, assets)
def test_a_listed_wallet_denies_whatever_the_worker(
    worker: WorkerView | None, wallet: WalletView, amount: Decimal, asset: str
) -> None:
    body = run(worker, replace(wallet, listed=True), amount, asset)
    assert body["decision"] == "deny"
    assert "WALLET_LISTED" in [b["code"] for b in body["blocks"]]  # type: ignore[attr-defined]


@given(workers, wallets, amounts)
def test_a_blocked_worker_is_denied(
    worker: WorkerView, wallet: WalletView, amount: Decimal
) -> None:
    body = run(replace(worker, band="blocked"), wallet, amount)
    assert body["decision"] == "deny"
    assert "WORKER_BLOCKED" in [b["code"] for b in body["blocks"]]  # type: ignore[attr-defined]


@given(st.none() | workers, wallets, amounts)
def test_linked_review_band_and_serious_alerts_are_never_allowed(
    worker: WorkerView | None, wallet: WalletView, amount: Decimal
) -> None:
    assert run(worker, replace(wallet, linked=True), amount)["decision"] != "allow"
    serious = (OpenAlert("a", "SHARED_WALLET", "high"),)
    assert run(worker, replace(wallet, open_alerts=serious), amount)["decision"] != "allow"
    if worker is not None:
        assert run(replace(worker, band="review"), wallet, amount)["decision"] != "allow"
        for sev in ("high", "critical", None):
            w = replace(worker, open_alerts=(OpenAlert("b", "QUALITY_SHIFT", sev),))
            assert run(w, wallet, amount)["decision"] != "allow"


@given(st.none() | workers, wallets, amounts, assets)
def test_coverage_says_what_was_seen_and_unseen_is_never_clean(
    worker: WorkerView | None, wallet: WalletView, amount: Decimal, asset: str
) -> None:
    body = run(worker, wallet, amount, asset)
    codes = [r["code"] for r in body["reasons"]]  # type: ignore[attr-defined]
    if worker is None and not wallet.seen:
        assert body["coverage"] == "unknown"
    elif worker is not None and wallet.transfers_seen > 0 and not wallet.truncated:
        assert body["coverage"] == "full"
    else:
        assert body["coverage"] == "partial"
    if worker is None:
        assert "WORKER_UNSEEN" in codes and body["score"] is None and body["band"] is None
    if not wallet.seen:
        assert "WALLET_UNSEEN" in codes
    if body["coverage"] != "full":
        assert "KNOWN_AND_CLEAN" not in codes
        if amount > POLICY.limit_for(asset):
            assert body["decision"] != "allow"
            assert "UNVERIFIED_AMOUNT" in codes


@given(st.none() | workers, wallets, amounts, assets)
def test_the_decision_is_its_strongest_reason(
    worker: WorkerView | None, wallet: WalletView, amount: Decimal, asset: str
) -> None:
    body = run(worker, wallet, amount, asset)
    reasons: list[dict[str, str]] = body["reasons"]  # type: ignore[assignment]
    effects = [{"info": 0, "review": 1, "deny": 2}[r["effect"]] for r in reasons]
    assert effects == sorted(effects, reverse=True)  # most important first
    assert RANK[str(body["decision"])] == max(effects, default=0)
    assert body["blocks"] == [r for r in reasons if r["effect"] == "deny"]
    assert all(r["code"] and r["text"] for r in reasons)


@given(st.none() | workers, wallets, amounts, amounts)
def test_more_money_or_more_evidence_against_never_loosens_the_decision(
    worker: WorkerView | None, wallet: WalletView, a: Decimal, b: Decimal
) -> None:
    low, high = sorted((a, b))
    assert (
        RANK[str(run(worker, wallet, high)["decision"])]
        >= RANK[str(run(worker, wallet, low)["decision"])]
    )
    base = RANK[str(run(worker, wallet, low)["decision"])]
    worse = [
        replace(wallet, listed=True),
        replace(wallet, linked=True),
        replace(wallet, open_alerts=(*wallet.open_alerts, OpenAlert("x", "SHARED_WALLET", "low"))),
    ]
    for w in worse:
        assert RANK[str(run(worker, w, low)["decision"])] >= base


@given(st.none() | workers, wallets, amounts)
def test_max_age_is_short_while_anything_is_open_or_unsettled(
    worker: WorkerView | None, wallet: WalletView, amount: Decimal
) -> None:
    body = run(worker, wallet, amount)
    age = body["max_age_s"]
    if body["decision"] == "deny":
        assert age == POLICY.max_age_deny_s
        return
    open_alerts = (worker.open_alerts if worker else ()) + wallet.open_alerts
    if body["decision"] == "review" or open_alerts or body["coverage"] != "full":
        assert age == POLICY.max_age_watch_s
    else:
        assert age in (POLICY.max_age_watch_s, POLICY.max_age_s)
    assert body["max_age_reason"]["code"] in ("CACHE_SHORT", "CACHE_SETTLED")  # type: ignore[index]


def test_a_known_trusted_worker_with_a_clean_followed_wallet_is_allowed() -> None:
    worker = WorkerView("w-1", 0.9, 0.7, "trusted", AT, ("LONG_HISTORY",))
    wallet = WalletView(WALLET, payouts_seen=3, transfers_seen=4, workers=("w-1",))
    body = run(worker, wallet, Decimal("5000"))
    assert body["decision"] == "allow" and body["coverage"] == "full"
    assert body["max_age_s"] == POLICY.max_age_s
    assert [r["code"] for r in body["reasons"]] == ["KNOWN_AND_CLEAN"]  # type: ignore[attr-defined]
    assert body["worker_reasons"] == [
        {"code": "LONG_HISTORY", "text": body["worker_reasons"][0]["text"]}  # type: ignore[index]
    ]
    # Near a band threshold the same answer may be cached only briefly.
    near = replace(worker, score=MODEL.trusted_enter + POLICY.near_margin / 2)
    assert run(near, wallet, Decimal("5000"))["max_age_s"] == POLICY.max_age_watch_s


def test_small_amounts_pass_without_full_coverage_large_ones_do_not() -> None:
    unseen = WalletView(WALLET)
    assert run(None, unseen, Decimal("50"))["decision"] == "allow"
    assert run(None, unseen, Decimal("50.01"))["decision"] == "review"
    assert run(None, unseen, Decimal("0.01"), "DOGE")["decision"] == "review"  # limit 0
    assert run(None, unseen, Decimal("0.02"), "eth")["decision"] == "allow"


def test_views_read_the_engines_own_answers() -> None:
    record = assess(MODEL, WorkerState("w-9"), AT).to_json()
    record["flags"] = ["QUALITY_SHIFT", "VELOCITY_SURGE"]
    known = [{"alert_id": "a-1", "type": "QUALITY_SHIFT", "severity": "medium"}]
    view = worker_view_from_record(record, known)
    assert (view.worker_id, view.band, view.as_of) == ("w-9", "new", AT)
    assert view.open_alerts == (
        OpenAlert("a-1", "QUALITY_SHIFT", "medium"),
        OpenAlert("", "VELOCITY_SURGE", None),  # not in the alert log yet: counts as high
    )
    exposure = {
        "address": WALLET,
        "listed": False,
        "linked": True,
        "listing": None,
        "path": {"listed": "0x" + "cd" * 20, "hops": [{}, {}], "n_hops": 2},
        "truncated": False,
        "service_or_hub": False,
        "workers": ["w-9"],
        "payouts_seen": 1,
        "transfers_seen": 5,
    }
    w = wallet_view_from_exposure(WALLET, exposure)
    assert (w.linked, w.hops, w.listed_address, w.seen, w.followed) == (
        True,
        2,
        "0x" + "cd" * 20,
        True,
        True,
    )
    with pytest.raises(InvalidEventError):
        worker_view_from_record({**record, "score": "high"})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-1", "must not be negative"),
        ("-0.5", "must not be negative"),
        ("abc", "must be a decimal number"),
        ("1e3", "must be a plain decimal"),
        ("NaN", "must be a plain decimal"),
        ("", "must be a decimal number"),
    ],
)
def test_bad_amounts_say_what_is_wrong(raw: str, message: str) -> None:
    with pytest.raises(InvalidEventError, match=message):
        parse_amount(raw)


def test_assets_and_limits_parse_or_say_why() -> None:
    assert parse_asset("usdc") == "USDC"
    with pytest.raises(InvalidEventError, match="asset"):
        parse_asset("US DC")
    assert parse_limits("USDC:10;eth:0.5") == (("ETH", Decimal("0.5")), ("USDC", Decimal("10")))
    with pytest.raises(ConfigError, match="ASSET:AMOUNT"):
        parse_limits("USDC=10")
    with pytest.raises(ConfigError, match="MAX_AGE_WATCH_S"):
        DecisionPolicy(max_age_watch_s=600)
    with pytest.raises(ConfigError, match="UNVERIFIED_LIMITS"):
        DecisionPolicy(unverified_limits=(("usdc", Decimal("1")),))

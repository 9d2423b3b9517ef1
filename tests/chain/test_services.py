"""The shipped list of well-known service addresses (chain/data/service_addresses.csv)."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from chain.errors import ServiceListError
from chain.services import (
    SERVICE_LIST_COLUMNS,
    SHIPPED_ORIGIN,
    load_service_file,
    load_shipped_services,
    parse_service_csv,
)
from config.settings import load_services, load_settings
from reputation.eip55 import checksum_address, is_valid_checksum
from reputation.errors import ConfigError

SHIPPED = Path(__file__).resolve().parents[2] / "chain" / "data" / "service_addresses.csv"
BINANCE_14 = "0x28c6c06298d514db089934071355e5743bf21d60"
HEAD = ",".join(SERVICE_LIST_COLUMNS)


def rows() -> list[dict[str, str]]:
    with SHIPPED.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_shipped_csv_parses_with_checksums_and_a_source_on_every_row() -> None:
    raw = rows()
    assert len(raw) >= 40
    assert tuple(raw[0]) == SERVICE_LIST_COLUMNS
    for r in raw:
        a = r["address"]
        assert is_valid_checksum(a) and a == checksum_address(a[2:].lower()), a
        assert r["label"].strip() and r["source"].strip(), a
        assert r["category"] in {"exchange", "dex", "bridge", "contract"}, a
        assert date.fromisoformat(r["as_of"]) <= date(2026, 12, 31)
    assert len({r["address"].lower() for r in raw}) == len(raw)
    d = load_shipped_services()
    assert len(d) == len(raw)
    assert {s.category for s in d.entries} == {"exchange", "dex", "bridge", "contract"}
    assert all(s.origin == SHIPPED_ORIGIN and s.source for s in d.entries)
    assert d.get(BINANCE_14) is not None and d.get(BINANCE_14).label == "Binance 14"  # type: ignore[union-attr]


def test_shipped_list_is_documented_row_for_row() -> None:
    readme = (SHIPPED.parent / "README.md").read_text()
    assert "service_addresses.csv" in readme
    for source in {r["source"].split("@")[0].split(":")[0] for r in rows()}:
        assert source.split(" ")[0] in readme, source


@pytest.mark.parametrize(
    ("row", "why"),
    [
        ("0x28c6c06298d514db089934071355e5743bf21d60,B,exchange,src,2026-12-03", "EIP-55"),
        ("0x28C6c06298d514Db089934071355E5743bf21d61,B,exchange,src,2026-12-03", "EIP-55"),
        ("0x28C6c06298d514Db089934071355E5743bf21d60,B,exchange,,2026-12-03", "source"),
        ("0x28C6c06298d514Db089934071355E5743bf21d60,B,casino,src,2026-12-03", "category"),
        ("0x28C6c06298d514Db089934071355E5743bf21d60,B,exchange,src,last year", "as_of"),
        ("0xZZC6c06298d514Db089934071355E5743bf21d60,B,exchange,src,2026-12-03", "40 hex"),
    ],
)
def test_bad_rows_are_refused_with_their_row(row: str, why: str) -> None:
    with pytest.raises(ServiceListError, match=why) as info:
        parse_service_csv(f"{HEAD}\n{row}\n")
    assert info.value.row == 2


def test_duplicate_rows_and_wrong_columns_are_refused(tmp_path: Path) -> None:
    row = "0x28C6c06298d514Db089934071355E5743bf21d60,B,exchange,src,2026-12-03"
    with pytest.raises(ServiceListError, match="twice"):
        parse_service_csv(f"{HEAD}\n{row}\n{row}\n")
    with pytest.raises(ServiceListError, match="columns"):
        parse_service_csv(f"address,label\n{row}\n")
    path = tmp_path / "mine.csv"
    path.write_text(f"{HEAD}\n{row}\n")
    assert load_service_file(path).get(BINANCE_14).origin == str(path)  # type: ignore[union-attr]


def test_settings_load_the_shipped_list_by_default_and_add_configured_addresses() -> None:
    extra = "0x" + "ab" * 20
    default = load_settings({}).exposure
    assert BINANCE_14 in default.services
    both = load_settings({"VIGIL_SERVICE_ADDRESSES": extra}).exposure
    assert BINANCE_14 in both.services and extra in both.services
    assert both.directory.get(extra).origin == "VIGIL_SERVICE_ADDRESSES"  # type: ignore[union-attr]
    assert both.directory.get(BINANCE_14).origin == SHIPPED_ORIGIN  # type: ignore[union-attr]
    off = load_settings({"VIGIL_SHIPPED_SERVICES": "false", "VIGIL_SERVICE_ADDRESSES": extra})
    assert BINANCE_14 not in off.exposure.services and extra in off.exposure.services
    assert len(load_services({"VIGIL_SHIPPED_SERVICES": "0"})) == 0
    with pytest.raises(ConfigError, match="VIGIL_SHIPPED_SERVICES"):
        load_settings({"VIGIL_SHIPPED_SERVICES": "maybe"})

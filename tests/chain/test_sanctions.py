"""Sanctions lists: the real OFAC CSVs, the XML formats, diffs and the compacted topic."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chain.errors import SanctionsFormatError
from chain.sanctions import (
    CurrentEntry,
    SanctionsList,
    current_from_records,
    diff_lists,
    load_sanctions_file,
    parse_sanctions_csv,
    parse_sanctions_xml,
    sanction_record,
)
from chain.sanctions_topic import MemorySanctionsTopic, publish_sanctions
from reputation.events import Address, parse_sanction

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "chain" / "data"
CURRENT = DATA / "ofac_sdn_evm_addresses.csv"
DELISTED = DATA / "ofac_sdn_evm_addresses_delisted.csv"
FIXTURES = Path(__file__).parent / "fixtures"
LAZARUS = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_real_ofac_csv_has_104_unique_evm_addresses() -> None:
    lst = load_sanctions_file(CURRENT)
    assert len(lst) == 104
    rows = list(csv.DictReader(io.StringIO(CURRENT.read_text(encoding="utf-8"))))
    assert len(rows) == 113
    assert {e.address for e in lst.entries} == {r["address"] for r in rows}
    assert all(e.address == e.address.lower() and len(e.address) == 42 for e in lst.entries)
    assert lst.as_of == day("2026-08-07")  # newest date in the file unless --as-of
    by = lst.by_address()
    lazarus = by[Address(LAZARUS)]
    assert (lazarus.entity, lazarus.program, lazarus.source) == (
        "LAZARUS GROUP",
        "DPRK3",
        "OFAC SDN",
    )
    # listed_at is OFAC's action date where known, else the first sighting
    row = next(r for r in rows if r["address"] == LAZARUS)
    assert lazarus.listed_at == day(row["ofac_action_date"] or row["first_seen_in_source"])
    # an address listed under several assets (ARB, BSC, ETH) is one entry
    sim = [e for e in lst.entries if e.entity == "Hyon Sop SIM"]
    assert len({e.address for e in sim}) == len(sim)
    dprk = {e.address for e in lst.entries if "DPRK" in e.program}
    assert len(dprk) == 23  # as data/README.md counts them
    for e in lst.entries:  # every entry is a valid contract message
        assert parse_sanction(sanction_record(e)) == e


def test_delisted_file_is_not_a_list() -> None:
    with pytest.raises(SanctionsFormatError, match="delisted"):
        load_sanctions_file(DELISTED)


def test_diff_with_the_delisted_file_gives_92_removals() -> None:
    current = load_sanctions_file(CURRENT)
    old_only = load_sanctions_file(DELISTED, historical=True)
    # the list as it stood before the removals: current plus the since-delisted addresses
    before = SanctionsList(
        day("2025-03-20"),
        "OFAC SDN",
        tuple(sorted(current.entries + old_only.entries, key=lambda e: e.address)),
    )
    topic = MemorySanctionsTopic()
    d0 = publish_sanctions(before, topic, topic)
    assert (len(d0.added), len(d0.removed)) == (196, 0)
    d1 = publish_sanctions(current, topic, topic)
    assert (len(d1.added), len(d1.removed), len(d1.changed), d1.unchanged) == (0, 92, 0, 104)
    tornado = [c.entry for c in d1.removed if c.entry.entity == "TORNADO CASH"]
    assert len(tornado) == 91  # 90 removed on 2025-03-21, one in the Nov 2022 re-designation
    state = topic.read_current()
    assert sum(c.listed for c in state.values()) == 104
    gone = state[tornado[0].address]
    # the delisting takes effect at the new list's as_of and keeps when it was listed
    assert gone.entry.delisted and gone.entry.listed_at == current.as_of
    assert gone.listed_since == next(
        e.listed_at for e in old_only.entries if e.address == tornado[0].address
    )
    # what the engine does with it: listed until the delisting, history kept
    from reputation.exposure import AddressState, ExposureModel

    model = ExposureModel()
    s = AddressState(gone.entry.address)
    for key, value in topic.records:
        if key == gone.entry.address:
            entry = parse_sanction(value)
            since = value.get("listed_since")
            s = model.add_listing(s, entry, listed_since=day(str(since)[:10]) if since else None)
    (episode,) = model.episodes(s)
    assert (episode.listed_at, episode.delisted_at) == (gone.listed_since, current.as_of)
    # loading the same list again publishes nothing
    n = len(topic.records)
    d2 = publish_sanctions(current, topic, topic)
    assert d2.records() == [] and len(topic.records) == n


def test_relisting_after_delisting_starts_a_new_episode() -> None:
    e = parse_sanction(
        {
            "address": LAZARUS,
            "program": "DPRK3",
            "entity": "LAZARUS GROUP",
            "listed_at": "2025-01-01T00:00:00Z",
            "source": "OFAC SDN",
            "delisted": True,
        }
    )
    current = {e.address: CurrentEntry(e, day("2022-04-14"))}
    old_date = {**e.to_json(), "delisted": False, "listed_at": "2022-04-14T00:00:00Z"}
    again = SanctionsList(day("2026-08-20"), "OFAC SDN", (parse_sanction(old_date),))
    d = diff_lists(current, again)
    assert [x.listed_at for x in d.added] == [day("2026-08-20")]
    assert d.records()[0][1]["delisted"] is False


def test_changed_programme_keeps_listed_at() -> None:
    lst = parse_sanctions_csv(
        f"address,sdn_name,program,ofac_action_date\n{LAZARUS},LAZARUS GROUP,DPRK3,2022-04-14\n"
    )
    topic = MemorySanctionsTopic()
    publish_sanctions(lst, topic, topic)
    newer = parse_sanctions_csv(
        f"address,sdn_name,program,ofac_action_date\n{LAZARUS},LAZARUS GROUP,"
        f'"DPRK3, CYBER2",2026-01-01\n'
    )
    d = publish_sanctions(newer, topic, topic)
    assert [(x.program, x.listed_at) for x in d.changed] == [("CYBER2, DPRK3", day("2022-04-14"))]


def test_sdn_xml_fixture() -> None:
    lst = parse_sanctions_xml((FIXTURES / "sdn_sample.xml").read_bytes())
    assert lst.as_of == day("2026-08-20")
    by = {e.address: e for e in lst.entries}
    assert set(by) == {
        LAZARUS,
        "0xa0e1c89ef1a489c9c7de96311ed5ce5d32c20e4b",
        "0x04dba1194ee10112fe6c3207c0687def0e78bacf",  # USDT label: screened all the same
        "0x0330070fd38ec3bb94f58fa55d40368271e9e54a",  # the 38-hex decoy is dropped
    }
    assert by[Address("0x04dba1194ee10112fe6c3207c0687def0e78bacf")].entity == (
        "Alex Adrianus Martinus PEIJNENBURG"
    )
    assert by[Address("0x0330070fd38ec3bb94f58fa55d40368271e9e54a")].program == "CYBER2, DPRK4"
    # SDN.XML has no per-entry dates: listed_at is the publication date
    assert by[Address(LAZARUS)].listed_at == lst.as_of


def test_sdn_advanced_xml_fixture() -> None:
    lst = load_sanctions_file(FIXTURES / "sdn_advanced_sample.xml")
    assert lst.as_of == day("2026-08-20")
    by = {e.address: e for e in lst.entries}
    assert set(by) == {LAZARUS, "0x04dba1194ee10112fe6c3207c0687def0e78bacf"}
    assert (
        by[Address(LAZARUS)].entity,
        by[Address(LAZARUS)].program,
        by[Address(LAZARUS)].listed_at,
    ) == ("LAZARUS GROUP", "DPRK3", day("2019-09-13"))
    assert by[Address("0x04dba1194ee10112fe6c3207c0687def0e78bacf")].entity == (
        "Alex Adrianus Martinus PEIJNENBURG"
    )


def test_xml_and_csv_agree_on_shared_addresses() -> None:
    csv_list = load_sanctions_file(CURRENT).by_address()
    xml_list = parse_sanctions_xml((FIXTURES / "sdn_sample.xml").read_bytes()).by_address()
    assert set(xml_list) <= set(csv_list)


@pytest.mark.parametrize(
    "payload",
    [
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><sdnList>&a;</sdnList>",
        b"<html><body>not OFAC</body></html>",
        b"<sdnList><unclosed>",
    ],
)
def test_bad_xml_is_refused(payload: bytes) -> None:
    with pytest.raises(SanctionsFormatError):
        parse_sanctions_xml(payload)


def test_bad_csv_is_refused() -> None:
    with pytest.raises(SanctionsFormatError):
        parse_sanctions_csv("wallet,name\n0x00,x\n")
    with pytest.raises(SanctionsFormatError):
        parse_sanctions_csv(
            f"address,sdn_name,program,ofac_action_date\n{LAZARUS},X,Y,14/04/2022\n"
        )


def test_topic_fold_handles_tombstones_and_garbage() -> None:
    e = parse_sanction(
        {
            "address": LAZARUS,
            "program": "DPRK3",
            "entity": "X",
            "listed_at": "2022-04-14T00:00:00Z",
            "source": "OFAC SDN",
        }
    )
    records: list[tuple[str | None, bytes | dict[str, object] | None]] = [
        (LAZARUS, json.dumps(e.to_json()).encode()),
        ("0x" + "1" * 40, b"{not json"),
        ("0x" + "2" * 40, {"address": "0x" + "2" * 40}),  # missing fields
    ]
    assert set(current_from_records(records)) == {LAZARUS}
    assert current_from_records([*records, (LAZARUS, None)]) == {}

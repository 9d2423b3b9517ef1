"""OFAC SDN sanctions lists: parse CSV or XML, keep EVM addresses, diff two lists.

Formats read:

- CSV with the columns of ``chain/data/ofac_sdn_evm_addresses.csv``
  (``address, asset, sdn_name, program, ..., ofac_action_date, first_seen_in_source``).
  The ``_delisted`` file of the same folder is refused unless ``historical=True``.
- OFAC ``SDN.XML``: ``<sdnEntry>`` with ``<idList><id><idType>Digital Currency
  Address - ETH</idType><idNumber>0x…</idNumber></id></idList>``.
- OFAC ``sdn_advanced.xml``: ``<Feature FeatureTypeID=…>`` whose feature type is
  "Digital Currency Address - …", with the address in ``<VersionDetail>``.

Only EVM addresses (``0x`` + 40 hex) are kept, lower-cased, whatever the asset
label (OFAC tags EVM addresses ETH, USDT, ARB, BSC, ...): one key screens every
EVM chain. A mixed-case address with a wrong EIP-55 checksum is kept (OFAC's
text is authoritative) and logged. Rows of one address merge: programmes and
names are joined, ``listed_at`` is the earliest date known.

A delisting is published as the address's last entry with ``delisted: true``
and ``listed_at`` set to the time the delisting takes effect (the ``as_of`` of
the list that no longer names the address): an entry takes effect at its
``listed_at``, which is also how the simulator writes delistings. An extra
field ``listed_since`` keeps the original listing time, so that after
compaction the topic still says when the address was listed and history
survives (`reputation.exposure` reads it; ``parse_sanction`` ignores it).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import BinaryIO, Literal

from chain.errors import SanctionsFormatError
from chain.ofac_xml import read_ofac_xml
from reputation.eip55 import is_valid_checksum
from reputation.errors import InvalidEventError
from reputation.events import Address, SanctionEntry, format_time, parse_sanction, parse_time

__all__ = [
    "CurrentEntry",
    "SanctionsDiff",
    "SanctionsList",
    "current_from_records",
    "diff_lists",
    "load_sanctions_file",
    "parse_sanctions_csv",
    "parse_sanctions_xml",
    "sanction_record",
]

log = logging.getLogger(__name__)

Format = Literal["csv", "xml", "auto"]
_EVM = re.compile(r"0x[0-9a-fA-F]{40}")
SOURCE = "OFAC SDN"
_TICK = timedelta(seconds=1)  # keeps a delisting strictly after its listing


@dataclass(frozen=True, slots=True)
class SanctionsList:
    """The EVM addresses of one sanctions list publication, sorted by address."""

    as_of: datetime
    source: str
    entries: tuple[SanctionEntry, ...]

    def by_address(self) -> dict[Address, SanctionEntry]:
        """Return the entries keyed by address."""
        return {e.address: e for e in self.entries}

    def __len__(self) -> int:
        return len(self.entries)


@dataclass(frozen=True, slots=True)
class CurrentEntry:
    """The newest entry of an address on the topic.

    For a delisting, ``entry.listed_at`` is when it took effect and
    `listed_since` when the address had been listed (None if unknown).
    """

    entry: SanctionEntry
    listed_since: datetime | None = None

    @property
    def listed(self) -> bool:
        """Tell whether the address is listed now."""
        return not self.entry.delisted


@dataclass(frozen=True, slots=True)
class SanctionsDiff:
    """What to publish to move the topic from the current list to a new one."""

    as_of: datetime
    added: tuple[SanctionEntry, ...]
    removed: tuple[CurrentEntry, ...]  # delisted=True at as_of, with listed_since
    changed: tuple[SanctionEntry, ...]  # programme or name changed; listed_at kept
    unchanged: int

    def records(self) -> list[tuple[str, dict[str, object]]]:
        """Return the (key, JSON) messages, removals with their ``listed_since``."""
        out = [(e.address, sanction_record(e)) for e in (*self.added, *self.changed)]
        out += [(c.entry.address, sanction_record(c.entry, c.listed_since)) for c in self.removed]
        return sorted(out, key=lambda r: r[0])

    def summary(self) -> str:
        """Return a one-line human summary."""
        return (
            f"additions {len(self.added)}, removals {len(self.removed)}, "
            f"changes {len(self.changed)}, unchanged {self.unchanged}"
        )


def sanction_record(
    entry: SanctionEntry, listed_since: datetime | None = None
) -> dict[str, object]:
    """Return the ``vigil.sanctions`` JSON of an entry (with ``listed_since`` for a delisting)."""
    obj = entry.to_json()
    if entry.delisted and listed_since is not None:
        obj["listed_since"] = format_time(listed_since)
    return obj


# ----- parsing ----------------------------------------------------------------------------


def _day(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time(0), UTC)
    except ValueError:
        raise SanctionsFormatError(f"date must be YYYY-MM-DD, got {text!r}") from None


def _evm(raw: str, where: str) -> Address | None:
    text = raw.strip()
    if not _EVM.fullmatch(text):
        return None
    if not is_valid_checksum(text):
        log.warning("%s: %s has a wrong EIP-55 checksum; kept as OFAC wrote it", where, text)
    return Address(text.lower())


def _join(values: Iterable[str]) -> str:
    seen: list[str] = []
    for v in values:
        for part in v.split(","):
            part = part.strip()
            if part and part not in seen:
                seen.append(part)
    return ", ".join(sorted(seen))


@dataclass(slots=True)
class _Acc:
    programs: list[str]
    names: list[str]
    dates: list[datetime]


def _build(acc: Mapping[Address, _Acc], as_of: datetime, source: str) -> SanctionsList:
    entries = []
    for address in sorted(acc):
        a = acc[address]
        names = sorted(set(a.names))
        entries.append(
            SanctionEntry(
                address=address,
                program=_join(a.programs)[:256] or "UNSPECIFIED",
                entity="; ".join(names)[:512] or "UNKNOWN",
                listed_at=min(a.dates) if a.dates else as_of,
                source=source,
                delisted=False,
            )
        )
    return SanctionsList(as_of, source, tuple(entries))


def parse_sanctions_csv(
    text: str, *, as_of: datetime | None = None, source: str = SOURCE, historical: bool = False
) -> SanctionsList:
    r"""Parse the CSV format of ``chain/data``.

    ``listed_at`` is ``ofac_action_date``, else ``first_seen_in_source``. `as_of`
    defaults to the newest date in the file.

    Examples
    --------
    >>> text = ("address,asset,sdn_name,program,ofac_action_date,first_seen_in_source\n"
    ...         "0x098B716B8Aaf21512996dC57EB0615e2383E2f96,ETH,LAZARUS GROUP,DPRK3,"
    ...         "2022-04-14,2022-09-03\n")
    >>> lst = parse_sanctions_csv(text)
    >>> lst.entries[0].address, lst.entries[0].listed_at.date().isoformat(), lst.as_of.day
    ('0x098b716b8aaf21512996dc57eb0615e2383e2f96', '2022-04-14', 3)
    """
    reader = csv.DictReader(io.StringIO(text))
    columns = set(reader.fieldnames or ())
    if not {"address", "sdn_name", "program"} <= columns:
        raise SanctionsFormatError(
            f"CSV needs the columns address, sdn_name, program; got {sorted(columns)}"
        )
    if "absent_from" in columns and not historical:
        raise SanctionsFormatError(
            "this is the delisted-addresses file (it has absent_from), not a sanctions list"
        )
    acc: dict[Address, _Acc] = {}
    newest: datetime | None = None
    for n, row in enumerate(reader, start=2):
        address = _evm(row.get("address") or "", f"line {n}")
        if address is None:
            log.info("line %d: %r is not an EVM address; skipped", n, row.get("address"))
            continue
        a = acc.setdefault(address, _Acc([], [], []))
        a.programs.append(row.get("program") or "")
        a.names.append((row.get("sdn_name") or "").strip())
        action = _day(row.get("ofac_action_date") or "")
        seen = _day(row.get("first_seen_in_source") or "")
        if action or seen:
            a.dates.append(min(d for d in (action, seen) if d is not None))
        for d in (action, seen, _day(row.get("last_seen_in_source") or "")):
            if d is not None and (newest is None or d > newest):
                newest = d
    when = as_of or newest
    if when is None:
        raise SanctionsFormatError("CSV has no dates; give as_of (--as-of)")
    return _build(acc, when, source)


def parse_sanctions_xml(
    data: bytes | BinaryIO, *, as_of: datetime | None = None, source: str = SOURCE
) -> SanctionsList:
    """Parse OFAC ``SDN.XML`` or ``sdn_advanced.xml`` (see `chain.ofac_xml`).

    `as_of` defaults to the file's publication date; ``listed_at`` is the
    designation date where the file has one (sdn_advanced), else `as_of`.
    """
    parsed = read_ofac_xml(data)
    when = as_of or parsed.published
    if when is None:
        raise SanctionsFormatError("the XML has no publication date; give as_of (--as-of)")
    acc: dict[Address, _Acc] = {}
    for ident in parsed.identifiers:
        address = _evm(ident.value, ident.where)
        if address is not None:
            a = acc.setdefault(address, _Acc([], [], []))
            a.programs.extend(ident.programs)
            a.names.append(ident.name)
            a.dates.extend(ident.dates)
    return _build(acc, when, source)


def load_sanctions_file(
    path: Path, *, fmt: Format = "auto", as_of: datetime | None = None, historical: bool = False
) -> SanctionsList:
    """Read a sanctions file (CSV or XML, by extension or content when `fmt` is auto)."""
    if fmt == "auto":
        with path.open("rb") as f:
            head = f.read(256).lstrip(b"\xef\xbb\xbf \t\r\n")
        fmt = "xml" if head.startswith(b"<") or path.suffix.lower() == ".xml" else "csv"
    if fmt == "xml":
        with path.open("rb") as f:
            return parse_sanctions_xml(f, as_of=as_of)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SanctionsFormatError(f"{path}: CSV must be UTF-8: {exc}") from exc
    return parse_sanctions_csv(text, as_of=as_of, historical=historical)


# ----- the current list and the diff --------------------------------------------------------


def current_from_records(
    records: Iterable[tuple[str | None, bytes | Mapping[str, object] | None]],
) -> dict[Address, CurrentEntry]:
    """Fold a compacted topic's records (oldest first) into the newest entry per address.

    A tombstone (value None) forgets the address; a record that fails
    validation is logged and skipped.
    """
    import json

    out: dict[Address, CurrentEntry] = {}
    for key, value in records:
        if value is None:
            if key:
                out.pop(Address(key.lower()), None)
            continue
        try:
            obj = json.loads(value) if isinstance(value, bytes) else value
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            entry = parse_sanction(obj)
            raw_since = obj.get("listed_since")
            since = None if raw_since is None else parse_time(raw_since, "listed_since")
        except (ValueError, InvalidEventError) as exc:
            log.warning("skipping a sanctions record with key %r: %s", key, exc)
            continue
        out[entry.address] = CurrentEntry(entry, since if entry.delisted else None)
    return out


def diff_lists(current: Mapping[Address, CurrentEntry], new: SanctionsList) -> SanctionsDiff:
    """Return the messages that turn `current` (the topic) into `new`.

    A removal takes effect at ``new.as_of``; an address listed again after a
    delisting is listed from a time after its delisting, so the two never
    overlap.

    Examples
    --------
    >>> from reputation.events import parse_sanction
    >>> e = parse_sanction({"address": "0x" + "a" * 40, "program": "DPRK3", "entity": "X",
    ...                     "listed_at": "2022-04-14T00:00:00Z", "source": "OFAC SDN"})
    >>> later = datetime(2026, 8, 20, tzinfo=UTC)
    >>> d = diff_lists({e.address: CurrentEntry(e)}, SanctionsList(later, "OFAC SDN", ()))
    >>> msg = d.records()[0][1]
    >>> d.summary(), msg["delisted"], msg["listed_at"], msg["listed_since"]
    ('additions 0, removals 1, changes 0, unchanged 0', True, '2026-08-20T00:00:00Z', \
'2022-04-14T00:00:00Z')
    """
    added: list[SanctionEntry] = []
    removed: list[CurrentEntry] = []
    changed: list[SanctionEntry] = []
    unchanged = 0
    wanted = new.by_address()
    for address, entry in sorted(wanted.items()):
        cur = current.get(address)
        if cur is None:
            added.append(entry)
        elif not cur.listed:
            delisted_at = cur.entry.listed_at
            start = entry.listed_at
            if start <= delisted_at:
                start = max(new.as_of, delisted_at + _TICK)
            added.append(replace(entry, listed_at=start))
        elif (cur.entry.program, cur.entry.entity) != (entry.program, entry.entity):
            changed.append(replace(entry, listed_at=cur.entry.listed_at))
        else:
            unchanged += 1
    for address, cur in sorted(current.items()):
        if cur.listed and address not in wanted:
            since = cur.entry.listed_at
            off = replace(cur.entry, delisted=True, listed_at=max(new.as_of, since + _TICK))
            removed.append(CurrentEntry(off, since))
    return SanctionsDiff(new.as_of, tuple(added), tuple(removed), tuple(changed), unchanged)

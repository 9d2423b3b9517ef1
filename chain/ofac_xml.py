"""Reading OFAC's own XML publications: the currency-address identifiers and their owners.

Two formats, told apart by the root element:

- ``SDN.XML`` (root ``sdnList``): each ``<sdnEntry>`` has a name, a
  ``<programList>`` and an ``<idList>`` whose ``<id>`` elements carry
  ``<idType>Digital Currency Address - ETH</idType>`` and ``<idNumber>``.
  There is no designation date per entry.
- ``sdn_advanced.xml`` (root ``Sanctions``): feature types are declared once
  under ``ReferenceValueSets``; each ``<Profile>`` has ``<Feature
  FeatureTypeID=…>`` elements with the address in ``<VersionDetail>``; the
  programme (``SanctionsMeasure/Comment``) and designation date
  (``EntryEvent/Date``) sit in ``<SanctionsEntry ProfileID=…>`` at the end.

The file is streamed with ``iterparse`` and each entry is dropped once read,
so the 100 MB ``sdn_advanced.xml`` needs little memory. Namespaces are
ignored (OFAC has changed them). A DOCTYPE or ENTITY declaration is refused:
OFAC's files have none, and refusing them rules out entity-expansion tricks.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO
from xml.etree import ElementTree

from chain.errors import SanctionsFormatError

__all__ = ["CurrencyId", "OfacXml", "read_ofac_xml"]

_CURRENCY_PREFIX = "digital currency address"


@dataclass(frozen=True, slots=True)
class CurrencyId:
    """One "Digital Currency Address - …" identifier, as OFAC wrote it (any chain)."""

    value: str
    id_type: str
    name: str
    programs: tuple[str, ...]
    dates: tuple[datetime, ...]
    where: str  # e.g. "sdnEntry 27307", for log messages


@dataclass(frozen=True, slots=True)
class OfacXml:
    """What Vigil reads from an OFAC XML file."""

    kind: str  # "sdnList" or "Sanctions"
    published: datetime | None
    identifiers: tuple[CurrencyId, ...]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(el: ElementTree.Element, name: str) -> Iterator[ElementTree.Element]:
    """Descendants of `el` (itself included) whose tag, without namespace, is `name`."""
    return (c for c in el.iter() if _local(c.tag) == name)


def _text(el: ElementTree.Element | None) -> str:
    return "" if el is None or el.text is None else el.text.strip()


def _first(el: ElementTree.Element, name: str) -> ElementTree.Element | None:
    return next(_find(el, name), None)


def _ymd(el: ElementTree.Element | None) -> datetime | None:
    if el is None:
        return None
    y, m, d = (_text(_first(el, k)) for k in ("Year", "Month", "Day"))
    if not (y.isdigit() and m.isdigit() and d.isdigit()):
        return None
    return datetime(int(y), int(m), int(d), tzinfo=UTC)


def _us_date(text: str) -> datetime | None:
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text.strip())
    if not m:
        return None
    return datetime(int(m[3]), int(m[1]), int(m[2]), tzinfo=UTC)


@dataclass(slots=True)
class _XmlState:
    kind: str = ""
    published: datetime | None = None
    currency_types: dict[str, str] = field(default_factory=dict)
    found: list[CurrencyId] = field(default_factory=list)
    # sdn_advanced: (profile id, value, type, name) until the SanctionsEntries are read
    profiles: list[tuple[str, str, str, str]] = field(default_factory=list)
    programs: dict[str, list[str]] = field(default_factory=dict)
    dates: dict[str, list[datetime]] = field(default_factory=dict)


def _sdn_entry(st: _XmlState, entry: ElementTree.Element) -> None:
    """One ``<sdnEntry>`` of SDN.XML."""
    uid = next((_text(c) for c in entry if _local(c.tag) == "uid"), "")
    name = " ".join(
        x for x in (_text(_first(entry, "firstName")), _text(_first(entry, "lastName"))) if x
    )
    programs = tuple(_text(p) for p in _find(entry, "program"))
    for ident in _find(entry, "id"):
        id_type = _text(_first(ident, "idType"))
        if id_type.lower().startswith(_CURRENCY_PREFIX):
            value = _text(_first(ident, "idNumber"))
            st.found.append(CurrencyId(value, id_type, name, programs, (), f"sdnEntry {uid}"))


def _profile(st: _XmlState, profile: ElementTree.Element) -> None:
    """One ``<Profile>`` of sdn_advanced.xml: its primary name and currency addresses."""
    pid = profile.get("ID") or ""
    alias = next((a for a in _find(profile, "Alias") if a.get("Primary") == "true"), None)
    name = "" if alias is None else " ".join(_text(v) for v in _find(alias, "NamePartValue"))
    for feature in _find(profile, "Feature"):
        if feature.get("FeatureTypeID") not in st.currency_types:
            continue
        id_type = st.currency_types[feature.get("FeatureTypeID") or ""]
        for detail in _find(feature, "VersionDetail"):
            st.profiles.append((pid, _text(detail), id_type, name))


def read_ofac_xml(data: bytes | BinaryIO) -> OfacXml:
    """Read the currency-address identifiers of an OFAC XML file (either format)."""
    stream = io.BytesIO(data) if isinstance(data, bytes) else data
    head = stream.read(4096)
    stream.seek(0)
    # OFAC's files have no DTD; refusing one rules out entity-expansion tricks.
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise SanctionsFormatError("XML with a DOCTYPE or ENTITY declaration is refused")
    st = _XmlState()
    try:
        # DTDs are refused above and expat >= 2.4 caps entity amplification.
        events = ElementTree.iterparse(stream, events=("start", "end"))  # noqa: S314
        for event, el in events:
            tag = _local(el.tag)
            if event == "start":
                if not st.kind:
                    st.kind = tag
                continue
            if tag == "sdnEntry":
                _sdn_entry(st, el)
                el.clear()
            elif tag == "Publish_Date":
                st.published = _us_date(_text(el))
            elif tag == "DateOfIssue":
                st.published = _ymd(el)
            elif tag == "FeatureType" and _text(el).lower().startswith(_CURRENCY_PREFIX):
                st.currency_types[el.get("ID") or ""] = _text(el)
            elif tag == "Profile":
                _profile(st, el)
                el.clear()
            elif tag == "SanctionsEntry":
                pid = el.get("ProfileID") or ""
                st.programs.setdefault(pid, []).extend(
                    _text(c) for m in _find(el, "SanctionsMeasure") for c in _find(m, "Comment")
                )
                st.dates.setdefault(pid, []).extend(
                    d for ev in _find(el, "EntryEvent") if (d := _ymd(_first(ev, "Date")))
                )
                el.clear()
    except ElementTree.ParseError as exc:
        raise SanctionsFormatError(f"not well-formed XML: {exc}") from exc
    if st.kind not in ("sdnList", "Sanctions"):
        raise SanctionsFormatError(f"XML root must be sdnList or Sanctions, got {st.kind!r}")
    for pid, value, id_type, name in st.profiles:
        programs = tuple(st.programs.get(pid, ()))
        dates = tuple(st.dates.get(pid, ()))
        st.found.append(CurrencyId(value, id_type, name, programs, dates, f"Profile {pid}"))
    return OfacXml(st.kind, st.published, tuple(st.found))

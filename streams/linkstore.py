"""The wallet side's state in Faust tables (RocksDB, changelog-backed), with a decode cache.

All three tables have one partition, like ``{prefix}links``, so the one process
that owns that partition holds the whole wallet graph and every search runs
locally. The raised-alerts table maps alert ids to the ``detected_at`` they were raised
with (``0``: withdrawn; ``1``: raised by a version that kept no time)
and, under ``via:<address>``, the alerts raised through an address that may
still become a hub (`streams.links.LinkProcessor` re-checks them then).
Values are versioned JSON records (`reputation.exposure.codec`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from reputation.events import Address, parse_time
from reputation.exposure.codec import exposure_state_from_record, exposure_state_to_record
from reputation.exposure.graph import AddressState
from reputation.links import DeviceState, Sighting

__all__ = ["TableLinkStore", "device_from_record", "device_to_record", "read_table"]

_T = TypeVar("_T")
#: The raised-alerts table also keeps, under ``via:<address>``, the alerts raised through
#: an address that may still turn out to be a hub; a withdrawn alert's id maps to ``0``.
_INDEX_PREFIX = b"via:"
_WITHDRAWN = b"0"


def device_to_record(s: DeviceState) -> dict[str, object]:
    """Return the versioned record of a device's sightings."""
    from reputation.events import format_time

    return {
        "v": 1,
        "device_id": s.device_id,
        "sightings": [[x.worker_id, format_time(x.at), x.event_id] for x in s.sightings],
    }


def device_from_record(rec: dict[str, Any]) -> DeviceState:
    """Return the device state of a record written by `device_to_record`."""
    sightings = tuple(
        Sighting(str(w), parse_time(at, "at"), str(e)) for w, at, e in rec["sightings"]
    )
    return DeviceState(str(rec["device_id"]), sightings)


def _set_item(table: Any, key: bytes, value: bytes) -> None:
    table[key] = value


def read_table(table: Any, key: bytes) -> bytes | None:
    """Read a Faust table entry from its store (no Table hooks on the hot path)."""
    value: bytes | None = table.data.get(key)
    return value


class _Cached:
    """A table of JSON records with a bounded cache of decoded values."""

    def __init__(
        self,
        table: Any,
        decode: Callable[[dict[str, Any]], Any],
        encode: Callable[[Any], dict[str, object]],
        max_size: int,
        write: Callable[[Any, bytes, bytes], None],
        read: Callable[[Any, bytes], bytes | None],
    ) -> None:
        self.table = table
        self._write = write
        self._read = read
        self._decode = decode
        self._encode = encode
        self._cache: dict[str, Any] = {}
        self._max = max_size

    def get(self, key: str) -> Any:
        if key in self._cache:
            return self._cache[key]
        raw = self._read(self.table, key.encode())
        value = None if raw is None else self._decode(orjson.loads(raw))
        self._remember(key, value)
        return value

    def put(self, key: str, value: Any) -> None:
        self._write(self.table, key.encode(), orjson.dumps(self._encode(value)))
        self._remember(key, value)

    def _remember(self, key: str, value: Any) -> None:
        self._cache[key] = value
        if len(self._cache) > self._max:
            for old in list(self._cache)[: max(1, self._max // 10)]:
                del self._cache[old]

    def clear(self) -> None:
        self._cache.clear()


class TableLinkStore:
    """`streams.links.LinkStore` over three Faust tables."""

    def __init__(
        self,
        addresses: Any,
        devices: Any,
        raised: Any,
        cache_size: int,
        write: Callable[[Any, bytes, bytes], None] | None = None,
        read: Callable[[Any, bytes], bytes | None] | None = None,
    ) -> None:
        """`write(table, key, value)` stores an entry and `read(table, key)` reads one.

        Defaults: ``table[key] = value`` and `read_table`. The engine's pair keeps
        an entry in memory until the broker has its output and its changelog.
        """
        self._write = write or _set_item
        self._read = read or read_table
        codec = (exposure_state_from_record, exposure_state_to_record)
        self._addresses = _Cached(addresses, *codec, cache_size, self._write, self._read)
        self._devices = _Cached(
            devices, device_from_record, device_to_record, cache_size, self._write, self._read
        )
        self._raised = raised

    def clear_cache(self) -> None:
        """Forget decoded values (after a rebalance the tables are the truth)."""
        self._addresses.clear()
        self._devices.clear()

    def address(self, address: Address) -> AddressState | None:
        value: AddressState | None = self._addresses.get(address)
        return value

    def put_address(self, state: AddressState) -> None:
        self._addresses.put(state.address, state)

    def device(self, device_id: str) -> DeviceState | None:
        value: DeviceState | None = self._devices.get(device_id)
        return value

    def put_device(self, state: DeviceState) -> None:
        self._devices.put(state.device_id, state)

    def raised(self, alert_id: str) -> bool:
        return self.raised_at(alert_id) is not None

    def raised_at(self, alert_id: str) -> str | None:
        value = self._read(self._raised, alert_id.encode())
        if value in (None, _WITHDRAWN):
            return None
        return "" if value == b"1" else bytes(value).decode()  # b"1": before the times

    def mark_raised(self, alert_id: str, detected_at: str = "") -> None:
        self._write(self._raised, alert_id.encode(), detected_at.encode() or b"1")

    def unmark_raised(self, alert_id: str) -> None:
        self._write(self._raised, alert_id.encode(), _WITHDRAWN)

    def indexed(self, address: Address) -> list[list[object]]:
        raw = self._read(self._raised, _INDEX_PREFIX + address.encode())
        if not raw:
            return []
        entries: list[list[object]] = orjson.loads(raw)
        return entries

    def put_indexed(self, address: Address, entries: list[list[object]]) -> None:
        self._write(self._raised, _INDEX_PREFIX + address.encode(), orjson.dumps(entries))

"""Payout-wallet changes corroborated by a new device, independent of channel interleaving.

A one-off wallet change is something honest workers do; a wallet change within
a few days of a device the account has never used is what a takeover looks
like. The two facts come from different topics, which Kafka consumes
concurrently, so the decision uses event-time facts only: the first payout to
the novel wallet and the first task on the novel device. A pair is raised when
the later of the two facts arrives, whichever channel that is, with the later
fact's event time and id, so any interleaving of the channels raises the same
pair with the same time and ids. Pairs already raised are remembered (a small
bounded set) so that a pair is raised once.
"""

from __future__ import annotations

from dataclasses import dataclass

from reputation.drift.buckets import PayoutDay, Seen, TaskDay

__all__ = ["WalletPair", "novel_devices", "novel_wallets", "wallet_pairs"]


@dataclass(frozen=True, slots=True)
class WalletPair:
    """A novel wallet and a novel device first seen within the pairing window."""

    wallet: Seen[str]
    device: Seen[str]

    @property
    def key(self) -> tuple[str, str]:
        """Identity of the pair: (wallet, device)."""
        return (self.wallet.value, self.device.value)

    @property
    def later(self) -> Seen[str]:
        """The fact that completed the pair in event time."""
        w, d = self.wallet, self.device
        return w if (w.ts_us, w.event_id) >= (d.ts_us, d.event_id) else d

    @property
    def earlier(self) -> Seen[str]:
        """The other fact."""
        return self.device if self.later is self.wallet else self.wallet


def _novel(per_day: list[tuple[Seen[str], ...]], min_before: int) -> list[Seen[str]]:
    seen: set[str] = set()
    out: list[Seen[str]] = []
    for i, items in enumerate(per_day):
        for s in items:
            if s.value not in seen:
                seen.add(s.value)
                if i >= min_before:
                    out.append(s)
    return out


def novel_wallets(days: tuple[PayoutDay, ...], min_before: int) -> list[Seen[str]]:
    """Return wallets first paid after `min_before` payout days, with their first payout.

    Examples
    --------
    >>> days = tuple(PayoutDay(i, 1, i, f"p-{i}", (Seen("0xa", i, f"p-{i}"),)) for i in range(3))
    >>> days += (PayoutDay(3, 1, 3, "p-3", (Seen("0xb", 3, "p-3"),)),)
    >>> [s.value for s in novel_wallets(days, 2)]
    ['0xb']
    """
    return _novel([d.wallets for d in days], min_before)


def novel_devices(days: tuple[TaskDay, ...], min_before: int) -> list[Seen[str]]:
    """Return devices first used after `min_before` active days, with their first task."""
    return _novel([d.devices for d in days], min_before)


def wallet_pairs(
    wallets: list[Seen[str]], devices: list[Seen[str]], window_us: int
) -> list[WalletPair]:
    """Return the (wallet, device) pairs first seen within `window_us` of each other.

    Examples
    --------
    >>> w, d = [Seen("0xb", 100, "p-9")], [Seen("d-2", 40, "t-5"), Seen("d-3", 900, "t-7")]
    >>> [(p.key, p.later.event_id) for p in wallet_pairs(w, d, 100)]
    [(('0xb', 'd-2'), 'p-9')]
    """
    out = [
        WalletPair(w, d) for w in wallets for d in devices if abs(w.ts_us - d.ts_us) <= window_us
    ]
    out.sort(key=lambda p: (p.later.ts_us, p.later.event_id, p.key))
    return out

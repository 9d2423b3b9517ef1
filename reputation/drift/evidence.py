"""JSON-ready evidence of each finding: what an analyst needs to judge it."""

from __future__ import annotations

from datetime import UTC, datetime

from reputation.drift.buckets import DAY_US, PayoutDay, QualityDay, Seen, TaskDay, to_datetime
from reputation.drift.context import ContextNovelty, context_values
from reputation.drift.hours import circular_peak, hour_counts
from reputation.drift.quality import QualityStat
from reputation.drift.velocity import VelocityStat
from reputation.drift.wallet import WalletPair
from reputation.events import format_time

__all__ = [
    "context_evidence",
    "day_text",
    "days_text",
    "hours_evidence",
    "quality_evidence",
    "velocity_evidence",
    "wallet_evidence",
]


def day_text(day: int) -> str:
    """Return a UTC day number as ``YYYY-MM-DD``.

    Examples
    --------
    >>> day_text(20_393)
    '2025-11-01'
    """
    return datetime.fromtimestamp(day * (DAY_US // 1_000_000), tz=UTC).strftime("%Y-%m-%d")


def days_text(
    days: tuple[TaskDay, ...] | tuple[QualityDay, ...] | tuple[PayoutDay, ...],
) -> list[str]:
    """Return the days of some buckets as ``YYYY-MM-DD`` strings."""
    return [day_text(d.day) for d in days]


def _seen(s: Seen[str]) -> dict[str, object]:
    return {
        "value": s.value,
        "first_seen": format_time(to_datetime(s.ts_us)),
        "event_id": s.event_id,
    }


def hours_evidence(
    before: tuple[TaskDay, ...],
    after: tuple[TaskDay, ...],
    jsd_utc: float,
    jsd_local: float,
    threshold: float,
    novel: ContextNovelty,
) -> dict[str, object]:
    """Return the evidence of ``ACTIVITY_HOURS_SHIFT``: both hour profiles and the divergence."""
    hb = hour_counts(d.hours_utc for d in before)
    ha = hour_counts(d.hours_utc for d in after)
    return {
        "statistic": "jensen_shannon_bits",
        "value": round(jsd_utc, 4),
        "threshold": threshold,
        "local_value": round(jsd_local, 4),
        "before": {"utc_hour_days": hb, "peak_utc_hour": circular_peak(hb), "days": len(before)},
        "after": {"utc_hour_days": ha, "peak_utc_hour": circular_peak(ha), "days": len(after)},
        "local_hour_days_before": hour_counts(d.hours_local for d in before),
        "local_hour_days_after": hour_counts(d.hours_local for d in after),
        "new_devices": [_seen(s) for s in novel.devices],
        "baseline_days": days_text(before),
        "recent_days": days_text(after),
    }


def context_evidence(
    before: tuple[TaskDay, ...],
    after: tuple[TaskDay, ...],
    novel: ContextNovelty,
    jsd_utc: float | None,
) -> dict[str, object]:
    """Return the evidence of ``CONTEXT_SHIFT``: known and novel context values."""
    return {
        "statistic": "novel_context",
        "before": context_values(before),
        "after": context_values(after),
        "new_devices": [_seen(s) for s in novel.devices],
        "new_asns": list(novel.asns),
        "new_countries": list(novel.countries),
        "new_utc_offsets_min": list(novel.offsets),
        "hours_divergence": None if jsd_utc is None else round(jsd_utc, 4),
        "baseline_days": days_text(before),
        "recent_days": days_text(after),
    }


def velocity_evidence(
    before: tuple[TaskDay, ...],
    after: tuple[TaskDay, ...],
    stat: VelocityStat,
    threshold: float,
    corroborated: bool,
) -> dict[str, object]:
    """Return the evidence of ``VELOCITY_SURGE``: daily counts and the ratio of rates."""
    return {
        "statistic": "tasks_per_active_day_ratio",
        "value": round(stat.ratio, 4),
        "threshold": threshold,
        "with_context_shift": corroborated,
        "before": {"tasks_per_day": round(stat.per_day_before, 4), "counts": [d.n for d in before]},
        "after": {"tasks_per_day": round(stat.per_day_after, 4), "counts": [d.n for d in after]},
        "baseline_days": days_text(before),
        "recent_days": days_text(after),
    }


def quality_evidence(
    before: tuple[QualityDay, ...],
    after: tuple[QualityDay, ...],
    stat: QualityStat,
    delta_threshold: float,
    z_threshold: float,
) -> dict[str, object]:
    """Return the evidence of ``QUALITY_SHIFT``: both means, the z statistic and thresholds."""
    return {
        "statistic": "quality_median_z",
        "value": round(stat.z, 4),
        "threshold": z_threshold,
        "delta": round(stat.delta, 4),
        "z_days": round(stat.z_days, 4),
        "delta_threshold": delta_threshold,
        "before": {
            "median": round(stat.median_before, 4),
            "spread": round(stat.spread_before, 4),
            "mean": round(stat.mean_before, 4),
            "scores": stat.n_before,
        },
        "after": {
            "median": round(stat.median_after, 4),
            "mean": round(stat.mean_after, 4),
            "scores": stat.n_after,
        },
        "baseline_days": days_text(before),
        "recent_days": days_text(after),
    }


def wallet_evidence(pair: WalletPair, known: list[str], window_days: float) -> dict[str, object]:
    """Return the evidence of ``PAYOUT_WALLET_CHANGE``: the new wallet and the new device."""
    gap_h = abs(pair.wallet.ts_us - pair.device.ts_us) / 3_600_000_000
    return {
        "statistic": "hours_between_new_wallet_and_new_device",
        "value": round(gap_h, 2),
        "threshold": window_days * 24.0,
        "before": {"wallets": known},
        "after": {"wallet": _seen(pair.wallet), "device": _seen(pair.device)},
        "days": sorted(
            {day_text(pair.wallet.ts_us // DAY_US), day_text(pair.device.ts_us // DAY_US)}
        ),
    }

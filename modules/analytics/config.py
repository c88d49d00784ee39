"""Analytics settings, read from `CTH_ANALYTICS_*`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AnalyticsSettings"]


@dataclass(frozen=True, kw_only=True)
class AnalyticsSettings:
    #: How often the Prometheus business gauges are recomputed from the projections.
    metrics_refresh_seconds: float = 15.0

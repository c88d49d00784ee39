"""Just enough PromQL reading to list the metric names an expression selects."""

from __future__ import annotations

import re

#: PromQL functions, aggregations and keywords (everything else bare is a metric name).
_WORDS = frozenset(
    """
    abs absent absent_over_time avg avg_over_time bottomk by ceil changes clamp clamp_max clamp_min
    count count_over_time count_values day_of_month day_of_week days_in_month delta deriv exp floor
    group group_left group_right histogram_quantile holt_winters hour idelta ignoring increase irate
    label_join label_replace last_over_time ln log10 log2 max max_over_time min min_over_time minute
    month offset on predict_linear quantile quantile_over_time rate resets round scalar sgn sort
    sort_desc sqrt stddev stddev_over_time stdvar sum sum_over_time time timestamp topk vector without
    year and or unless bool inf nan le
    """.split()  # noqa: SIM905 - a word list reads better than 75 quoted strings
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_VARIABLE = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _VARIABLE.sub(" ", text)
    text = re.sub(r"\d+(\.\d+)?([eE][+-]?\d+)?[smhdwy]?", " ", text)
    return {word for word in _IDENTIFIER.findall(text) if word not in _WORDS}


def label_values_metric(query: str) -> set[str]:
    """`label_values(metric{...}, label)` (a Grafana variable query) → {metric}."""
    match = re.match(r"\s*label_values\((.*),\s*\w+\)\s*$", query)
    return metric_names(match.group(1)) if match else set()

"""Charts are pure functions from numbers to SVG: ticks, bands, gaps, boundaries, the lineage layout."""

from __future__ import annotations

import re

from promptevolve.charts import Band, LineageBox, lift_chart, lineage_chart, nice_ticks, trend_chart


def test_nice_ticks_cover_the_range_with_round_steps() -> None:
    assert nice_ticks(0.0, 1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    ticks = nice_ticks(-0.13, 0.42)
    assert ticks[0] <= -0.13 and ticks[-1] >= 0.42 and len(ticks) <= 8
    assert nice_ticks(3.0, 3.0)[0] <= 3.0 <= nice_ticks(3.0, 3.0)[-1]


def test_a_trend_draws_a_band_a_line_and_a_dot_per_value_and_breaks_at_gaps() -> None:
    points = [Band(0, 0.5, 0.4, 0.6), Band(10, 0.6, 0.5, 0.7), Band(20, None), Band(30, 0.7, 0.6, 0.8)]
    svg = str(trend_chart(points, label="score", y_label="composite", bounded=True))
    assert 'data-chart="trend"' in svg and 'data-points="3"' in svg
    assert svg.count("<polyline") == 2, "the missing bucket breaks the line"
    assert svg.count("<polygon") == 1 and svg.count("<circle") == 3
    assert svg.count('class="whisker') == 1, "a lone point shows its interval as a whisker"


def test_empty_charts_say_so() -> None:
    svg = str(trend_chart([Band(0, None), Band(1, None)], label="x", y_label="y"))
    assert 'data-points="0"' in svg and "no measured executions" in svg
    assert "no comparison yet" in str(lift_chart({}, label="x", y_label="y"))


def test_a_lift_chart_draws_the_no_effect_boundary_and_the_mde() -> None:
    series = {"treatment": [Band(0, 0.1, -0.2, 0.4), Band(60, 0.15, 0.02, 0.28)]}
    svg = str(lift_chart(series, label="lift", y_label="lift", mde=0.1))
    assert svg.count('class="boundary"') == 1 and svg.count('class="mde"') == 2
    assert ">treatment</text>" in svg and 'data-points="2"' in svg


def test_labels_are_escaped() -> None:
    svg = str(lift_chart({"<b>": [Band(0, 0.1, 0.0, 0.2), Band(1, 0.1, 0.0, 0.2)]}, label="<x>", y_label="y"))
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "&lt;x&gt;" in svg


def test_the_lineage_puts_children_right_of_parents_with_the_strategy_on_each_edge() -> None:
    leaf = LineageBox("1.2.0", "few_shot", "held-out 0.910", "/v/1.2.0", False, "evolved")
    child = LineageBox("1.1.0", "opro", "production 0.700 (n=40)", "/v/1.1.0", True, "optimized", (leaf,))
    other = LineageBox("1.0.1", None, "no score yet", "/v/1.0.1", False, "optimized")
    root = LineageBox("1.0.0", None, "production 0.600 (n=80)", "/v/1.0.0", True, "baseline", (child, other))
    svg = str(lineage_chart([root], label="lineage"))
    assert 'data-points="4"' in svg and svg.count('class="edge"') == 3
    assert [t for t in re.findall(r'class="edge-label"[^>]*>([^<]*)<', svg)] == [
        "opro",
        "few_shot",
        "optimized",
    ]
    xs = {v: float(x) for x, v in re.findall(r'<text class="node-title" x="([\d.]+)"[^>]*>([\d.]+) ·', svg)}
    assert xs["1.0.0"] < xs["1.1.0"] < xs["1.2.0"] and xs["1.1.0"] == xs["1.0.1"]
    assert "held-out 0.910" in svg and 'href="/v/1.2.0"' in svg and svg.count('class="node active') == 2


def test_a_clipped_lift_chart_caps_its_axis_at_a_few_mdes_so_early_intervals_do_not_squash_it() -> None:
    series = {"t": [Band(0, 0.5, -5.0, 6.0), Band(60, 0.12, 0.02, 0.22), Band(120, 0.11, 0.05, 0.17)]}

    def top_tick(svg: str) -> float:
        return max(float(t) for t in re.findall(r'text-anchor="end">(-?[\d.]+)</text>', svg))

    assert top_tick(str(lift_chart(series, label="l", y_label="y", mde=0.1))) >= 6.0
    clipped = str(lift_chart(series, label="l", y_label="y", mde=0.1, clip=True))
    assert top_tick(clipped) <= 1.0 and 'data-points="3"' in clipped


def test_since_starts_the_time_axis_before_the_first_point() -> None:
    series = {"t": [Band(3600, 0.1, 0.0, 0.2), Band(7200, 0.1, 0.05, 0.15)]}
    late = str(lift_chart(series, label="l", y_label="y"))
    early = str(lift_chart(series, label="l", y_label="y", since=0))
    assert ">00:00<" in early and ">00:00<" not in late

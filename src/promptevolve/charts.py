"""Charts as SVG, drawn on the server: pure functions from numbers to markup (no I/O).

The one chart module: the dashboard's pages and the experiment report file (``ab report --html``,
``experiments.report_page``) draw their charts here, so a lift chart looks and reads the same in both.

Why server-side SVG rather than a JavaScript charting library: the pages need three simple chart kinds
(a mean with its interval over time, a lift interval over time against a decision boundary, a tree), the
dashboard must run with no build step, and SVG drawn here works without JavaScript, prints, is checked
by plain HTML tests and lets the page's Content-Security-Policy forbid scripts altogether; the report
file opens anywhere, can be mailed or archived. Colours and fonts come from the stylesheet (classes, no
inline styles), so the charts follow the page's theme.

Every chart is an ``<svg>`` with ``data-chart`` naming its kind and ``data-points`` counting what it
drew; with nothing to draw it says so in a text element (and ``data-points="0"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from markupsafe import Markup, escape

__all__ = ["Band", "LineageBox", "lift_chart", "lineage_chart", "nice_ticks", "trend_chart"]

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 20, 18, 40


@dataclass(frozen=True)
class Band:
    """One point: ``x`` (epoch seconds), the value ``y`` and its interval (any may be missing)."""

    x: float
    y: float | None
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class LineageBox:
    """A node of the lineage tree: its label lines, a link, whether it serves, its children."""

    version: str
    strategy: str | None
    score: str
    href: str
    active: bool
    kind: str
    children: tuple[LineageBox, ...] = field(default=())


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 × 10^k steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0]
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks, value = [], start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _fmt_number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _fmt_time(x: float, span: float) -> str:
    moment = datetime.fromtimestamp(x, UTC)
    return moment.strftime("%H:%M:%S" if span < 600 else "%H:%M" if span < 86_400 * 2 else "%m-%d %H:%M")


@dataclass(frozen=True)
class _Frame:
    x0: float
    x1: float
    y0: float
    y1: float

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / ((self.x1 - self.x0) or 1.0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return HEIGHT - BOTTOM - (y - self.y0) / ((self.y1 - self.y0) or 1.0) * (HEIGHT - TOP - BOTTOM)


def _svg(kind: str, label: str, points: int, body: Sequence[str]) -> Markup:
    head = (
        f'<svg class="chart" data-chart="{kind}" data-points="{points}" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _empty(kind: str, label: str, message: str) -> Markup:
    text = (
        f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">{escape(message)}</text>'
    )
    return _svg(kind, label, 0, [text])


def _axes(frame: _Frame, y_ticks: Sequence[float], y_label: str) -> list[str]:
    out = ['<g class="axis">']
    for t in y_ticks:
        y = frame.py(t)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt_number(t)}</text>')
    span = frame.x1 - frame.x0
    for i, anchor in enumerate(("start", "middle", "middle", "middle", "end")):
        x = frame.x0 + span * i / 4
        out.append(
            f'<text x="{frame.px(x):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="{anchor}">'
            f"{_fmt_time(x, span)}</text>"
        )
    out.append(
        f'<text class="label" transform="translate(14 {(HEIGHT - BOTTOM + TOP) / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(y_label)}</text>'
    )
    out.append(
        f'<text class="label" x="{WIDTH - RIGHT}" y="{HEIGHT - 4}" text-anchor="end">time (UTC)</text>'
    )
    out.append("</g>")
    return out


def _runs(points: Sequence[Band]) -> list[list[tuple[float, float, float | None, float | None]]]:
    """Consecutive points that have a value, as (x, y, low, high); a missing value breaks the line."""
    runs: list[list[tuple[float, float, float | None, float | None]]] = [[]]
    for p in points:
        if p.y is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((p.x, p.y, p.low, p.high))
    return [r for r in runs if r]


def _series(frame: _Frame, points: Sequence[Band], css: str) -> list[str]:
    def at(x: float, y: float) -> str:
        return f"{frame.px(x):.1f},{frame.py(y):.1f}"

    out = []
    for run in _runs(points):
        banded = [(x, lo, hi) for x, _, lo, hi in run if lo is not None and hi is not None]
        if len(banded) >= 2:
            outline = [at(x, hi) for x, _, hi in banded] + [at(x, lo) for x, lo, _ in reversed(banded)]
            out.append(f'<polygon class="band {css}" points="{" ".join(outline)}"/>')
        else:
            out.extend(
                f'<line class="whisker {css}" x1="{frame.px(x):.1f}" x2="{frame.px(x):.1f}" '
                f'y1="{frame.py(lo):.1f}" y2="{frame.py(hi):.1f}"/>'
                for x, lo, hi in banded
            )
        out.append(f'<polyline class="line {css}" points="{" ".join(at(x, y) for x, y, _, _ in run)}"/>')
        out.extend(
            f'<circle class="dot {css}" cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="3">'
            f"<title>{_fmt_number(y)}</title></circle>"
            for x, y, _, _ in run
        )
    return out


def _values(series: Sequence[Sequence[Band]]) -> list[float]:
    return [v for s in series for p in s for v in (p.y, p.low, p.high) if v is not None and math.isfinite(v)]


def trend_chart(points: Sequence[Band], *, label: str, y_label: str, bounded: bool = False) -> Markup:
    """A metric's mean per time bucket with its interval as a band."""
    values = _values([points])
    if not values:
        return _empty("trend", label, "no measured executions in this window")
    low, high = (0.0, 1.0) if bounded else (min(values), max(values))
    ticks = nice_ticks(min(low, min(values)), max(high, max(values)))
    frame = _Frame(min(p.x for p in points), max(p.x for p in points), ticks[0], ticks[-1])
    body = _axes(frame, ticks, y_label) + _series(frame, points, "s0")
    return _svg("trend", label, sum(p.y is not None for p in points), body)


def _clipped(series: Mapping[str, Sequence[Band]], mde: float) -> dict[str, list[Band]]:
    """The series with every value held within ± a few MDEs of zero (see ``lift_chart``)."""
    points = [p for s in series.values() for p in s]
    estimates = [abs(p.y) for p in points if p.y is not None and math.isfinite(p.y)]
    bounds = sorted(max(abs(p.low), abs(p.high)) for p in points if p.low is not None and p.high is not None)
    late = bounds[len(bounds) // 2] if bounds else 0.0
    limit = max(2.0 * mde, 1.5 * max(estimates, default=0.0), min(late, 6.0 * mde))

    def clip(v: float | None) -> float | None:
        return None if v is None else max(-limit, min(limit, v))

    return {arm: [Band(p.x, clip(p.y), clip(p.low), clip(p.high)) for p in s] for arm, s in series.items()}


def lift_chart(
    series: Mapping[str, Sequence[Band]],
    *,
    label: str,
    y_label: str,
    boundary: float = 0.0,
    mde: float | None = None,
    since: float | None = None,
    clip: bool = False,
) -> Markup:
    """Each treatment's lift and running interval over time, with the decision boundary (no effect)
    and the minimum detectable effect on either side.

    ``since`` starts the time axis there (an experiment's start) instead of at the first point.
    ``clip`` (with an MDE) caps the lift axis at a few MDEs, the early intervals' bounds clipped at the
    edge: they are very wide, and uncapped they squash the decision region into a thin line."""
    if clip and mde:
        series = _clipped(series, mde)
    values = _values(list(series.values()))
    if not values:
        return _empty("lift", label, "no comparison yet: the measurement has not collected enough units")
    marks = [boundary] + ([boundary + mde, boundary - mde] if mde else [])
    ticks = nice_ticks(min(values + marks), max(values + marks))
    xs = [p.x for s in series.values() for p in s] + ([since] if since is not None else [])
    frame = _Frame(min(xs), max(xs), ticks[0], ticks[-1])
    body = _axes(frame, ticks, y_label)
    y = frame.py(boundary)
    body.append(f'<line class="boundary" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
    body.append(
        f'<text class="boundary-label" x="{WIDTH - RIGHT - 4}" y="{y - 5:.1f}" '
        'text-anchor="end">no effect</text>'
    )
    for m in marks[1:]:
        ym = frame.py(m)
        body.append(f'<line class="mde" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ym:.1f}" y2="{ym:.1f}"/>')
    body.append(
        f'<text class="mde-label" x="{LEFT + 4}" y="{frame.py(marks[1]) - 4:.1f}">MDE</text>' if mde else ""
    )
    drawn = 0
    for i, (arm, points) in enumerate(series.items()):
        body.extend(_series(frame, points, f"s{i % 6}"))
        last = next(((p.x, p.y) for p in reversed(points) if p.y is not None), None)
        if last is not None:
            body.append(
                f'<text class="series-label s{i % 6}" x="{frame.px(last[0]) - 4:.1f}" '
                f'y="{frame.py(last[1]) - 8:.1f}" text-anchor="end">{escape(arm)}</text>'
            )
        drawn += sum(p.y is not None for p in points)
    return _svg("lift", label, drawn, body)


# --- lineage --------------------------------------------------------------------------------------

_BOX_W, _BOX_H, _COL, _ROW = 186, 46, 262, 64


def _layout(roots: Sequence[LineageBox]) -> dict[int, tuple[LineageBox, int, float]]:
    """Depth and row of every node: leaves take rows in order, a parent sits at its children's middle."""
    placed: dict[int, tuple[LineageBox, int, float]] = {}
    next_row = 0.0

    def place(node: LineageBox, depth: int) -> float:
        nonlocal next_row
        if node.children:
            rows = [place(c, depth + 1) for c in node.children]
            row = (rows[0] + rows[-1]) / 2
        else:
            row, next_row = next_row, next_row + 1
        placed[id(node)] = (node, depth, row)
        return row

    for root in roots:
        place(root, 0)
    return placed


def _edges(node: LineageBox, placed: dict[int, tuple[LineageBox, int, float]]) -> list[str]:
    out = []
    _, depth, row = placed[id(node)]
    x1, y1 = 10 + depth * _COL + _BOX_W, 10 + row * _ROW + _BOX_H / 2
    for child in node.children:
        _, cdepth, crow = placed[id(child)]
        x2, y2 = 10 + cdepth * _COL, 10 + crow * _ROW + _BOX_H / 2
        mid = (x1 + x2) / 2
        out.append(f'<path class="edge" d="M{x1},{y1:.1f} C{mid},{y1:.1f} {mid},{y2:.1f} {x2},{y2:.1f}"/>')
        out.append(
            f'<text class="edge-label" x="{mid}" y="{(y1 + y2) / 2 - 4:.1f}" text-anchor="middle">'
            f"{escape(child.strategy or child.kind)}</text>"
        )
        out.extend(_edges(child, placed))
    return out


def lineage_chart(roots: Sequence[LineageBox], *, label: str) -> Markup:
    """The lineage forest left to right: each node a version with its score, each edge the strategy
    that made the child."""
    if not roots:
        return _empty("lineage", label, "no variants")
    placed = _layout(roots)
    width = 20 + (max(d for _, d, _ in placed.values()) + 1) * _COL
    height = 20 + (max(r for _, _, r in placed.values()) + 1) * _ROW
    body: list[str] = []
    for root in roots:
        body.extend(_edges(root, placed))
    for node, depth, row in placed.values():
        x, y = 10 + depth * _COL, 10 + row * _ROW
        state = "active" if node.active else "inactive"
        body.append(
            f'<a class="node {state} kind-{escape(node.kind)}" href="{escape(node.href)}">'
            f'<rect x="{x}" y="{y:.1f}" width="{_BOX_W}" height="{_BOX_H}" rx="6"/>'
            f'<text class="node-title" x="{x + 8}" y="{y + 19:.1f}">'
            f"{escape(node.version)} · {escape(node.kind)}</text>"
            f'<text class="node-score" x="{x + 8}" y="{y + 36:.1f}">{escape(node.score)}</text></a>'
        )
    head = (
        f'<svg class="chart lineage" data-chart="lineage" data-points="{len(placed)}" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {width} {height:.0f}" width="{width}" '
        f'height="{height:.0f}" xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")

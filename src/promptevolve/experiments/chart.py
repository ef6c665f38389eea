"""A self-contained HTML report of an experiment, with the lift interval over time drawn as inline SVG.

Drawn on the server as plain SVG elements (no JavaScript, no fonts or scripts from the network, no
build step), so the file opens anywhere, can be mailed or archived, and is checked by tests as text.
Each treatment gets one chart: the interval of its lift against the control (shaded band) and the
estimate (line) at the end of each time bucket, the zero line, and the **decision boundary** ±MDE
(dashed): an interval wholly above +MDE or below −MDE is a clear effect, one inside both lines means no
difference worth having. Early intervals are very wide; the y axis is capped at a few MDEs so the
decision region stays readable, and bands beyond it are clipped at the edge.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from promptevolve.experiments.models import AnalysisResult, ExperimentReport, SeriesPoint

__all__ = ["lift_chart_svg", "report_html"]

_W, _H = 760, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 70, 20, 30, 40


def _fmt(value: float | None, relative: bool) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 100:+.2f} %" if relative else f"{value:+.4f}"


def _y_limit(points: Sequence[SeriesPoint], mde: float) -> float:
    estimates = [abs(p.estimate) for p in points if p.estimate is not None]
    bounds = [max(abs(p.ci_low or 0.0), abs(p.ci_high or 0.0)) for p in points if p.ci_low is not None]
    late = sorted(bounds)[len(bounds) // 2] if bounds else 0.0
    return max(2.0 * mde, 1.5 * max(estimates, default=0.0), min(late, 6.0 * mde))


@dataclass(frozen=True)
class _Frame:
    """Maps times and lifts to SVG coordinates."""

    t0: float
    t1: float
    limit: float

    def x(self, t: float) -> float:
        return _LEFT + (t - self.t0) / (self.t1 - self.t0) * (_W - _LEFT - _RIGHT)

    def y(self, v: float) -> float:
        v = max(-self.limit, min(self.limit, v))
        return _TOP + (self.limit - v) / (2 * self.limit) * (_H - _TOP - _BOTTOM)

    def hline(self, v: float, css: str) -> str:
        return (
            f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{self.y(v):.1f}" y2="{self.y(v):.1f}" class="{css}"/>'
        )

    def axes(self, relative: bool) -> str:
        parts = [
            f'<rect x="{_LEFT}" y="{_TOP}" width="{_W - _LEFT - _RIGHT}" '
            f'height="{_H - _TOP - _BOTTOM}" class="frame"/>'
        ]
        for k in (-1.0, -0.5, 0.0, 0.5, 1.0):
            v = k * self.limit
            label = _fmt(v, relative)
            parts.append(
                f'<text x="{_LEFT - 6}" y="{self.y(v) + 4:.1f}" text-anchor="end" class="tick">{label}</text>'
            )
        span = self.t1 - self.t0
        unit, scale = ("h", 3600.0) if span >= 7200 else (("min", 60.0) if span >= 120 else ("s", 1.0))
        for k in range(5):
            t = self.t0 + span * k / 4
            label = f"{(t - self.t0) / scale:.0f} {unit}"
            parts.append(
                f'<text x="{self.x(t):.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle" '
                f'class="tick">{label}</text>'
            )
        return "".join(parts)


def lift_chart_svg(
    points: Sequence[SeriesPoint], *, mde: float, relative: bool, title: str, start: float | None = None
) -> str:
    """One treatment's lift over time as an SVG element (see the module docstring)."""
    drawn = [
        (p.at, p.estimate, p.ci_low, p.ci_high)
        for p in points
        if p.estimate is not None and p.ci_low is not None and p.ci_high is not None
    ]
    head = f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {_H}" role="img" class="chart">'
    caption = f'<text x="{_LEFT}" y="18" class="title">{html.escape(title)}</text>'
    if not drawn:
        empty = f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">not enough data yet</text>'
        return f"{head}{caption}{empty}</svg>"
    t0 = start if start is not None else drawn[0][0]
    frame = _Frame(t0, max(drawn[-1][0], t0 + 1.0), _y_limit(points, mde))
    upper = [f"{frame.x(t):.1f},{frame.y(high):.1f}" for t, _, _, high in drawn]
    lower = [f"{frame.x(t):.1f},{frame.y(low):.1f}" for t, _, low, _ in reversed(drawn)]
    line = " ".join(f"{frame.x(t):.1f},{frame.y(est):.1f}" for t, est, _, _ in drawn)
    label = f"+MDE {_fmt(mde, relative)}"
    return "".join(
        [
            head,
            caption,
            frame.axes(relative),
            f'<polygon points="{" ".join(upper + lower)}" class="band"/>',
            frame.hline(mde, "boundary"),
            frame.hline(-mde, "boundary"),
            frame.hline(0.0, "zero"),
            f'<polyline points="{line}" class="estimate"/>',
            f'<text x="{_W - _RIGHT}" y="{frame.y(mde) - 4:.1f}" text-anchor="end" '
            f'class="label">{label}</text>',
            "</svg>",
        ]
    )


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1f2933;max-width:64rem}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .6rem;border-bottom:1px solid #d9e2ec;
text-align:right} th:first-child,td:first-child{text-align:left} .reason{background:#f0f4f8;padding:.6rem}
.chart{width:100%;max-width:760px;height:auto} .band{fill:#9fb3c8;opacity:.45} .estimate{fill:none;
stroke:#243b53;stroke-width:2} .zero{stroke:#486581;stroke-width:1} .boundary{stroke:#d64545;
stroke-dasharray:6 4} .frame{fill:none;stroke:#bcccdc} .tick,.label{font-size:11px;fill:#486581}
.title{font-size:13px;font-weight:600;fill:#243b53} .harm{color:#d64545;font-weight:600}
table.log th:last-child,table.log td:last-child{text-align:left}
"""


def _cell(value: object) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def _arms_table(analysis: AnalysisResult) -> str:
    rel = analysis.experiment.relative
    rows = []
    for a in analysis.arms:
        lift = a.lift
        interval = f"[{_fmt(lift.ci_low, rel)}, {_fmt(lift.ci_high, rel)}]" if lift else ""
        evidence = ""
        if lift is not None:
            evidence = (
                f"{lift.chance_to_win:.1%} to win"
                if lift.chance_to_win is not None
                else f"p = {lift.p_value:.3g}"
            )
        if a.probability_best is not None:
            evidence = f"P(best) {a.probability_best:.1%}"
        cells = [
            f"{a.arm}{' (control)' if a.is_control and a.arm != 'control' else ''}",
            a.version,
            f"{a.share:g} %",
            a.units,
            a.executions,
            "–" if a.mean is None else f"{a.mean:.4g}",
            _fmt(lift.estimate, rel) if lift else "",
            interval,
            evidence,
        ]
        rows.append("<tr>" + "".join(_cell(c) for c in cells) + "</tr>")
    head = "".join(
        f"<th>{h}</th>"
        for h in ("arm", "version", "share", "units", "calls", "mean", "lift", "interval", "p / chance")
    )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _guardrails_table(analysis: AnalysisResult) -> str:
    if not analysis.guardrails:
        return "<p>no guardrail measured yet</p>"
    rows = []
    for g in analysis.guardrails:
        tolerance = _fmt(g.tolerance, g.relative).lstrip("+")
        verdict = '<td class="harm">harmed</td>' if g.harmed else "<td>ok</td>"
        cells = [
            g.metric,
            g.arm,
            _fmt(g.estimate, g.relative),
            f"[{_fmt(g.ci_low, g.relative)}, {_fmt(g.ci_high, g.relative)}]",
            tolerance,
        ]
        rows.append("<tr>" + "".join(_cell(c) for c in cells) + verdict + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in ("guardrail", "arm", "lift", "interval", "tolerance", ""))
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _decisions_table(report: ExperimentReport) -> str:
    rows = [
        "<tr>"
        + "".join(_cell(c) for c in (d.at.strftime("%Y-%m-%d %H:%M:%S"), d.action, d.actor or ""))
        + f"<td>{html.escape(d.reason)}</td></tr>"
        for d in report.decisions
    ]
    head = "".join(f"<th>{h}</th>" for h in ("at (UTC)", "action", "actor", "reason"))
    return f'<table class="log"><tr>{head}</tr>{"".join(rows)}</table>'


def report_html(report: ExperimentReport) -> str:
    """The whole report as one HTML document (inline CSS and SVG, nothing fetched)."""
    a, e = report.analysis, report.analysis.experiment
    srm = (
        "n/a" if a.srm is None else f"p = {a.srm.p_value:.3g}{' — blocks decisions' if a.srm.blocks else ''}"
    )
    charts = []
    start = report.series_start
    for arm in [x for x in e.arms if not x.is_control]:
        points = [p for p in report.series if p.arm == arm.arm]
        title = f"lift of {arm.arm} ({arm.version}) over control on {e.metric}"
        charts.append(lift_chart_svg(points, mde=e.mde, relative=e.relative, title=title, start=start))
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(e.name)}</title><style>{_CSS}</style></head><body>"
        f"<h1>Experiment {e.id}: {html.escape(e.name)}</h1>"
        f"<p>prompt <b>{html.escape(e.prompt)}</b> · status <b>{e.status}</b> · {e.mode} · primary metric "
        f"<b>{html.escape(e.metric)}</b> ({'relative' if e.relative else 'absolute'} lift, {e.procedure}, "
        f"alpha {e.alpha:g}, MDE {_fmt(e.mde, e.relative).lstrip('+')}, minimum {e.min_sample} units per arm)"
        f" · SRM {srm}</p>"
        f'<p class="reason"><b>{html.escape(a.verdict)}</b>: {html.escape(a.reason)}</p>'
        f"<h2>Arms</h2>{_arms_table(a)}<h2>Guardrails</h2>{_guardrails_table(a)}"
        f"<h2>Lift over time</h2><p>{html.escape(report.series_note)}; "
        "dashed: the decision boundary ±MDE.</p>"
        + "".join(charts)
        + f"<h2>Decision log</h2>{_decisions_table(report)}"
        + f"<p><small>generated {generated}</small></p></body></html>"
    )

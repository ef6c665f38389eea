"""A self-contained HTML report of an experiment (``ab report --html``, the demo), with the lift
interval over time drawn as inline SVG.

One HTML file: inline CSS and SVG, no JavaScript, no fonts or scripts from the network, so it opens
anywhere, can be mailed or archived, and is checked by tests as text. Each treatment gets one chart,
drawn by ``promptevolve.charts.lift_chart`` as on the dashboard: the interval of its lift against the
control (band) and the estimate (line) at the end of each time bucket, the no-effect line, and the MDE
on either side (dotted): an interval wholly beyond ±MDE is a clear effect, one inside both lines means
no difference worth having. Early intervals are very wide; the lift axis is capped at a few MDEs so the
decision region stays readable, and bands beyond it are clipped at the edge.
"""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime

from promptevolve.charts import Band, lift_chart
from promptevolve.experiments.models import AnalysisResult, ExperimentReport

__all__ = ["report_html"]


def _fmt(value: float | None, relative: bool) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value * 100:+.2f} %" if relative else f"{value:+.4f}"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem;color:#1f2933;max-width:64rem}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0} td,th{padding:.25rem .6rem;border-bottom:1px solid #d9e2ec;
text-align:right} th:first-child,td:first-child{text-align:left} .reason{background:#f0f4f8;padding:.6rem}
.harm{color:#d64545;font-weight:600} h3{font-size:.95rem;margin:1.2rem 0 .3rem}
svg.chart{width:100%;max-width:760px;height:auto;display:block} svg.chart text{font-size:11px;fill:#486581}
svg.chart .grid{stroke:#edf0f5;stroke-width:1} svg.chart .line{fill:none;stroke-width:2}
svg.chart .band{stroke:none;fill-opacity:.18} svg.chart .whisker{stroke-width:1.5}
svg.chart .boundary{stroke:#1d2330;stroke-width:1.5;stroke-dasharray:6 4}
svg.chart text.boundary-label{fill:#1d2330;font-weight:600} svg.chart text.series-label{font-weight:700}
svg.chart .mde{stroke:#d64545;stroke-width:1;stroke-dasharray:2 4} svg.chart .s0{stroke:#243b53;fill:#243b53}
svg.chart polyline.line.s0{fill:none} svg.chart text.empty{font-size:14px}
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
    unit = "relative lift" if e.relative else f"lift of {e.metric}"
    for arm in [x for x in e.arms if not x.is_control]:
        bands = [Band(p.at, p.estimate, p.ci_low, p.ci_high) for p in report.series if p.arm == arm.arm]
        title = f"lift of {arm.arm} ({arm.version}) over control on {e.metric}"
        chart = lift_chart(
            {arm.arm: bands}, label=title, y_label=unit, mde=e.mde, since=report.series_start, clip=True
        )
        charts.append(f"<h3>{html.escape(title)}</h3>{chart}")
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
        "dashed: no effect; dotted: ±MDE.</p>"
        + "".join(charts)
        + f"<h2>Decision log</h2>{_decisions_table(report)}"
        + f"<p><small>generated {generated}</small></p></body></html>"
    )

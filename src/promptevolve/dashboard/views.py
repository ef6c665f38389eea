"""What each page shows: the API's JSON, gathered (independent calls at once) and shaped for a template.

No numbers are computed here beyond presentation (which window, which labels): the means, intervals,
lifts and decisions all come from the API.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from promptevolve.charts import Band, LineageBox, lift_chart, lineage_chart, trend_chart
from promptevolve.core.statuses import LIVE
from promptevolve.dashboard.client import ApiClient

__all__ = [
    "METRICS",
    "WINDOWS",
    "autopilot_page",
    "evolution_page",
    "experiment_page",
    "experiments_page",
    "prompt_page",
    "prompts_page",
    "variant_page",
]

WINDOWS = {"1h": 3600, "6h": 6 * 3600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
#: Metrics offered on a variant's page: (name, label, bounded in [0, 1]).
METRICS = {
    "composite": ("composite score", True),
    "accuracy": ("accuracy", True),
    "satisfaction": ("satisfaction", True),
    "thumbs": ("thumbs-up rate", True),
    "latency_ms": ("latency (ms)", False),
    "error_rate": ("error rate", True),
    "cost_usd": ("cost (USD)", False),
}
_ALL = 500


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def prompt_href(base: str, name: str) -> str:
    return f"{base}/prompts/{quote(name, safe='')}"


def variant_href(base: str, name: str, version: str) -> str:
    return f"{prompt_href(base, name)}/variants/{quote(version, safe='')}"


async def prompts_page(api: ApiClient) -> dict[str, Any]:
    prompts, experiments = await asyncio.gather(
        api.get("/prompts", limit=_ALL), api.get("/experiments", limit=_ALL)
    )
    live = [e for e in experiments["items"] if e["status"] in LIVE]
    return {"prompts": prompts["items"], "live": live}


def _boxes(
    base: str, name: str, nodes: list[dict[str, Any]], production: dict[str, tuple[float | None, int]]
) -> tuple[LineageBox, ...]:
    boxes = []
    for n in nodes:
        if n.get("score") is not None:
            score = f"held-out {n['score']:.3f}"
        else:
            mean, count = production.get(n["version"], (None, 0))
            score = f"production {mean:.3f} (n={count})" if mean is not None else "no score yet"
        boxes.append(
            LineageBox(
                version=n["version"],
                strategy=n.get("strategy"),
                score=score,
                href=variant_href(base, name, n["version"]),
                active=bool(n["active"]),
                kind=n["kind"],
                children=_boxes(base, name, n.get("children", []), production),
            )
        )
    return tuple(boxes)


async def _production_scores(
    api: ApiClient, name: str, versions: list[str]
) -> dict[str, tuple[float | None, int]]:
    """Each version's composite over the last 30 days, one bucket (a node label, not a decision)."""
    until = time.time()
    since = until - WINDOWS["30d"]

    async def one(version: str) -> tuple[float | None, int]:
        trend = await api.get(
            f"/metrics/prompts/{quote(name, safe='')}/variants/{quote(version, safe='')}",
            metric="composite",
            since=_iso(since),
            until=_iso(until),
            buckets=1,
        )
        point = trend["points"][0]
        return point["mean"], point["executions"]

    results = await asyncio.gather(*(one(v) for v in versions[:40]))
    return dict(zip(versions, results, strict=False))


async def prompt_page(api: ApiClient, base: str, name: str) -> dict[str, Any]:
    path = f"/prompts/{quote(name, safe='')}"
    prompt, variants, lineage, experiments, history = await asyncio.gather(
        api.get(path),
        api.get(f"{path}/variants", limit=_ALL),
        api.get(f"{path}/lineage"),
        api.get("/experiments", prompt=name, limit=_ALL),
        api.get(f"{path}/history", limit=15),
    )
    production = await _production_scores(api, name, [v["version"] for v in variants["items"]])
    roots = _boxes(base, name, lineage["roots"], production)
    return {
        "prompt": prompt,
        "variants": variants["items"],
        "experiments": experiments["items"],
        "history": history["items"],
        "lineage_svg": lineage_chart(roots, label=f"Lineage of {name}"),
    }


async def variant_page(
    api: ApiClient, name: str, version: str, *, window: str, metric: str
) -> dict[str, Any]:
    path = f"/prompts/{quote(name, safe='')}/variants/{quote(version, safe='')}"
    until = time.time()
    since = until - WINDOWS[window]
    variant, trend, executions = await asyncio.gather(
        api.get(path),
        api.get(f"/metrics{path}", metric=metric, since=_iso(since), until=_iso(until), buckets=24),
        api.get("/executions", prompt=name, version=version, limit=25),
    )
    label, bounded = METRICS[metric]
    points = [
        Band(_epoch(p["start"]) + trend["bucket_seconds"] / 2, p["mean"], p["ci_low"], p["ci_high"])
        for p in trend["points"]
    ]
    chart = trend_chart(points, label=f"{label} of {name}@{version}", y_label=label, bounded=bounded)
    measured = sum(p["executions"] for p in trend["points"])
    return {
        "variant": variant,
        "executions": executions["items"],
        "trend_svg": chart,
        "measured": measured,
        "window": window,
        "metric": metric,
        "windows": list(WINDOWS),
        "metrics": METRICS,
    }


async def experiments_page(api: ApiClient) -> dict[str, Any]:
    experiments = await api.get("/experiments", limit=_ALL)
    return {"experiments": list(reversed(experiments["items"]))}


def _ramp(info: dict[str, Any]) -> str:
    ladder, step = info["ramp"], info["ramp_step"]
    if not ladder:
        return "no ramp (full test shares)"
    if step is None:
        return f"not ramping; ladder {' → '.join(f'{r:g} %' for r in ladder)}"
    return f"step {step + 1} of {len(ladder)} ({ladder[min(step, len(ladder) - 1)]:g} %)"


async def experiment_page(api: ApiClient, experiment_id: int) -> dict[str, Any]:
    report = await api.get(f"/experiments/{experiment_id}/report")
    info = report["analysis"]["experiment"]
    series: dict[str, list[Band]] = {}
    for p in report["series"]:
        series.setdefault(p["arm"], []).append(Band(p["at"], p["estimate"], p["ci_low"], p["ci_high"]))
    unit = "relative lift" if info["relative"] else f"lift of {info['metric']}"
    chart = lift_chart(
        series, label=f"Lift over time, experiment {experiment_id}", y_label=unit, mde=info["mde"]
    )
    live = info["status"] in LIVE
    return {
        "report": report,
        "info": info,
        "analysis": report["analysis"],
        "lift_svg": chart,
        "ramp": _ramp(info),
        "can_promote": live,
        "can_rollback": info["status"] not in ("draft", "rolled_back", "stopped"),
    }


async def evolution_page(api: ApiClient) -> dict[str, Any]:
    runs, jobs = await asyncio.gather(api.get("/evolution/runs", limit=50), api.get("/jobs", limit=50))
    return {
        "runs": runs["items"],
        "jobs": jobs["items"],
        "total_runs": runs["total"],
        "total_jobs": jobs["total"],
    }


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


async def autopilot_page(api: ApiClient) -> dict[str, Any]:
    """Every prompt with a policy: its step, policy, budget left today and last decisions."""
    status = await api.get("/autopilot/status", last=8)
    for item in status["prompts"]:
        quiet = (item["policy"] or {}).get("quiet_hours")
        item["quiet"] = f"{_hhmm(quiet['start_minute'])}-{_hhmm(quiet['end_minute'])}" if quiet else None
    return {"status": status, "prompts": status["prompts"], "unreadable": status["unreadable"]}

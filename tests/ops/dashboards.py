"""Reading the generated dashboards: every panel query, and the metric names queries and rules use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
RULE_FILES = sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
# Words in PromQL that look like metric names but are functions, keywords or label names.
_NOT_METRICS = {
    "sum", "by", "rate", "increase", "histogram_quantile", "max", "min", "avg", "count", "or", "and", "unless",
    "without", "on", "ignoring", "absent", "le", "offset", "bool", "topk", "bottomk", "vector", "time",
}  # fmt: skip


def panels(path: Path) -> list[dict[str, Any]]:
    """Every panel of a dashboard that has queries (rows excluded)."""
    return [p for p in json.loads(path.read_text())["panels"] if p.get("type") != "row"]


def queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every query of every generated dashboard."""
    return [(path.name, p["title"], t["expr"]) for path in DASHBOARDS for p in panels(path) for t in p["targets"]]


def expand(expr: str, rate_interval: str = "30s", interval: str = "5s", range_: str = "5m") -> str:
    """Grafana's variables as Grafana would fill them for a query sent to Prometheus."""
    return expr.replace("$__rate_interval", rate_interval).replace("$__interval", interval).replace("$__range", range_)


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (label values and names inside braces are not metrics)."""
    without_braces = re.sub(r"\{[^}]*\}", "{}", expr)
    without_groupings = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", without_braces)
    without_strings = re.sub(r"\"[^\"]*\"", "", without_groupings)
    names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r"\[[^\]]*\]", "", without_strings)))
    return {n for n in names if n not in _NOT_METRICS and not re.fullmatch(r"\d.*|e\d+", n)}


def alert_exprs() -> dict[str, str]:
    """Alert name -> expression, from every rule file."""
    out = {}
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            out.update({r["alert"]: r["expr"] for r in group["rules"] if "alert" in r})
    return out

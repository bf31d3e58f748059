"""The generated dashboards: fresh, well-formed, and made of queries that can show real data."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from deploy.grafana import generate
from tests.ops.dashboards import DASHBOARDS, ROOT, alert_exprs, expand, metric_names, panels, queries

EXPECTED = {"pipeline-health.json", "channels.json", "candidate-experience.json"}


def test_committed_files_are_what_the_generator_writes() -> None:
    assert generate.main(["--check"]) == 0, "run: python -m deploy.grafana.generate"
    assert {p.name for p in DASHBOARDS} == EXPECTED


def test_dashboards_have_unique_uids_titles_and_panel_ids() -> None:
    boards = [json.loads(p.read_text()) for p in DASHBOARDS]
    assert len({b["uid"] for b in boards}) == len(boards)
    for b in boards:
        ids = [p["id"] for p in b["panels"]]
        assert len(ids) == len(set(ids)) and all(i > 0 for i in ids), b["title"]
        assert [v["name"] for v in b["templating"]["list"]] == ["datasource"]


def test_every_panel_queries_prometheus_with_a_description() -> None:
    for path in DASHBOARDS:
        for p in panels(path):
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
            assert p["description"] and p["targets"], p["title"]
            assert len({t["refId"] for t in p["targets"]}) == len(p["targets"]), p["title"]


@pytest.mark.parametrize(("board", "title", "expr"), queries())
def test_queries_are_data_not_constants(board: str, title: str, expr: str) -> None:
    assert "vector(" not in expr, f"{board} / {title}: a constant"
    names = metric_names(expr)
    assert names and names != {"up"}, f"{board} / {title}: only `up` or no metric at all"
    for window in re.findall(r"\[([^\]]+)\]", expr):
        assert window in ("$__rate_interval", "$__range"), f"{board} / {title}: fixed window [{window}]"
    assert "[$__range]" not in expr or "increase(" in expr, f"{board} / {title}: $__range is for totals"


def test_expansion_fills_every_grafana_variable() -> None:
    for _, _, expr in queries():
        assert "$" not in expand(expr)


def test_metric_name_extraction_reads_promql() -> None:
    expr = 'sum by (channel) (rate(a_total{status="sent"}[$__rate_interval])) / sum by (le) (b_bucket) or (c * 0)'
    assert metric_names(expr) == {"a_total", "b_bucket", "c"}
    assert metric_names(alert_exprs()["ServiceDown"]) == {"up"}


def test_provisioning_points_at_compose_prometheus_and_the_mounted_dashboards() -> None:
    base = ROOT / "deploy/grafana/provisioning"
    datasources = yaml.safe_load((base / "datasources/prometheus.yaml").read_text())["datasources"]
    assert [(d["type"], d["url"], d["isDefault"]) for d in datasources] == [
        ("prometheus", "http://prometheus:9090", True)
    ]
    providers = yaml.safe_load((base / "dashboards/candidate-comms.yaml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == ["/var/lib/grafana/dashboards"]

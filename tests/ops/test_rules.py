"""Prometheus configuration and alert rules, checked by Debian's promtool (as in CI and on a fresh machine)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy/prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))
TEST_FILES = sorted((PROMETHEUS / "tests").glob("*.yml"))
ALERTS_REQUIRED = {
    "ServiceDown",
    "ConsumerLagHigh",
    "DeadLettersGrowing",
    "DeliveryFailureRatioHigh",
    "OutboxBacklog",
    "NoTraffic",
    "ConsumerStalled",
    "ConsumerBackingOff",
    "PreferenceViewRestarted",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: `make setup` installs Debian's prometheus package")
    return found


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=60, check=False)


def alert_rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(r for r in group["rules"] if "alert" in r)
    return rules


def test_promtool_checks_the_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_the_config_with_the_rules(promtool: str, tmp_path: Path) -> None:
    """The compose config, its rule path pointed at the checkout (compose mounts them at /etc/prometheus/rules)."""
    text = (PROMETHEUS / "prometheus.yml").read_text()
    assert "/etc/prometheus/rules/*.yml" in text
    local = tmp_path / "prometheus.yml"
    local.write_text(text.replace("/etc/prometheus/rules/*.yml", str(PROMETHEUS / "rules" / "*.yml")))
    result = run(promtool, "check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in result.stdout


def test_promtool_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", *(p.name for p in TEST_FILES), cwd=PROMETHEUS / "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_expects_it_to_fire() -> None:
    fired: set[str] = set()
    for path in TEST_FILES:
        for group in yaml.safe_load(path.read_text())["tests"]:
            fired |= {case["alertname"] for case in group.get("alert_rule_test", []) if case.get("exp_alerts")}
    names = {r["alert"] for r in alert_rules()}
    assert names >= ALERTS_REQUIRED
    assert names <= fired, f"alerts without a firing test: {sorted(names - fired)}"


def test_every_alert_explains_itself_and_links_its_runbook() -> None:
    for rule in alert_rules():
        notes = rule.get("annotations", {})
        assert notes.get("summary") and notes.get("description"), rule["alert"]
        assert rule.get("labels", {}).get("severity") in ("warning", "critical"), rule["alert"]
        assert notes.get("runbook_url") == f"docs/runbooks/{rule['alert']}.md", rule["alert"]
        page = (ROOT / notes["runbook_url"]).read_text()
        assert page.startswith(f"# {rule['alert']}\n")
        for section in ("## What it means", "## What to look at", "## What to do"):
            assert section in page, f"{rule['alert']}: {section}"


def test_compose_scrapes_every_replica_of_the_four_services() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    targets = {
        job["job_name"]: [(sd["names"], sd["type"], sd["port"]) for sd in job["dns_sd_configs"]]
        for job in config["scrape_configs"]
    }
    assert targets == {
        "preference": [(["preference"], "A", 8001)],
        "router": [(["router"], "A", 8002)],
        "notifier": [(["notifier"], "A", 8003)],
        "connectors": [(["connectors"], "A", 8004)],
    }


def test_service_down_watches_every_scraped_service() -> None:
    """A service added to the scrape config but not to ServiceDown could vanish without a page."""
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    expr = next(r for r in alert_rules() if r["alert"] == "ServiceDown")["expr"]
    pattern = expr.split('up{job=~"', 1)[1].split('"', 1)[0]
    assert set(pattern.split("|")) == jobs
    for job in jobs:
        assert f'absent(up{{job="{job}"}})' in expr, job

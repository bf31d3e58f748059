"""Helpers of the live dashboard test: Debian's Prometheus on a free port, service processes, time zones."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from services.common.settings import KafkaSettings, MongoSettings
from tests.ops.dashboards import ROOT
from tests.processes import ServiceProcess, free_port

RULES = ROOT / "deploy/prometheus/rules"


def service_processes(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str, logs: Path, **extra: dict[str, str]
) -> dict[str, ServiceProcess]:
    """The four services as processes on free ports, against this test's topics and database."""
    common = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_PARTITIONS": str(kafka.partitions),
        "MONGODB_URL": mongo.url.get_secret_value(),
        "MONGODB_DATABASE": mongo.database,
    }
    own = {
        "preference": {"PREFERENCE_GROUP_ID": f"{unique}.preference"},
        "router": {"ROUTER_GROUP_ID": f"{unique}.router", "ROUTER_SCHEDULER_INTERVAL_S": "0.2"},
        "notifier": {"NOTIFIER_GROUP_PREFIX": f"{unique}.notifier", "NOTIFIER_RETRY_BASE_S": "0.05"},
        # One connection, so the connector reports its series (at zero) from the start; its ATS API is
        # a closed port: nothing here calls it.
        "connectors": {
            "CONNECTORS_GROUP_ID": f"{unique}.connectors",
            "CONNECTORS_CONNECTIONS__GREENHOUSE__SECRET": f"{unique}-dev-only-secret",
            "CONNECTORS_CONNECTIONS__GREENHOUSE__API_URL": "http://127.0.0.1:9",
        },
    }
    return {
        name: ServiceProcess(name, {**common, **env, **extra.get(name, {})}, logs / f"{name}.log")
        for name, env in own.items()
    }


def prometheus_config(targets: dict[str, int], rules: Path = RULES) -> str:
    """Scrape every second, evaluate the project's rules every second."""
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.yml")],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]} for job, port in targets.items()
        ],
    }
    return json.dumps(config, indent=2)  # YAML is a superset of JSON


async def scraped(url: str, name: str, *labels: str) -> float:
    """Sum of a metric's samples on a service's /metrics whose labels contain every `labels` fragment."""
    async with httpx.AsyncClient(timeout=5) as client:
        text = (await client.get(f"{url}/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") and all(fragment in line for fragment in labels)
    )


def positive(url: str, name: str, *labels: str) -> Callable[[], Any]:
    """A check: the metric's matching samples add up to more than zero."""

    async def check() -> bool:
        return await scraped(url, name, *labels) > 0

    return check


def reported(url: str, fragment: str) -> Callable[[], Any]:
    """A check: the service's /metrics text contains `fragment`."""

    async def check() -> bool:
        async with httpx.AsyncClient(timeout=5) as client:
            return fragment in (await client.get(f"{url}/metrics")).text

    return check


class Prometheus:
    """The HTTP API of a running Prometheus."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client = httpx.AsyncClient(base_url=url, timeout=10)

    async def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector (fails on a PromQL error)."""
        r = await self._client.get("/api/v1/query", params={"query": expr})
        body = r.json()
        assert r.status_code == 200 and body["status"] == "success", f"{expr}: {body}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def value(self, expr: str) -> float:
        """The sum of an instant query's values (0 when it has no series)."""
        return sum(float(s["value"][1]) for s in await self.query(expr))

    async def metric_names(self) -> set[str]:
        """Every metric name Prometheus has stored."""
        r = await self._client.get("/api/v1/label/__name__/values")
        return set(r.json()["data"])

    async def targets_up(self) -> bool:
        """All targets were scraped successfully at least once."""
        r = await self._client.get("/api/v1/targets")
        active = r.json()["data"]["activeTargets"]
        return bool(active) and all(t["health"] == "up" for t in active)

    async def close(self) -> None:
        """Close the client."""
        await self._client.aclose()


def finite(series: Sequence[dict[str, Any]]) -> bool:
    """At least one series with a number (not NaN or Inf)."""
    return any(math.isfinite(float(s["value"][1])) for s in series)


def _spawn(binary: str, targets: dict[str, int], workdir: Path, port: int) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(prometheus_config(targets))
    with (workdir / "prometheus.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--storage.tsdb.retention.time=1h",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@asynccontextmanager
async def prometheus(targets: dict[str, int], workdir: Path) -> AsyncIterator[Prometheus]:
    """Debian's prometheus binary with a generated config and its own storage, on a free port."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: `make setup` installs Debian's prometheus package"
    port = free_port()
    proc = _spawn(binary, targets, workdir, port)
    api = Prometheus(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, (workdir / "prometheus.log").read_text()[-2000:]
            try:
                if (await api._client.get("/-/ready")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "prometheus did not get ready"
            await asyncio.sleep(0.1)
        yield api
    finally:
        await api.close()
        proc.terminate()
        proc.wait(timeout=20)

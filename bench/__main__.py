"""make bench: the real stack, measured, with raw Kafka as the baseline in the same run.

    python -m bench                     # full run (100,000 candidates, 1,000,000 for memory)
    python -m bench --quick             # the smoke `make test` runs: small numbers, every stage
    python -m bench --write-readme      # also refresh the table in README.md

Prints a table, writes bench-results/latest.json. Figures are ratios against the baseline measured in
the same run, because the machine is shared and noisy. The ATS is played by librdkafka (confluent-kafka)
with its default partitioner, as most ATS integrations are (bench/foreign.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import pipeline, stages
from bench.generator import events
from bench.harness import ROOT, infra, progress, world
from bench.memory import fill
from bench.report import render_table, write_readme
from deploy.local import stack
from deploy.local.components import LocalStackSettings

FULL = {
    "baseline": 50_000,
    "db_s": 2.0,
    "preference": 20_000,
    "router": 20_000,
    "notifier": 10_000,
    "candidates": 100_000,
    "events": 120_000,
    "latency_s": 20.0,
    "api": 500,
    "memory": 1_000_000,
}
QUICK = {
    "baseline": 2_000,
    "db_s": 0.5,
    "preference": 300,
    "router": 300,
    "notifier": 300,
    "candidates": 300,
    "events": 400,
    "latency_s": 4.0,
    "api": 40,
    "memory": 3_000,
}


async def run(sizes: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Every stage, in order; each in its own fresh world on the same broker and database."""
    local = LocalStackSettings()
    started_infra = await infra(local)
    results: dict[str, Any] = {"sizes": sizes, "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    try:
        payload = next(events(1, 1)).value
        async with world(local, "base", workdir) as env:
            results["baseline"] = stages.report("baseline", await stages.baseline(env, sizes["baseline"], payload))
        async with world(local, "db", workdir) as env:
            results["database"] = stages.report("database", await stages.database(env, sizes["db_s"]))
        async with world(local, "pref", workdir) as env:
            results["preference"] = stages.report(
                "preference alone (accept + forward)",
                await stages.preference_alone(env, sizes["preference"], min(sizes["preference"], 5_000)),
            )
        async with world(local, "router", workdir) as env:
            results["router"] = stages.report(
                "router alone", await stages.router_alone(env, sizes["router"], min(sizes["router"], 5_000))
            )
        async with world(local, "notif", workdir) as env:
            mail = workdir / f"{env.name}-mail"
            sink = await env.start(
                "smtp-sink", module="deploy.local.smtp_sink", args=("--port", "{port}", "--dir", str(mail))
            )
            results["notifier"] = stages.report(
                "notifier alone", await stages.notifier_alone(env, sizes["notifier"], sink.port, mail)
            )
        async with world(local, "pipe", workdir) as env:
            mail = workdir / f"{env.name}-mail"
            urls = await pipeline.start_pipeline(env, mail)
            results["pipeline"] = stages.report(
                "pipeline",
                await pipeline.throughput(env, mail, sizes["events"], sizes["candidates"], urls["preference"]),
            )
            results["low_rate"] = stages.report(
                "latency at 10 events/s",
                await pipeline.latency(env, 10.0, sizes["latency_s"], min(sizes["candidates"], 10_000), seed=13),
            )
            rate = max(5.0, results["pipeline"]["out_per_s"] / 2)
            results["latency"] = stages.report(
                "latency at half load",
                await pipeline.latency(env, rate, sizes["latency_s"], min(sizes["candidates"], 10_000)),
            )
            ids = [f"{env.name}c{i:07d}" for i in range(min(sizes["candidates"], 1000))]
            views = {p.name: p.url for p in env.processes if p.name in ("router", "notifier")}
            before = await pipeline.propagation_buckets(views)
            results["preference_api"] = stages.report(
                "preference API", await pipeline.preference_api(urls["preference"], ids, sizes["api"], concurrency=8)
            )
            results["propagation"] = stages.report(
                "propagation",
                await pipeline.propagation(views, before),
            )
        async with world(local, "mem", workdir) as env:
            progress(f"producing {sizes['memory']:,} snapshots for the memory measurement")
            await fill(local.bootstrap, env.kafka.topic("preferences.changed"), sizes["memory"], env.partitions)
            out = subprocess.run(  # noqa: ASYNC221 - our own module, measured in a fresh process
                [sys.executable, "-m", "bench.memory", "--bootstrap", local.bootstrap, "--prefix", f"{env.name}."],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
            results["memory"] = stages.report("router memory", json.loads(out.stdout.strip().splitlines()[-1]))
    finally:
        stack.down(local, started_infra)
    return results


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small numbers (the smoke inside make test)")
    parser.add_argument("--write-readme", action="store_true", help="refresh the README's benchmark table")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "latest.json")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    workdir = ROOT / ".local" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    results = asyncio.run(run(sizes, workdir))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    table = render_table(results)
    print(table)
    if args.write_readme:
        write_readme(ROOT / "README.md", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The hot path alone, for before → after measurements of one change: `python -m bench.hotpath`.

Runs the raw-Kafka baseline, the whole pipeline's throughput (CPU per delivery by process, documents
left per delivery by collection) and the latency at a low fixed rate, in one run, and prints one JSON
line. The full `make bench` runs the same stages among the others.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from bench import pipeline, stages
from bench.generator import events
from bench.harness import ROOT, infra, world
from deploy.local import stack
from deploy.local.components import LocalStackSettings


async def run(count: int, candidates: int, low_rate: float, low_seconds: float) -> dict[str, Any]:
    """Baseline, throughput and low-rate latency in fresh worlds on the shared broker and database."""
    local = LocalStackSettings()
    started_infra = await infra(local)
    workdir = ROOT / ".local" / "bench"
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {"events": count, "candidates": candidates}
    try:
        payload = next(events(1, 1)).value
        async with world(local, "base", workdir) as env:
            out["baseline"] = stages.report("baseline", await stages.baseline(env, 20_000, payload))
        async with world(local, "pipe", workdir) as env:
            mail = workdir / f"{env.name}-mail"
            await pipeline.start_pipeline(env, mail)
            out["pipeline"] = stages.report("pipeline", await pipeline.throughput(env, mail, count, candidates, None))
            out["documents"] = stages.report("documents", await pipeline.documents(env, count))
            out["low_rate"] = stages.report(
                "latency at a low rate",
                await pipeline.latency(env, low_rate, low_seconds, min(candidates, 10_000), seed=13),
            )
    finally:
        stack.down(local, started_infra)
    return out


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--candidates", type=int, default=15_000)
    parser.add_argument("--rate", type=float, default=10.0, help="events/s of the low-rate latency run")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    result = asyncio.run(run(args.events, args.candidates, args.rate, args.seconds))
    line = json.dumps(result, default=str)
    print(line)
    if args.out:
        args.out.write_text(line + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where the pipeline's time goes: py-spy samples each service while the pipeline runs a load.

    python -m bench.profile [--events 5000] [--seconds 20]

Writes collapsed stacks to .local/bench/profile-<service>.txt and prints the heaviest frames
(own time and including callees) per service.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
from pathlib import Path

from bench.generator import events
from bench.harness import ROOT, infra, progress, world
from bench.pipeline import start_pipeline
from bench.stages import produce_all
from deploy.local.components import LocalStackSettings
from schemas.topics import ATS_EVENTS


def summarise(collapsed: Path, top: int = 15) -> str:
    """Top frames by own samples and by inclusive samples from py-spy's raw (collapsed) output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    lines = [f"  {total} samples", "  own time:"]
    lines += [f"    {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    lines += ["  including callees (our code):"]
    ours = [(f, n) for f, n in inclusive.most_common() if "services/" in f or "schemas/" in f]
    lines += [f"    {n / total:6.1%}  {f}" for f, n in ours[:top]]
    return "\n".join(lines)


async def run(count: int, seconds: float) -> None:
    """Start the pipeline, drive it, sample it."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    local = LocalStackSettings()
    await infra(local)
    workdir = ROOT / ".local" / "bench"
    async with world(local, "prof", workdir) as env:
        await start_pipeline(env, workdir / f"{env.name}-mail")
        script = list(events(count, count // 2, prefix=env.name))
        procs = {p.name: p for p in env.processes if p.name in ("preference", "router", "notifier")}
        spies = []
        for name, proc in procs.items():
            assert proc.proc is not None
            out = workdir / f"profile-{name}.txt"
            spies.append(
                (
                    name,
                    out,
                    await asyncio.create_subprocess_exec(
                        spy,
                        "record",
                        "--pid",
                        str(proc.proc.pid),
                        "--duration",
                        str(int(seconds)),
                        "--rate",
                        "200",
                        "--format",
                        "raw",
                        "--output",
                        str(out),
                        "--nonblocking",
                        stdout=asyncio.subprocess.DEVNULL,
                        stderr=asyncio.subprocess.DEVNULL,
                    ),
                )
            )
        progress(f"producing {count} events while sampling for {seconds:.0f}s")
        await produce_all(env, ATS_EVENTS, script)
        for name, out, spy_proc in spies:
            await spy_proc.wait()
            print(f"== {name}\n{summarise(out)}")


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.seconds))


if __name__ == "__main__":
    main()

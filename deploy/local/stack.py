"""Install, start, check and stop the local stack.

Kafka (KRaft, jars from Maven Central), FerretDB (embedded launcher built with Go), the SMTP sink,
the provider emulator and the three services. Every start is idempotent, waits for health with a
deadline and names the log to read when something does not come up.

    python -m deploy.local.stack install            # fetch jars, build FerretDB
    python -m deploy.local.stack up [NAME ...]      # start (default: everything)
    python -m deploy.local.stack topics             # create the topics from schemas/topics.py
    python -m deploy.local.stack status | down [NAME ...]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from deploy.local.components import COMPONENTS, INFRA, Component, LocalStackSettings, component_env

ROOT = Path(__file__).resolve().parents[2]


class StackError(RuntimeError):
    """A component could not be installed or did not become healthy."""


def _digest(paths: Sequence[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _require(tool: str, hint: str) -> str:
    found = shutil.which(tool)
    if not found:
        raise StackError(f"'{tool}' is not on PATH; {hint}")
    return found


def install_kafka(settings: LocalStackSettings) -> None:
    """Copy the Kafka jars from Maven Central unless the same pom was installed before."""
    pom = ROOT / "deploy/local/kafka/pom.xml"
    libs = settings.state_dir / "kafka/libs"
    stamp = libs / ".installed"
    want = _digest([pom])
    if stamp.exists() and stamp.read_text() == want:
        return
    mvn = _require("mvn", "install Maven (Debian: apt-get install maven) and Java 17")
    _require("java", "install Java 17 (Debian: apt-get install openjdk-17-jre-headless)")
    print(f"stack: fetching Kafka jars from Maven Central into {libs} ...", flush=True)
    shutil.rmtree(libs, ignore_errors=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
        "-DincludeScope=runtime",
    ]
    if subprocess.run(cmd, check=False).returncode != 0:  # noqa: S603 - fixed command line
        raise StackError("mvn could not fetch the Kafka jars (see its output above)")
    stamp.write_text(want)


FERRETDB_MODULE = "github.com/FerretDB/FerretDB@v1.24.2"

# FerretDB v1.24.2's SQLite backend looks documents up by `_ferretdb_sjson->'$._id'` but indexes
# `_ferretdb_sjson->"_id"`; SQLite only uses an expression index for the identical expression, so
# every find/update/delete by _id scanned the whole collection (148 ms per lookup at 4,800 documents
# of 5 KB, and quadratic slow-downs under load). The same mismatch on the PostgreSQL backend is
# FerretDB issue #4646. v1 is no longer maintained, so the local build carries this one-line fix;
# tests/integration/test_ferretdb_index.py proves lookups use the index.
FERRETDB_PATCHES: tuple[tuple[str, str, str], ...] = (
    # The `_id` index is on `->"_id"`; the query path `->'$._id'` never used it (every lookup scanned).
    (
        "internal/backends/sqlite/metadata/metadata.go",
        "IDColumn = DefaultColumn + \"->'$._id'\"",
        'IDColumn = DefaultColumn + `->"_id"`',
    ),
    # `{_id: {$in: [...]}}` is pushed down to SQLite as `IN (...)` on that index, so a batch of point
    # reads is one command instead of one per document (a scan of the collection before). The handler
    # applies the whole filter to what comes back either way, so the push-down only narrows the rows.
    (
        "internal/backends/sqlite/collection.go",
        """		switch v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		}""",
        """		switch v := v.(type) {
		case string, types.ObjectID:
			whereClause = fmt.Sprintf(` WHERE %s = ?`, metadata.IDColumn)
			args = []any{string(must.NotFail(sjson.MarshalSingleValue(v)))}
		case *types.Document:
			whereClause, args = idInClause(v)
		}""",
    ),
    (
        "internal/backends/sqlite/collection.go",
        "// newCollection creates a new Collection.",
        """// idInClause pushes {$in: [strings or ObjectIDs]} on _id down to SQLite (candidate-comms patch).
func idInClause(d *types.Document) (string, []any) {
	in, err := d.Get("$in")
	arr, ok := in.(*types.Array)
	if err != nil || d.Len() != 1 || !ok || arr.Len() == 0 || arr.Len() > 10000 {
		return "", nil
	}
	args := make([]any, 0, arr.Len())
	for i := 0; i < arr.Len(); i++ {
		switch v := must.NotFail(arr.Get(i)).(type) {
		case string, types.ObjectID:
			args = append(args, string(must.NotFail(sjson.MarshalSingleValue(v))))
		default:
			return "", nil
		}
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")
	return fmt.Sprintf(` WHERE %s IN (%s)`, metadata.IDColumn, marks), args
}

// newCollection creates a new Collection.""",
    ),
)


def _make_writable(tree: Path) -> None:
    """The module cache is read-only and copytree copies the directories' modes."""
    for d, _, _ in os.walk(tree):
        os.chmod(d, 0o700)


def _patched_ferretdb_source(go: str, src: Path, build: Path, env: dict[str, str]) -> Path:
    """A writable copy of the FerretDB module with FERRETDB_PATCHES applied."""
    out = subprocess.run(  # noqa: S603 - fixed command line
        [go, "mod", "download", "-json", FERRETDB_MODULE], cwd=src, env=env, capture_output=True, text=True
    )
    if out.returncode:
        raise StackError(f"go mod download {FERRETDB_MODULE} failed: {out.stderr.strip() or out.stdout.strip()}")
    module_dir = Path(json.loads(out.stdout)["Dir"])
    dest = build / "ferretdb-module"
    if dest.exists():
        _make_writable(dest)
        shutil.rmtree(dest)
    shutil.copytree(module_dir, dest, copy_function=shutil.copyfile)
    _make_writable(dest)
    for rel, before, after in FERRETDB_PATCHES:
        path = dest / rel
        text = path.read_text()
        if text.count(before) != 1:
            raise StackError(f"FerretDB patch no longer applies to {rel} (expected once: {before})")
        path.write_text(text.replace(before, after))
    return dest


def install_ferretdb(settings: LocalStackSettings) -> None:
    """Build the embedded FerretDB launcher (with FERRETDB_PATCHES) unless the same sources were built."""
    src = ROOT / "deploy/local/ferretdb"
    binary = settings.state_dir / "bin/ferretdb-local"
    stamp = settings.state_dir / "bin/.ferretdb-local"
    want = (
        _digest([src / "go.mod", src / "go.sum", src / "main.go"])
        + hashlib.sha256(repr(FERRETDB_PATCHES).encode()).hexdigest()[:8]
    )
    if binary.exists() and stamp.exists() and stamp.read_text() == want:
        return
    go = _require("go", "install Go 1.24 or newer")
    print(
        f"stack: building FerretDB {FERRETDB_MODULE.rsplit('@', 1)[1]} (SQLite backend, patched) with Go ...",
        flush=True,
    )
    binary.parent.mkdir(parents=True, exist_ok=True)
    build = settings.state_dir / "build"
    build.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0"}
    module = _patched_ferretdb_source(go, src, build, env)
    # The committed go.mod stays pristine; the build reads a copy that points at the patched module.
    modfile = build / "ferretdb-local.mod"
    modfile.write_text((src / "go.mod").read_text() + f"\nreplace {FERRETDB_MODULE.split('@')[0]} => {module}\n")
    shutil.copyfile(src / "go.sum", build / "ferretdb-local.sum")
    cmd = [go, "build", f"-modfile={modfile}", "-o", str(binary), "."]
    if subprocess.run(cmd, cwd=src, env=env, check=False).returncode:  # noqa: S603 - fixed command line
        raise StackError("go build of deploy/local/ferretdb failed (see its output above)")
    stamp.write_text(want)


def install(settings: LocalStackSettings) -> None:
    """Install whatever the local stack is missing."""
    install_kafka(settings)
    install_ferretdb(settings)


def _pid_file(settings: LocalStackSettings, name: str) -> Path:
    return settings.state_dir / "run" / f"{name}.pid"


def _log_file(settings: LocalStackSettings, name: str) -> Path:
    return settings.state_dir / "logs" / f"{name}.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def our_pid(settings: LocalStackSettings, name: str) -> int | None:
    """The pid of the component this stack started, if it is still running."""
    path = _pid_file(settings, name)
    try:
        pid = int(path.read_text())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log yet)"


async def _wait_healthy(settings: LocalStackSettings, comp: Component, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + comp.start_timeout_s
    log = _log_file(settings, comp.name)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(f"{comp.name} exited with code {proc.returncode} while starting; log: {log}\n{_tail(log)}")
        if await comp.probe(settings):
            return
        await asyncio.sleep(0.2)
    raise StackError(f"{comp.name} did not become healthy within {comp.start_timeout_s:.0f}s; log: {log}\n{_tail(log)}")


async def start(settings: LocalStackSettings, comp: Component) -> bool:
    """Start one component unless it already runs; return True when this call started it."""
    if our_pid(settings, comp.name) is not None and await comp.probe(settings):
        return False
    if await comp.probe(settings):
        print(f"stack: {comp.name} already answers on its port (not started by this stack); using it")
        return False
    if comp.prepare is not None:
        comp.prepare(settings)
    log = _log_file(settings, comp.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    _pid_file(settings, comp.name).parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **component_env(settings), **comp.env(settings)}
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: ASYNC220, S603 - a detached daemon with a fixed command line
            comp.command(settings),
            preexec_fn=_raise_file_limit,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    _pid_file(settings, comp.name).write_text(str(proc.pid))
    _CHILDREN[comp.name] = proc  # keep the handle: a collected Popen of a live process warns
    started = time.monotonic()
    try:
        await _wait_healthy(settings, comp, proc)
    except StackError:
        stop(settings, comp.name)
        raise
    print(f"stack: {comp.name} up in {time.monotonic() - started:.1f}s ({comp.describe(settings)})", flush=True)
    return True


_CHILDREN: dict[str, subprocess.Popen[bytes]] = {}


def _raise_file_limit() -> None:
    """A broker holds files open per partition: give it the hard limit, not the soft default."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def stop(settings: LocalStackSettings, name: str, timeout_s: float = 15.0) -> bool:
    """Stop a component this stack started (TERM, then KILL after a deadline)."""
    pid = our_pid(settings, name)
    _pid_file(settings, name).unlink(missing_ok=True)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        os.killpg(pid, signal.SIGKILL)
    child = _CHILDREN.pop(name, None)
    if child is not None:
        child.wait(timeout=5)  # reap it (it was ours)
    print(f"stack: {name} stopped", flush=True)
    return True


async def up(settings: LocalStackSettings, names: Sequence[str]) -> list[str]:
    """Start the named components in dependency order; return the names this call started."""
    started: list[str] = []
    for comp in COMPONENTS:
        if comp.name not in names:
            continue
        if await start(settings, comp):
            started.append(comp.name)
        if comp.after_start is not None:
            await comp.after_start(settings)
    return started


def down(settings: LocalStackSettings, names: Sequence[str]) -> None:
    """Stop the named components in reverse dependency order."""
    for comp in reversed(COMPONENTS):
        if comp.name in names:
            stop(settings, comp.name)


async def status(settings: LocalStackSettings) -> None:
    """Print each component's state."""
    for comp in COMPONENTS:
        pid = our_pid(settings, comp.name)
        healthy = await comp.probe(settings)
        state = "healthy" if healthy else ("starting/unhealthy" if pid else "stopped")
        print(f"{comp.name:12} {state:20} {comp.describe(settings)}  pid={pid or '-'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("install")
    for cmd in ("up", "down"):
        p = sub.add_parser(cmd)
        p.add_argument("names", nargs="*", metavar="NAME", help="a component name, or infra")
    sub.add_parser("status")
    sub.add_parser("topics")
    args = parser.parse_args(argv)
    settings = LocalStackSettings()
    names: list[str] = list(getattr(args, "names", []) or [c.name for c in COMPONENTS])
    if "infra" in names:
        names = [n for n in names if n != "infra"] + list(INFRA)
    try:
        if args.cmd == "install":
            install(settings)
        elif args.cmd == "up":
            install(settings)
            asyncio.run(up(settings, names))
        elif args.cmd == "down":
            down(settings, names)
        elif args.cmd == "status":
            asyncio.run(status(settings))
        elif args.cmd == "topics":
            from deploy.local.components import create_topics

            asyncio.run(create_topics(settings))
    except StackError as exc:
        print(f"stack: ERROR: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

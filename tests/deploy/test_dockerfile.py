"""deploy/docker/Dockerfile and /.dockerignore, checked without an engine.

No image is built here (no Docker daemon on this machine). What can be checked: the image's shape
(multi-stage, uv from the lock file, non-root, `python -m` entry point, health check), that every
file it copies exists and is not ignored, and that the files it copies are enough to import the
four services and the deploy tools, with nothing else of the repository on the path.
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.deploy.tooling import ROOT

DOCKERFILE = ROOT / "deploy/docker/Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    logical, current = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        logical.append(current + stripped)
        current = ""
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in logical]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def copies_from_context() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY from the build context (not from another stage or image)."""
    found = []
    for name, args in instructions():
        if name != "COPY" or "--from=" in args:
            continue
        parts = [p for p in args.split() if not p.startswith("--")]
        found.append((parts[:-1], parts[-1]))
    return found


def _matches(path: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        parts = path.split("/")
        return any(fnmatch.fnmatch("/".join(parts[i:]), pattern[3:]) for i in range(len(parts)))
    return fnmatch.fnmatch(path, pattern)


def ignored(path: str) -> bool:
    """Whether /.dockerignore excludes a context path or one of its parents (no `!` exceptions here)."""
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "update this check for exception patterns"
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(_matches(prefix, pattern) for pattern in patterns for prefix in prefixes)


def test_one_multi_stage_image_built_with_uv_from_the_lock_file() -> None:
    builder, runtime = stages()
    assert builder[0][1].endswith("AS builder")
    assert runtime[0][1].endswith("AS runtime")
    base = next(args for name, args in instructions() if name == "ARG" and args.startswith("PYTHON_IMAGE="))
    assert base == "PYTHON_IMAGE=python:3.11-slim"
    assert any(n == "COPY" and "--from=ghcr.io/astral-sh/uv:" in a for n, a in builder)
    sync = next(a for n, a in builder if n == "RUN" and "uv sync" in a)
    assert "--frozen" in sync and "--no-dev" in sync
    assert "UV_PROJECT_ENVIRONMENT=/app/.venv" in " ".join(a for n, a in builder if n == "ENV")
    runtime_copies = [a for n, a in runtime if n == "COPY"]
    assert runtime_copies == ["--from=builder /app /app"], "the runtime gets only what the builder prepared"


def test_runtime_is_non_root_with_python_m_entry_point_and_health_check() -> None:
    runtime = dict(stages()[1])
    user = runtime["USER"].split(":")
    assert all(part.isdigit() and int(part) != 0 for part in user), "numeric non-root uid:gid (runAsNonRoot)"
    assert json.loads(runtime["ENTRYPOINT"]) == ["python", "-m"]
    assert json.loads(runtime["CMD"]) == ["services.preference"]
    assert "deploy.tools.healthcheck" in runtime["HEALTHCHECK"] and "/health" in runtime["HEALTHCHECK"]
    for variable in ("PREFERENCE_HOST=0.0.0.0", "ROUTER_HOST=0.0.0.0", "NOTIFIER_HOST=0.0.0.0"):
        assert variable in runtime["ENV"]


def test_only_the_code_is_copied_and_none_of_it_is_ignored() -> None:
    sources = [source for group, _ in copies_from_context() for source in group]
    assert {s.split("/")[0] for s in sources} == {"services", "schemas", "deploy"}
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not ignored(source.rstrip("/")), f"{source} is excluded by .dockerignore"
    for needed in ("uv.lock", "pyproject.toml"):
        assert not ignored(needed)


def test_dockerignore_keeps_local_state_out() -> None:
    for path in (
        ".git",
        ".local",
        ".venv",
        "tests",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        "services/router/__pycache__",
        "deploy/docker/compose.env",
        "deploy/local",
    ):
        assert ignored(path), path


def test_the_copied_files_are_enough_to_run_every_program(tmp_path: Path) -> None:
    """Import each program from a tree holding only what the Dockerfile copies."""
    app = tmp_path / "app"
    for group, destination in copies_from_context():  # Docker's COPY semantics, for these simple forms
        target = app / destination.removeprefix("./")
        for source in group:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            elif destination.endswith("/"):
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    modules = [
        "services.preference.app",
        "services.router.app",
        "services.notifier.app",
        "services.connectors.app",
        "deploy.tools.create_topics",
        "deploy.tools.healthcheck",
    ]
    code = f"import sys; sys.path.insert(0, {str(app)!r}); " + "; ".join(f"import {m}" for m in modules)
    code += f"; import deploy; assert deploy.__file__.startswith({str(app)!r}), deploy.__file__"
    result = subprocess.run(
        [sys.executable, "-I", "-B", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr

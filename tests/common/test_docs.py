"""Documentation that must not rot: the README's configuration table."""

from __future__ import annotations

from pathlib import Path

from deploy.config_table import CLASSES, render_readme

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_configuration_table_matches_the_settings_classes() -> None:
    text = README.read_text()
    assert render_readme(text) == text, "run: python -m deploy.config_table --write"


def test_every_setting_has_a_description() -> None:
    missing = [
        f"{cls.__name__}.{name}"
        for cls, _ in CLASSES
        for name, field in cls.model_fields.items()
        if not field.description and name not in ("kafka", "mongo")
    ]
    assert not missing, missing


def test_no_tracked_file_names_this_machines_checkout_path() -> None:
    import subprocess

    root = README.parent
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.split(b"\0")
    needle = str(root).encode()
    leaking = [
        name.decode()
        for name in files
        if name and (root / name.decode()).is_file() and needle in (root / name.decode()).read_bytes()
    ]
    assert not leaking, f"absolute checkout path in {leaking}"

"""Helpers of the deployment tests: cached Go builds, and what the settings classes accept."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from services.common.settings import KafkaSettings
from services.connectors.settings import ConnectorSettings
from services.notifier.settings import NotifierSettings
from services.preference.settings import PreferenceSettings
from services.router.settings import RouterSettings

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".local" / "bin"

# Which settings class reads the environment of which program.
SETTINGS: dict[str, type[BaseSettings]] = {
    "preference": PreferenceSettings,
    "router": RouterSettings,
    "notifier": NotifierSettings,
    "connectors": ConnectorSettings,
    "create_topics": KafkaSettings,
}


def announce(config: pytest.Config, message: str) -> None:
    """Print a progress line even while pytest captures output."""
    capture = config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(message, flush=True)
        return
    with capture.global_and_fixture_disabled():
        print(f"\n{message}", flush=True)


def go_build(config: pytest.Config, name: str, module_dir: Path, package: str = ".") -> Path:
    """Build a Go program of this repository into .local/bin, again only when its sources changed."""
    sources = [module_dir / "go.mod", module_dir / "go.sum", *sorted(module_dir.glob("*.go"))]
    digest = hashlib.sha256(package.encode())
    for path in sources:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    want = digest.hexdigest()[:16]
    binary, stamp = BIN / name, BIN / f".{name}"
    if binary.exists() and stamp.exists() and stamp.read_text() == want:
        return binary
    go = shutil.which("go")
    if go is None:
        pytest.fail("'go' is not on PATH: `make setup` installs it (Debian: golang-go, Go 1.26 or newer)")
    announce(config, f"deploy tests: building {name} with Go into {binary} (first run downloads modules; ~1-2 min) ...")
    BIN.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(f".{name}.partial")
    result = subprocess.run(
        [go, "build", "-trimpath", "-o", str(partial), package],
        cwd=module_dir,
        env={**os.environ, "CGO_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"go build of {module_dir.relative_to(ROOT)} failed:\n{result.stderr[-4000:]}")
    partial.replace(binary)
    stamp.write_text(want)
    return binary


def _env_names(field_name: str, field: FieldInfo, prefix: str) -> list[str]:
    alias = field.validation_alias
    if isinstance(alias, str):
        return [alias.upper()]
    return [(prefix + field_name).upper()]


def settings_fields(cls: type[BaseSettings]) -> dict[str, FieldInfo]:
    """Every environment variable a settings class reads (nested settings under their own prefix)."""
    prefix = str(cls.model_config.get("env_prefix", ""))
    names: dict[str, FieldInfo] = {}
    for field_name, field in cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseSettings):
            names.update(settings_fields(annotation))
            continue
        for env in _env_names(field_name, field, prefix):
            names[env] = field
    return names


def _named_models(cls: type[BaseSettings]) -> dict[str, tuple[str, type[BaseModel]]]:
    """Settings that map names to models (dict[str, Model]): the start of their variables, the delimiter, the model."""
    delimiter = cls.model_config.get("env_nested_delimiter")
    if not delimiter:
        return {}
    prefix = str(cls.model_config.get("env_prefix", ""))
    found = {}
    for field_name, field in cls.model_fields.items():
        if typing.get_origin(field.annotation) is not dict:
            continue
        model = typing.get_args(field.annotation)[1]
        if isinstance(model, type) and issubclass(model, BaseModel):
            found[(prefix + field_name).upper() + delimiter] = (delimiter, model)
    return found


def field_of(cls: type[BaseSettings], variable: str) -> FieldInfo | None:
    """The setting an environment variable sets, nested ones too (CONNECTORS_CONNECTIONS__<NAME>__SECRET)."""
    fields = settings_fields(cls)
    if variable in fields:
        return fields[variable]
    for start, (delimiter, model) in _named_models(cls).items():
        name, _, rest = variable.removeprefix(start).partition(delimiter)
        if not (variable.startswith(start) and name):
            continue
        if rest.lower() in model.model_fields:
            return model.model_fields[rest.lower()]
        # One key of a dict setting of the model: CONNECTORS_CONNECTIONS__<NAME>__OPTIONS__ON_BEHALF_OF.
        head, _, key = rest.partition(delimiter)
        field = model.model_fields.get(head.lower())
        if key and field is not None and typing.get_origin(field.annotation) is dict:
            return field
    return None


def unknown_variables(cls: type[BaseSettings], variables: typing.Iterable[str]) -> set[str]:
    """The variables no setting of the class reads (a typo, or a setting of another service)."""
    return {v for v in variables if field_of(cls, v) is None}


def _mentions_secret(annotation: object) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(arg) for arg in typing.get_args(annotation))


def is_secret(field: FieldInfo) -> bool:
    """The setting holds a secret (SecretStr, optional, or a collection of them)."""
    return _mentions_secret(field.annotation)


def is_test_only(field: FieldInfo) -> bool:
    """A setting only tests may set (its description says so)."""
    return (field.description or "").lower().startswith("test only")


# Defaults that only fit a developer's machine: a loopback address is wrong in a container (a
# listen address must be 0.0.0.0, a peer is another host), example domains and dev-only values
# are placeholders (as is an all-zero account id).
_PLACEHOLDER_MARKS = ("127.0.0.1", "localhost", "example.org", ".local", "dev-only", "0" * 32)


def _text_of(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, list | tuple):
        return " ".join(_text_of(v) for v in value)
    return value if isinstance(value, str) else ""


def required_in_production(cls: type[BaseSettings]) -> set[str]:
    """Settings a production deployment must set: built-in secrets and placeholder defaults."""
    required = set()
    for env, field in settings_fields(cls).items():
        default = field.get_default(call_default_factory=True)
        text = _text_of(default)
        if (is_secret(field) and default is not None) or any(mark in text for mark in _PLACEHOLDER_MARKS):
            required.add(env)
    return required

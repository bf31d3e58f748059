"""deploy/compose.yaml, checked without a container engine.

The file is loaded by deploy/tools/composecheck (Go, compose-go: the Compose Specification's own
schema, interpolation, normalization and consistency checks, as `docker compose config` does) and
the normalized project is compared with what the services' settings classes read.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from services.connectors.app import create_app
from services.connectors.registry import load_adapters
from services.connectors.settings import ConnectorSettings
from tests.deploy.tooling import (
    ROOT,
    SETTINGS,
    field_of,
    go_build,
    is_secret,
    is_test_only,
    required_in_production,
    settings_fields,
    unknown_variables,
)

pytestmark = pytest.mark.timeout(900)  # the first run builds composecheck with Go

COMPOSE = ROOT / "deploy/compose.yaml"
ENV_EXAMPLE = ROOT / "deploy/docker/compose.env.example"
SERVICE_MODULES = {
    "preference": "services.preference",
    "router": "services.router",
    "notifier": "services.notifier",
    "connectors": "services.connectors",
}
REQUIRED_VARIABLE = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+):\?[^}]*\}$")
# Never acceptable in a deployed value: the developer's loopback, dev-only secrets, all-zero ids.
NOT_DEPLOYABLE = ("127.0.0.1", "localhost", "dev-only", "0" * 32)


@pytest.fixture(scope="session")
def composecheck(pytestconfig: pytest.Config) -> Path:
    return go_build(pytestconfig, "composecheck", ROOT / "deploy/tools/composecheck")


def run_check(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def project(composecheck: Path) -> dict[str, Any]:
    """The normalized project, variables from the example env file."""
    result = run_check(composecheck, "-env-file", str(ENV_EXAMPLE), str(COMPOSE))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def raw(composecheck: Path) -> dict[str, Any]:
    """The validated model before interpolation: shows where each value comes from."""
    result = run_check(composecheck, "-raw", str(COMPOSE))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'")
    return values


def settings_class_of(service: dict[str, Any]) -> type[BaseSettings] | None:
    """Which settings class reads this container's environment (None: not one of ours)."""
    command = service.get("command") or []
    for name, module in SERVICE_MODULES.items():
        if command == [module]:
            return SETTINGS[name]
    if command == ["deploy.tools.create_topics"]:
        return SETTINGS["create_topics"]
    return None


def our_services(project: dict[str, Any]) -> dict[str, tuple[dict[str, Any], type[BaseSettings]]]:
    found = {}
    for name, service in project["services"].items():
        cls = settings_class_of(service)
        if cls is not None:
            found[name] = (service, cls)
    return found


def test_the_file_follows_the_compose_specification(project: dict[str, Any]) -> None:
    assert project["name"] == "candidate-comms"
    assert not re.search(r"(?m)^version:", COMPOSE.read_text()), "the Compose Specification has no `version:`"
    assert set(our_services(project)) == {"preference", "router", "notifier", "connectors", "kafka-topics"}


def test_the_loader_rejects_what_the_specification_forbids(composecheck: Path, tmp_path: Path) -> None:
    """Guards the guard: a misplaced key must fail the schema, or the checks above prove nothing."""
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  router:\n    image: candidate-comms:dev\n    replicas: 2\n")
    result = run_check(composecheck, str(broken))
    assert result.returncode == 1
    assert "replicas" in result.stderr


def test_without_the_env_file_every_secret_is_reported_missing(composecheck: Path) -> None:
    result = run_check(composecheck, str(COMPOSE))
    assert result.returncode == 1
    for variable in (
        "LINK_SECRET",
        "SUPPRESSION_SECRET",
        "MONGODB_URL",
        "TWILIO_AUTH_TOKEN",
        "PREFERENCE_API_KEYS",
        "GREENHOUSE_WEBHOOK_SECRET",
        "GREENHOUSE_API_KEY",
    ):
        assert f"required variable {variable} is missing" in result.stderr


def test_every_environment_key_is_read_by_the_settings_class(project: dict[str, Any]) -> None:
    for name, (service, cls) in our_services(project).items():
        unknown = unknown_variables(cls, service.get("environment") or {})
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of {cls.__name__}"


def test_the_environment_parses_as_the_service_would(project: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Each container's environment validates against its settings class (types, patterns, JSON)."""
    for name, (service, cls) in our_services(project).items():
        with monkeypatch.context() as env:
            for key in settings_fields(cls):
                env.delenv(key, raising=False)
            for key, value in (service.get("environment") or {}).items():
                env.setenv(key, value)
            settings = cls()
        assert settings is not None, name
        if isinstance(settings, ConnectorSettings):  # the service refuses to start with a connection unsigned
            assert settings.connections, "the connector service without a connection takes no webhook"
            for conn_name, conn in settings.connections.items():
                assert conn.secret is not None and conn.secret.get_secret_value(), conn_name
                assert settings.ats_of(conn_name) in load_adapters(), conn_name


def test_production_settings_are_set_and_secrets_come_from_variables(
    project: dict[str, Any], raw: dict[str, Any]
) -> None:
    example = env_file_values(ENV_EXAMPLE)
    for name, (service, cls) in our_services(project).items():
        env = service.get("environment") or {}
        raw_env = raw["services"][name].get("environment") or {}
        missing = required_in_production(cls) - set(env)
        assert not missing, f"{name} must set {sorted(missing)} in production"
        for key in required_in_production(cls):
            if not REQUIRED_VARIABLE.match(str(raw_env[key])):
                assert not any(mark in env[key] for mark in NOT_DEPLOYABLE), f"{name}: {key}={env[key]}"
        for key in env:
            field = field_of(cls, key)
            assert field is not None, f"{name}: {key}"
            assert not is_test_only(field), f"{name}: {key} is for tests only"
            if is_secret(field):
                match = REQUIRED_VARIABLE.match(str(raw_env[key]))
                assert match, f"{name}: secret {key} must be a required variable (${{NAME:?...}}), not a value"
                value = example[match["name"]]
                assert "CHANGE-ME" in value or (key == "MONGODB_URL" and "@" not in value), (
                    f"{match['name']} in {ENV_EXAMPLE.name} must be a marked placeholder"
                )


def test_no_literal_secret_anywhere(raw: dict[str, Any]) -> None:
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"SECRET|PASSWORD|TOKEN|API_KEY", key):
                from_file = key.endswith("__FILE") and str(value).startswith("/run/secrets/")
                assert from_file or REQUIRED_VARIABLE.match(str(value)), f"{name}: {key} holds a literal"


def test_one_link_secret_for_preference_and_notifier(raw: dict[str, Any]) -> None:
    services = raw["services"]
    assert (
        services["preference"]["environment"]["PREFERENCE_LINK_SECRET"]
        == (services["notifier"]["environment"]["NOTIFIER_LINK_SECRET"])
    )


def test_kafka_is_a_three_node_kraft_cluster(project: dict[str, Any]) -> None:
    nodes = {n: s for n, s in project["services"].items() if s["image"].startswith("apache/kafka:")}
    assert len(nodes) == 3
    assert all(re.fullmatch(r"apache/kafka:4\.\d+\.\d+", s["image"]) for s in nodes.values())
    envs = [s["environment"] for s in nodes.values()]
    voters = {e["KAFKA_CONTROLLER_QUORUM_VOTERS"] for e in envs}
    assert len(voters) == 1, "one controller quorum"
    assert len({e["CLUSTER_ID"] for e in envs}) == 1
    ids = {e["KAFKA_NODE_ID"] for e in envs}
    assert len(ids) == 3
    assert {v.split("@")[0] for v in next(iter(voters)).split(",")} == ids
    for name, env in zip(nodes, envs, strict=True):
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
        assert env["KAFKA_ADVERTISED_LISTENERS"] == f"PLAINTEXT://{name}:9092"
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert nodes[name]["healthcheck"]["test"]
    advertised = {env["KAFKA_ADVERTISED_LISTENERS"].removeprefix("PLAINTEXT://") for env in envs}
    for name, (service, _) in our_services(project).items():
        env = service["environment"]
        assert set(env["KAFKA_BOOTSTRAP_SERVERS"].split(",")) == advertised, name
        assert env["KAFKA_REPLICATION_FACTOR"] == str(len(nodes)), name
        assert env["KAFKA_PARTITIONS"] == project["services"]["kafka-topics"]["environment"]["KAFKA_PARTITIONS"]


def test_topics_are_created_once_the_brokers_are_healthy(project: dict[str, Any]) -> None:
    topics = project["services"]["kafka-topics"]
    assert topics["command"] == ["deploy.tools.create_topics"]
    assert topics["restart"] == "no"
    assert {d: c["condition"] for d, c in topics["depends_on"].items()} == dict.fromkeys(
        ("kafka-1", "kafka-2", "kafka-3"), "service_healthy"
    )


def test_mongodb_is_a_replica_set(project: dict[str, Any]) -> None:
    members = {n: s for n, s in project["services"].items() if s["image"].startswith("mongo:7")}
    nodes = {n for n, s in members.items() if "--replSet" in (s.get("command") or [])}
    assert len(nodes) == 3
    assert all(members[n]["command"][members[n]["command"].index("--replSet") + 1] == "rs0" for n in nodes)
    init = project["services"]["mongo-init"]
    assert {d: c["condition"] for d, c in init["depends_on"].items()} == dict.fromkeys(nodes, "service_healthy")
    script = (ROOT / "deploy/docker/mongo-replica-set.js").read_text()
    assert all(f'"{n}:27017"' in script for n in nodes)
    url = env_file_values(ENV_EXAMPLE)["MONGODB_URL"]
    assert "replicaSet=rs0" in url
    assert all(f"{n}:27017" in url for n in nodes)


def test_services_scale_out_and_wait_for_their_dependencies(project: dict[str, Any]) -> None:
    services = project["services"]
    partitions = int(services["kafka-topics"]["environment"]["KAFKA_PARTITIONS"])
    assert services["router"]["deploy"]["replicas"] == 2
    assert services["notifier"]["deploy"]["replicas"] == 2
    for name in SERVICE_MODULES:
        service = services[name]
        assert 1 <= service["deploy"]["replicas"] <= partitions, "instances beyond the partition count sit idle"
        assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "deploy.tools.healthcheck", "/ready"]
        assert service["depends_on"]["kafka-topics"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["mongo-init"]["condition"] == "service_completed_successfully"
        assert service["deploy"]["resources"]["limits"]["memory"]
        assert service["build"]["dockerfile"] == "deploy/docker/Dockerfile"


def test_observability_mounts_the_projects_files(project: dict[str, Any]) -> None:
    def mounts(service: str) -> dict[str, str]:
        return {
            v["target"]: str(Path(v["source"]).relative_to(ROOT))
            for v in project["services"][service]["volumes"]
            if v["type"] == "bind"
        }

    assert mounts("prometheus") == {
        "/etc/prometheus/prometheus.yml": "deploy/prometheus/prometheus.yml",
        "/etc/prometheus/rules": "deploy/prometheus/rules",
    }
    assert mounts("grafana") == {
        "/etc/grafana/provisioning": "deploy/grafana/provisioning",
        "/var/lib/grafana/dashboards": "deploy/grafana/dashboards",
    }
    grafana = project["services"]["grafana"]
    assert [s["source"] for s in grafana["secrets"]] == ["grafana_admin_password"]
    assert "GRAFANA_ADMIN_PASSWORD" in env_file_values(ENV_EXAMPLE)


def test_images_are_pinned(project: dict[str, Any]) -> None:
    for name, service in project["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_every_example_variable_is_used() -> None:
    text = COMPOSE.read_text()
    for variable in env_file_values(ENV_EXAMPLE):
        assert "${" + variable in text or f"environment: {variable}" in text, f"{variable} is not used"


def test_a_placeholder_left_in_the_env_file_stops_the_service_that_reads_it(
    project: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's CHANGE-ME values are required variables; one left in a setting that is not a secret (the
    Greenhouse user notes are written as) makes the connector refuse to start, naming the variable."""
    text = COMPOSE.read_text()
    for variable, value in env_file_values(ENV_EXAMPLE).items():
        if "CHANGE-ME" in value:
            required = re.search(r"\$\{" + variable + r":\?", text) or f"environment: {variable}" in text  # a secret
            assert required, f"{variable} must be a required variable"
    flagged = []
    for name, (service, cls) in our_services(project).items():
        env = service.get("environment") or {}
        left = [k for k, v in env.items() if "CHANGE-ME" in str(v) and not is_secret(field_of(cls, k))]  # type: ignore[arg-type]
        if not left:
            continue
        assert cls is ConnectorSettings, f"{name}: {left} hold placeholders nothing refuses"
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, str(value))
            with pytest.raises(ValueError, match="CHANGE-ME placeholder") as refused:
                create_app(ConnectorSettings())
        flagged.append(str(refused.value))
    assert any("CONNECTORS_CONNECTIONS__GREENHOUSE__OPTIONS__ON_BEHALF_OF" in f for f in flagged), flagged

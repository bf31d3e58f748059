"""deploy/k8s, rendered with kustomize and validated offline.

Kubernetes objects are checked against the Kubernetes API's JSON Schemas that the PyPI package
kubernetes-validate ships (strict: unknown fields are errors). It has no schemas for custom
resources, so KEDA's ScaledObject and TriggerAuthentication are checked against the narrower
schemas in deploy/k8s/schemas/, written by hand from KEDA's documented fields. Then the facts the
schemas cannot know: probes, resources and non-root on every workload; environment names that the
settings classes read; secrets only from Secrets; maxReplicaCount equal to the partition count.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings

from schemas.common import Channel
from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS, dispatch_topic
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

MISSING = "kubernetes-validate is not installed: add it to the dev dependencies (it brings pyyaml and jsonschema)"
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason=MISSING)
yaml = pytest.importorskip("yaml", reason=MISSING)
jsonschema = pytest.importorskip("jsonschema", reason=MISSING)

pytestmark = pytest.mark.timeout(900)  # the first run builds kustomize with Go

K8S = ROOT / "deploy/k8s"
RENDERS = ("base", "overlays/production")
# The oldest Kubernetes minor still widely supported by managed offerings, and the newest the package knows.
K8S_VERSIONS = ("1.31", kubernetes_validate.latest_version())
KEDA_SCHEMAS = {
    "ScaledObject": K8S / "schemas/scaledobject.schema.json",
    "TriggerAuthentication": K8S / "schemas/triggerauthentication.schema.json",
}
PROGRAMS = {
    "services.preference": "preference",
    "services.router": "router",
    "services.notifier": "notifier",
    "services.connectors": "connectors",
    "deploy.tools.create_topics": "create_topics",
}
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512"}
# CHANGE-ME marks what the operator must replace: only the base's placeholder Secret may hold it (production
# deletes that Secret); in a ConfigMap or a literal it would be deployed as it is.
NOT_DEPLOYABLE = ("127.0.0.1", "localhost", "dev-only", "0" * 32, "CHANGE-ME")
FROM_SECRET = "value-from-the-real-secret"


@pytest.fixture(scope="session")
def kustomize(pytestconfig: pytest.Config) -> Path:
    return go_build(pytestconfig, "kustomize", ROOT / "deploy/tools/kustomize", "sigs.k8s.io/kustomize/kustomize/v5")


@pytest.fixture(scope="module")
def rendered(kustomize: Path) -> dict[str, list[dict[str, Any]]]:
    out = {}
    for name in RENDERS:
        result = subprocess.run(
            [str(kustomize), "build", str(K8S / name)], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, f"kustomize build {name}:\n{result.stderr}"
        out[name] = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return out


@pytest.fixture(params=RENDERS)
def render(request: pytest.FixtureRequest, rendered: dict[str, list[dict[str, Any]]]) -> str:
    return str(request.param)


def of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def config_map(objects: list[dict[str, Any]], prefix: str) -> dict[str, str]:
    """The data of the generated ConfigMap whose name starts with `prefix-` (a content hash follows)."""
    found = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith(prefix + "-")]
    assert len(found) == 1, prefix
    return found[0].get("data", {})


def secret_values(objects: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    values = {}
    for name, secret in of_kind(objects, "Secret").items():
        for key, value in (secret.get("stringData") or {}).items():
            values[(name, key)] = value
    return values


def workloads(objects: list[dict[str, Any]]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Deployments and Jobs by name: (object, its first container)."""
    found = {}
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            found[obj["metadata"]["name"]] = (obj, obj["spec"]["template"]["spec"]["containers"][0])
    return found


def settings_of(container: dict[str, Any]) -> type[BaseSettings]:
    return SETTINGS[PROGRAMS[container["args"][0]]]


def container_env(
    container: dict[str, Any], objects: list[dict[str, Any]], fallback: dict[tuple[str, str], str]
) -> dict[str, tuple[str, str]]:
    """Every variable a container gets: name -> (source, value); source is configmap, literal or secret."""
    config_maps = {name: o.get("data", {}) for name, o in of_kind(objects, "ConfigMap").items()}
    secrets = secret_values(objects)
    env: dict[str, tuple[str, str]] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name in config_maps, f"envFrom names a ConfigMap that is not rendered: {name}"
        env.update({k: ("configmap", v) for k, v in config_maps[name].items()})
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = ("literal", item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        key = (ref["name"], ref["key"])
        env[item["name"]] = ("secret", secrets.get(key, fallback.get(key, FROM_SECRET)))
    return env


def quantity(text: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    match = re.fullmatch(r"([0-9.]+)(m|Ki|Mi|Gi)?", str(text))
    assert match, text
    return float(match[1]) * units.get(match[2] or "", 1)


def test_every_object_validates_offline(render: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    errors = []
    for obj in rendered[render]:
        what = f"{obj['kind']}/{obj['metadata']['name']}"
        if obj["apiVersion"].startswith("keda.sh/"):
            schema = json.loads(KEDA_SCHEMAS[obj["kind"]].read_text())
            errors += [f"{what}: {e.message}" for e in jsonschema.Draft202012Validator(schema).iter_errors(obj)]
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{what} (Kubernetes {version}): {'.'.join(map(str, exc.path))}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                errors.append(f"{what}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_the_keda_schema_catches_mistakes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """Guards the guard: the hand-written schema must reject a typo and a non-string trigger value."""
    scaled = of_kind(rendered["base"], "ScaledObject")["router"]
    schema = json.loads(KEDA_SCHEMAS["ScaledObject"].read_text())
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["maxReplicas"] = typo["spec"].pop("maxReplicaCount")
    assert any("maxReplicas" in e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(typo))
    number = json.loads(json.dumps(scaled))
    number["spec"]["triggers"][0]["metadata"]["lagThreshold"] = 100
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(number))


def test_workloads_are_probed_limited_and_unprivileged(render: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[render]
    deployments = of_kind(objects, "Deployment")
    assert set(deployments) == {"preference", "router", "notifier", "connectors"}
    for name, (obj, container) in workloads(objects).items():
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["automountServiceAccountToken"] is False, name
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True, name
        assert context["allowPrivilegeEscalation"] is False, name
        assert context["capabilities"]["drop"] == ["ALL"], name
        resources = container["resources"]
        for kind in ("cpu", "memory"):
            assert quantity(resources["requests"][kind]) <= quantity(resources["limits"][kind]), f"{name} {kind}"
        image = container["image"]
        assert re.fullmatch(r"[^:]+:[\w.-]+", image) and not image.endswith(":latest"), f"{name}: {image}"
        if obj["kind"] != "Deployment":
            continue
        ports = {p["name"] for p in container["ports"]}
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            assert container[probe]["httpGet"]["port"] in ports, f"{name} {probe}"


def test_every_deployment_has_a_service_and_a_disruption_budget(
    render: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[render]
    services, budgets = of_kind(objects, "Service"), of_kind(objects, "PodDisruptionBudget")
    for name, deployment in of_kind(objects, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert services[name]["spec"]["selector"].items() <= labels.items(), name
        assert services[name]["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container["ports"]}
        assert budgets[name]["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        assert budgets[name]["spec"]["maxUnavailable"] == 1, name


def test_environment_matches_the_settings_classes(
    render: str, rendered: dict[str, list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    objects, fallback = rendered[render], secret_values(rendered["base"])
    for name, (_, container) in workloads(objects).items():
        cls = settings_of(container)
        env = container_env(container, objects, fallback)
        unknown = unknown_variables(cls, env)
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of {cls.__name__}"
        missing = required_in_production(cls) - set(env)
        assert not missing, f"{name} must set {sorted(missing)}"
        for key, (source, value) in env.items():
            field = field_of(cls, key)
            assert field is not None, f"{name}: {key}"
            assert not is_test_only(field), f"{name}: {key} is for tests only"
            if is_secret(field):
                assert source == "secret", f"{name}: {key} must come from a Secret, not a {source}"
            elif source != "secret":  # Secret values are the operator's (placeholders in the base)
                assert not any(mark in value for mark in NOT_DEPLOYABLE), f"{name}: {key}={value}"
        with monkeypatch.context() as patch:
            for key in settings_fields(cls):
                patch.delenv(key, raising=False)
            for key, (_, value) in env.items():
                patch.setenv(key, value)
            settings = cls()  # parses exactly as the service will
        if isinstance(settings, ConnectorSettings):  # the service refuses to start with a connection unsigned
            assert settings.connections, f"{name}: the connector service without a connection takes no webhook"
            for conn_name, conn in settings.connections.items():
                assert conn.secret is not None and conn.secret.get_secret_value(), f"{name}: {conn_name} unsigned"
                assert settings.ats_of(conn_name) in load_adapters(), f"{name}: {conn_name}"


def test_link_secret_is_shared(render: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    refs = {}
    for _, container in workloads(rendered[render]).values():
        for item in container.get("env", []):
            if item["name"].endswith("_LINK_SECRET"):
                refs[item["name"]] = item["valueFrom"]["secretKeyRef"]
    assert refs["PREFERENCE_LINK_SECRET"] == refs["NOTIFIER_LINK_SECRET"]


def test_consumers_scale_on_lag_up_to_the_partition_count(
    render: str, rendered: dict[str, list[dict[str, Any]]]
) -> None:
    objects = rendered[render]
    kafka = config_map(objects, "kafka-client")
    router, notifier = config_map(objects, "router-config"), config_map(objects, "notifier-config")
    prefix = kafka.get("KAFKA_TOPIC_PREFIX", "")
    partitions = int(kafka["KAFKA_PARTITIONS"])
    group = router["ROUTER_GROUP_ID"]
    notifier_groups = notifier["NOTIFIER_GROUP_PREFIX"]
    expected = {
        "router": {(group, prefix + ATS_EVENTS), (group, prefix + NOTIFICATIONS_STATUS)},
        "notifier": {(f"{notifier_groups}.{c.value}", prefix + dispatch_topic(c)) for c in Channel}
        | {(f"{notifier_groups}.status", prefix + NOTIFICATIONS_STATUS)},
    }
    scaled = of_kind(objects, "ScaledObject")
    assert set(scaled) == set(expected)
    deployments = of_kind(objects, "Deployment")
    for name, obj in scaled.items():
        spec = obj["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert "replicas" not in deployments[name]["spec"], f"{name}: KEDA owns the replica count"
        assert spec["maxReplicaCount"] == partitions, f"{name}: replicas beyond the partitions sit idle"
        assert 2 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], name
        triggers = spec["triggers"]
        assert {(t["metadata"]["consumerGroup"], t["metadata"]["topic"]) for t in triggers} == expected[name]
        for trigger in triggers:
            metadata = trigger["metadata"]
            assert trigger["type"] == "kafka"
            assert metadata["bootstrapServers"] == kafka["KAFKA_BOOTSTRAP_SERVERS"], name
            assert metadata["offsetResetPolicy"] == "earliest", "the services' consumers start at the earliest offset"
            assert int(metadata["lagThreshold"]) > 0


def test_keda_reaches_kafka_as_the_services_do(render: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered[render]
    kafka = config_map(objects, "kafka-client")
    protocol = kafka["KAFKA_SECURITY_PROTOCOL"]
    auths = of_kind(objects, "TriggerAuthentication")
    for obj in of_kind(objects, "ScaledObject").values():
        for trigger in obj["spec"]["triggers"]:
            metadata = trigger["metadata"]
            assert metadata.get("tls", "disable") == ("enable" if protocol.endswith("SSL") else "disable")
            if not protocol.startswith("SASL"):
                assert metadata.get("sasl", "none") == "none"
                continue
            assert metadata["sasl"] == KEDA_SASL[kafka["KAFKA_SASL_MECHANISM"]]
            auth = auths[trigger["authenticationRef"]["name"]]
            params = {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]}
            assert {"username", "password"} <= params
            if protocol == "SASL_SSL":
                assert "ca" in params


def test_production_overlay(rendered: dict[str, list[dict[str, Any]]]) -> None:
    objects = rendered["overlays/production"]
    assert not of_kind(objects, "Secret"), "the real Secret is created out of band, never from the repository"
    assert of_kind(objects, "Deployment")["preference"]["spec"]["replicas"] >= 2
    kafka = config_map(objects, "kafka-client")
    assert kafka["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert int(kafka["KAFKA_REPLICATION_FACTOR"]) >= 3
    for name, (obj, container) in workloads(objects).items():
        assert not container["image"].endswith(":dev"), name
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert str(Path(kafka["KAFKA_SSL_CAFILE"]).parent) in mounts, f"{name} lacks the Kafka CA"
        assert obj["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_base_secret_is_a_marked_placeholder(rendered: dict[str, list[dict[str, Any]]]) -> None:
    secret = of_kind(rendered["base"], "Secret")["candidate-comms-secrets"]
    assert secret["metadata"]["annotations"]["candidate-comms/placeholder"] == "true"
    for key, value in secret["stringData"].items():
        assert "CHANGE-ME" in value or value == "AC" + "0" * 32, f"{key} is not a marked placeholder"


def test_no_placeholder_reaches_production_outside_the_operators_secret(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    """Every value the operator must change comes from the Secret they create (the production render has none)."""
    objects = rendered["overlays/production"]
    marked = [f"{o['kind']}/{o['metadata']['name']}" for o in objects if "CHANGE-ME" in json.dumps(o)]
    assert not marked, f"placeholders rendered for production: {marked}"
    base = secret_values(rendered["base"])
    keys = {
        item["valueFrom"]["secretKeyRef"]["key"]
        for _, container in workloads(objects).values()
        for item in container.get("env", [])
        if "valueFrom" in item
    }
    assert ("candidate-comms-secrets", "connector-greenhouse-user-id") in base
    listed = (K8S / "overlays/production/kustomization.yaml").read_text()
    unlisted = sorted(key for key in keys if key not in listed)
    assert not unlisted, f"the production overlay must list every key of the operator's Secret: {unlisted}"


def test_topics_job_creates_the_contract_topics(render: str, rendered: dict[str, list[dict[str, Any]]]) -> None:
    job = of_kind(rendered[render], "Job")["create-topics"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["deploy.tools.create_topics"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"

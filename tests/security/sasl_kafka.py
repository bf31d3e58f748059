"""A throwaway single-node Kafka whose only client listener is SASL_PLAINTEXT with SCRAM-SHA-512.

It never touches the shared broker: its own free ports, its own data directory (formatted with the
SCRAM credentials through `kafka-storage format --add-scram`, so they exist before the first start),
the jars the local stack installed, and the same tunables as deploy/local/kafka/server.properties.in.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from deploy.local.components import LocalStackSettings
from services.common.kafka import aiokafka_kwargs
from services.common.settings import KafkaSettings
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy/local/kafka/server.properties.in"
LOG4J = ROOT / "deploy/local/kafka/log4j2.yaml"
MECHANISM = "SCRAM-SHA-512"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class SaslBroker:
    """Where the broker listens and the credentials it knows."""

    port: int
    user: str
    password: str
    log: Path

    def settings(self, password: str | None = None, **overrides: object) -> KafkaSettings:
        """Client settings for this broker (a wrong `password` to prove refusal)."""
        return KafkaSettings(
            bootstrap_servers=f"127.0.0.1:{self.port}",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=MECHANISM,
            sasl_username=self.user,
            sasl_password=SecretStr(password if password is not None else self.password),
            **overrides,  # type: ignore[arg-type]
        )


def properties(port: int, controller_port: int, data: Path, admin: str, admin_password: str) -> str:
    """The local template with its PLAINTEXT client listener replaced by SASL_PLAINTEXT (SCRAM-SHA-512)."""
    base = TEMPLATE.read_text().format(port=port, controller_port=controller_port, data_dir=data)
    jaas = f'{SCRAM_LOGIN} required username="{admin}" password="{admin_password}";'
    overrides = {
        "listeners": f"SASL_PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_PLAINTEXT://127.0.0.1:{port}",
        "listener.security.protocol.map": "SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "SASL_PLAINTEXT",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        f"listener.name.sasl_plaintext.{MECHANISM.lower()}.sasl.jaas.config": jaas,
    }
    kept = [line for line in base.splitlines() if line.partition("=")[0].strip() not in overrides]
    return "\n".join([*kept, *(f"{k}={v}" for k, v in overrides.items())]) + "\n"


def _java(libs: Path, *args: str) -> list[str]:
    java = shutil.which("java") or "java"
    return [java, "-Xmx512m", f"-Dlog4j2.configurationFile={LOG4J}", "-cp", f"{libs}/*", *args]


def format_storage(libs: Path, config: Path, credentials: dict[str, str]) -> None:
    """Format the data directory with a fresh cluster id and SCRAM credentials for each user."""
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    scram = [a for user, pw in credentials.items() for a in ("--add-scram", f"{MECHANISM}=[name={user},password={pw}]")]
    command = _java(libs, "kafka.tools.StorageTool", "format", "--standalone", "-t", cluster_id, "-c", str(config))
    subprocess.run([*command, *scram], check=True, capture_output=True, timeout=60)


async def _answers(settings: KafkaSettings) -> bool:
    admin = AIOKafkaAdminClient(**aiokafka_kwargs(settings), request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
    except Exception:  # noqa: BLE001 - not up yet
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return True


async def _wait_up(broker: SaslBroker, proc: subprocess.Popen[bytes], within_s: float = 60.0) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if await _answers(broker.settings()):
            return
        await asyncio.sleep(0.3)
    tail = "\n".join(broker.log.read_text(errors="replace").splitlines()[-20:])
    raise AssertionError(f"the SASL broker did not come up (exit {proc.poll()}); log {broker.log}:\n{tail}")


def prepare(workdir: Path, libs: Path) -> tuple[SaslBroker, Path]:
    """Write the configuration and format the storage with the users' SCRAM credentials."""
    broker = SaslBroker(free_port(), "candidate-comms", f"pw-{uuid.uuid4().hex}", workdir / "kafka.log")
    admin, admin_password = "broker-admin", f"admin-{uuid.uuid4().hex}"
    config = workdir / "server.properties"
    workdir.mkdir(parents=True, exist_ok=True)
    config.write_text(properties(broker.port, free_port(), workdir / "data", admin, admin_password))
    format_storage(libs, config, {admin: admin_password, broker.user: broker.password})
    return broker, config


def _spawn(libs: Path, config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(
            _java(libs, "kafka.Kafka", str(config)), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


@asynccontextmanager
async def sasl_kafka(workdir: Path, local: LocalStackSettings) -> AsyncIterator[SaslBroker]:
    """Start the broker in `workdir` on free ports; stop it (and only it) afterwards."""
    libs = local.state_dir / "kafka/libs"
    broker, config = prepare(workdir, libs)
    proc = _spawn(libs, config, broker.log)
    try:
        await _wait_up(broker, proc)
        yield broker
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

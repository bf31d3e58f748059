"""What the local stack runs: each component's command, health probe and preparation."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import shutil
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import httpx
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parents[2]


class LocalStackSettings(BaseSettings):
    """Ports and places of the local stack (env prefix LOCAL_)."""

    model_config = SettingsConfigDict(env_prefix="LOCAL_", extra="ignore")

    state_dir: Path = Field(ROOT / ".local", description="Jars, binaries, data, logs and pid files.")
    kafka_port: int = Field(9092, description="Local Kafka listener.")
    kafka_controller_port: int = Field(9093, description="Local KRaft controller listener.")
    kafka_heap: str = Field("1g", description="JVM heap of the local broker.")
    ferretdb_port: int = Field(27017, description="Local FerretDB (MongoDB wire protocol).")
    ferretdb_pprof: str = Field(
        "", description="Address for FerretDB's Go profiler (/debug/pprof), e.g. 127.0.0.1:6060; empty: off."
    )
    smtp_sink_port: int = Field(2525, description="Local SMTP sink.")
    notifier_inbound_smtp_port: int = Field(
        2526,
        description="The notifier's inbound SMTP listener in `make run` (bounces and e-mail replies); "
        "the SMTP sink sends its delivery-status reports there.",
    )
    preference_port: int = Field(8001, description="Preference service HTTP port in `make run`.")
    router_port: int = Field(8002, description="Router HTTP port in `make run`.")
    notifier_port: int = Field(8003, description="Notifier HTTP port in `make run`.")
    provider_port: int = Field(8025, description="Local provider emulator (Twilio-style SMS/WhatsApp/voice API).")
    connectors_port: int = Field(
        8004, description="Connector service HTTP port in `make run` (ATS webhooks, CloudEvents)."
    )
    ats_emulator_port: int = Field(
        8026, description="Local emulators of the ATS REST APIs (Greenhouse, Recruitee, ...)."
    )
    partitions: int = Field(6, description="Partitions of every co-partitioned topic.")

    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap address."""
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def mongodb_url(self) -> str:
        """FerretDB URL."""
        return f"mongodb://127.0.0.1:{self.ferretdb_port}/"


Probe = Callable[[LocalStackSettings], Awaitable[bool]]


@dataclass(frozen=True)
class Component:
    """One process of the local stack."""

    name: str
    command: Callable[[LocalStackSettings], list[str]]
    probe: Probe
    describe: Callable[[LocalStackSettings], str]
    env: Callable[[LocalStackSettings], dict[str, str]] = lambda s: {}
    prepare: Callable[[LocalStackSettings], None] | None = None
    after_start: Callable[[LocalStackSettings], Awaitable[None]] | None = None
    start_timeout_s: float = 60.0


def component_env(s: LocalStackSettings) -> dict[str, str]:
    """Environment every started process shares: where Kafka and the database are."""
    return {
        "KAFKA_BOOTSTRAP_SERVERS": s.bootstrap,
        "KAFKA_PARTITIONS": str(s.partitions),
        "MONGODB_URL": s.mongodb_url,
        "PYTHONUNBUFFERED": "1",
    }


async def _tcp_open(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def kafka_ready(s: LocalStackSettings) -> bool:
    """Kafka answers a metadata request."""
    if not await _tcp_open(s.kafka_port):
        return False
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=s.bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return True


async def ferretdb_ready(s: LocalStackSettings) -> bool:
    """FerretDB answers ping."""
    if not await _tcp_open(s.ferretdb_port):
        return False
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(s.mongodb_url, serverSelectionTimeoutMS=1500)
    try:
        await client.admin.command("ping")
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        await client.close()
    return True


async def smtp_ready(s: LocalStackSettings) -> bool:
    """The sink greets with 220."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", s.smtp_sink_port), 1.0)
        banner = await asyncio.wait_for(reader.readline(), 1.0)
        writer.close()
    except (OSError, TimeoutError):
        return False
    return banner.startswith(b"220")


def http_ready(port_of: Callable[[LocalStackSettings], int]) -> Probe:
    """A service's /ready answers 200."""

    async def probe(s: LocalStackSettings) -> bool:
        try:
            async with httpx.AsyncClient(timeout=1.0) as client:
                return (await client.get(f"http://127.0.0.1:{port_of(s)}/ready")).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


async def emulator_ready(s: LocalStackSettings) -> bool:
    """The provider emulator answers its health probe."""
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return (await client.get(f"http://127.0.0.1:{s.provider_port}/_emulator/health")).status_code == 200
    except httpx.HTTPError:
        return False


def _kafka_prepare(s: LocalStackSettings) -> None:
    kdir = s.state_dir / "kafka"
    data = s.state_dir / "data/kafka"
    template = (ROOT / "deploy/local/kafka/server.properties.in").read_text()
    props = template.format(port=s.kafka_port, controller_port=s.kafka_controller_port, data_dir=data)
    (kdir / "server.properties").write_text(props)
    if (data / "meta.properties").exists():
        return
    data.mkdir(parents=True, exist_ok=True)
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    import subprocess

    subprocess.run(  # noqa: S603 - fixed command line
        [
            shutil.which("java") or "java",
            "-cp",
            f"{kdir}/libs/*",
            f"-Dlog4j2.configurationFile={ROOT}/deploy/local/kafka/log4j2.yaml",
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            "-t",
            cluster_id,
            "-c",
            str(kdir / "server.properties"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _kafka_command(s: LocalStackSettings) -> list[str]:
    kdir = s.state_dir / "kafka"
    return [
        "java",
        f"-Xmx{s.kafka_heap}",
        f"-Xms{s.kafka_heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={ROOT}/deploy/local/kafka/log4j2.yaml",
        "-cp",
        f"{kdir}/libs/*",
        "kafka.Kafka",
        str(kdir / "server.properties"),
    ]


async def _create_topics(s: LocalStackSettings) -> None:
    created = await create_topics(s)
    if created:
        print(f"stack: created {len(created)} topics", flush=True)


async def create_topics(s: LocalStackSettings) -> list[str]:
    """Create the contract's topics with the stack's partition count."""
    from services.common.kafka import create_topics as create
    from services.common.settings import KafkaSettings

    return await create(KafkaSettings(bootstrap_servers=s.bootstrap, partitions=s.partitions))


def local_whatsapp_templates() -> str:
    """Every message template in Dutch and English as "approved" for the local provider emulator (JSON).

    So a candidate who picks WhatsApp gets WhatsApp in `make run`; production lists its real Content SIDs.
    """
    from schemas.dispatch import TemplateName

    def sid(name: str) -> str:
        return "HX" + hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()

    catalogue = {
        t: {lang: {"content_sid": sid(f"{t}:{lang}"), "variables": ["name", "job_title"]} for lang in ("nl", "en")}
        for t in get_args(TemplateName)
    }
    return json.dumps(catalogue)


def _service(
    name: str, port_of: Callable[[LocalStackSettings], int], also: Callable[[LocalStackSettings], str] = lambda s: ""
) -> Component:
    prefix = name.upper()

    def env(s: LocalStackSettings) -> dict[str, str]:
        return {
            f"{prefix}_PORT": str(port_of(s)),
            "NOTIFIER_SMTP_PORT": str(s.smtp_sink_port),
            # Bounces (DSNs from the sink) and e-mail replies reach the notifier without extra configuration.
            "NOTIFIER_INBOUND_SMTP_PORT": str(s.notifier_inbound_smtp_port),
            "NOTIFIER_PREFERENCE_URL": f"http://127.0.0.1:{s.preference_port}",
            "NOTIFIER_PUBLIC_URL": f"http://127.0.0.1:{s.notifier_port}",
            "PREFERENCE_PUBLIC_URL": f"http://127.0.0.1:{s.preference_port}",
            "NOTIFIER_PROVIDER_BASE_URL": f"http://127.0.0.1:{s.provider_port}",
            # Self-service verification codes go straight to the same provider emulator and SMTP sink.
            "PREFERENCE_PROVIDER_BASE_URL": f"http://127.0.0.1:{s.provider_port}",
            "PREFERENCE_SMTP_PORT": str(s.smtp_sink_port),
            "NOTIFIER_PORTAL_WEBHOOK_URL": f"http://127.0.0.1:{s.provider_port}/_emulator/portal",
            "CHANNELS_WHATSAPP_TEMPLATES": local_whatsapp_templates(),
        }

    return Component(
        name=name,
        command=lambda s: [sys.executable, "-m", f"services.{name}"],
        probe=http_ready(port_of),
        describe=lambda s: f"http://127.0.0.1:{port_of(s)}{also(s)}",
        env=env,
        start_timeout_s=60.0,
    )


async def ats_emulators_ready(s: LocalStackSettings) -> bool:
    """The ATS emulators answer their health probe."""
    try:
        async with httpx.AsyncClient(timeout=1.0) as client:
            return (await client.get(f"http://127.0.0.1:{s.ats_emulator_port}/_emulator/health")).status_code == 200
    except httpx.HTTPError:
        return False


# Local connections of `make run`: every ATS with an adapter, on its emulator, with dev-only secrets and keys.
LOCAL_CONNECTION_OPTIONS = {"greenhouse": {"on_behalf_of": "4080"}, "recruitee": {"company_id": "54123"}}


def local_connections_env(s: LocalStackSettings) -> dict[str, str]:
    """CONNECTORS_CONNECTIONS__<ATS>__* for each adapter present (webhook secret dev-<ats>-secret)."""
    import importlib.util

    env: dict[str, str] = {}
    for ats in ("greenhouse", "recruitee", "lever", "ashby"):
        if importlib.util.find_spec(f"services.connectors.{ats}") is None:
            continue
        prefix = f"CONNECTORS_CONNECTIONS__{ats.upper()}__"
        env |= {
            prefix + "SECRET": f"dev-{ats}-secret",
            prefix + "API_URL": f"http://127.0.0.1:{s.ats_emulator_port}/{ats}",
            prefix + "API_KEY": f"dev-{ats}-key",
            prefix + "OPTIONS": json.dumps(LOCAL_CONNECTION_OPTIONS.get(ats, {})),
        }
    return env


def _connectors() -> Component:
    base = _service("connectors", lambda s: s.connectors_port, lambda s: "/v1/webhooks/<ats>, /v1/events")

    def env(s: LocalStackSettings) -> dict[str, str]:
        return {**base.env(s), **local_connections_env(s)}

    return Component(
        name=base.name, command=base.command, probe=base.probe, describe=base.describe, env=env, start_timeout_s=60.0
    )


COMPONENTS: tuple[Component, ...] = (
    Component(
        name="kafka",
        command=_kafka_command,
        probe=kafka_ready,
        describe=lambda s: f"Kafka {s.bootstrap} (KRaft)",
        prepare=_kafka_prepare,
        after_start=_create_topics,
        start_timeout_s=90.0,
    ),
    Component(
        name="ferretdb",
        command=lambda s: [
            str(s.state_dir / "bin/ferretdb-local"),
            "-listen",
            f"127.0.0.1:{s.ferretdb_port}",
            "-data-dir",
            str(s.state_dir / "data/ferretdb"),
            *(("-pprof", s.ferretdb_pprof) if s.ferretdb_pprof else ()),
        ],
        probe=ferretdb_ready,
        describe=lambda s: s.mongodb_url,
        start_timeout_s=30.0,
    ),
    Component(
        name="smtp-sink",
        command=lambda s: [
            sys.executable,
            "-m",
            "deploy.local.smtp_sink",
            "--port",
            str(s.smtp_sink_port),
            "--dir",
            str(s.state_dir / "mail"),
            "--dsn-relay",
            f"127.0.0.1:{s.notifier_inbound_smtp_port}",
        ],
        probe=smtp_ready,
        describe=lambda s: (
            f"SMTP 127.0.0.1:{s.smtp_sink_port}, mail in {s.state_dir / 'mail'}, "
            f"bounce reports for bounce-later-* to 127.0.0.1:{s.notifier_inbound_smtp_port}"
        ),
        start_timeout_s=20.0,
    ),
    Component(
        name="provider-emulator",
        command=lambda s: [
            sys.executable,
            "-m",
            "deploy.local.provider_emulator",
            "--port",
            str(s.provider_port),
            "--dir",
            str(s.state_dir / "provider"),
            "--inbound-url",
            f"http://127.0.0.1:{s.notifier_port}/callbacks/twilio/inbound",
        ],
        probe=emulator_ready,
        describe=lambda s: (
            f"SMS/WhatsApp/voice API http://127.0.0.1:{s.provider_port}, receipts in {s.state_dir / 'provider'}"
        ),
        start_timeout_s=20.0,
    ),
    _service("preference", lambda s: s.preference_port),
    _service("router", lambda s: s.router_port),
    _service(
        "notifier",
        lambda s: s.notifier_port,
        lambda s: f", inbound SMTP (bounces, replies) 127.0.0.1:{s.notifier_inbound_smtp_port}",
    ),
    Component(
        name="ats-emulators",
        command=lambda s: [
            sys.executable,
            "-m",
            "deploy.local.ats_emulators",
            "--port",
            str(s.ats_emulator_port),
            "--dir",
            str(s.state_dir / "ats"),
        ],
        probe=ats_emulators_ready,
        describe=lambda s: (
            f"ATS APIs http://127.0.0.1:{s.ats_emulator_port}/<ats>, notes at "
            f"http://127.0.0.1:{s.ats_emulator_port}/_emulator/notes"
        ),
        start_timeout_s=20.0,
    ),
    _connectors(),
)
INFRA: tuple[str, ...] = ("kafka", "ferretdb")

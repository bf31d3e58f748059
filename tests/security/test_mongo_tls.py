"""MongoDB over TLS with the real parts: a second FerretDB (the project's own build) whose only listener
is TLS, with a certificate from a throwaway CA made here. The services take TLS from `MONGODB_URL`
alone (`tls=true&tlsCAFile=...`); the preference service runs on it end to end, while a plain
connection and a client that trusts another CA are refused.

FerretDB 1.x with SQLite has no authentication (its v1 auth hands credentials to PostgreSQL), so
user/password in the URL is not tested locally; production's MongoDB takes them in the same URL.
"""

from __future__ import annotations

import datetime as dt
import gc
import ipaddress
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pymongo import AsyncMongoClient

from deploy.local.components import LocalStackSettings
from deploy.local.procs import free_port
from schemas.topics import PREFERENCES_CHANGED
from services.common.mongo import make_client, ping
from services.common.settings import KafkaSettings, MongoSettings
from services.preference.app import create_app
from services.preference.settings import PreferenceSettings
from tests.support import eventually, profile_from_ats, read_json, running

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    # PyMongo leaves the socket of a refused TLS handshake to the garbage collector; that is its business.
    pytest.mark.filterwarnings("ignore:Exception ignored in.*socket.socket:pytest.PytestUnraisableExceptionWarning"),
]
KEY = {"X-API-Key": "dev-only-api-key"}


@pytest.fixture(autouse=True)
def _collect_refused_sockets() -> Iterator[None]:
    """Collect those sockets before the test ends, under this module's filter (seen: collected later, in
    another module's test, they failed it)."""
    yield
    gc.collect()


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(directory: Path, cn: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA certificate (PEM file) and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


def make_server_cert(directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca: x509.Certificate) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by the CA, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = directory / "server.pem", directory / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class TlsDatabase:
    port: int
    ca: Path
    other_ca: Path

    def url(self, ca: Path | None = None, tls: bool = True) -> str:
        base = f"mongodb://127.0.0.1:{self.port}/"
        return f"{base}?tls=true&tlsCAFile={ca or self.ca}" if tls else base


@pytest.fixture(scope="module")
def tls_db(local_stack: LocalStackSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsDatabase]:
    directory = tmp_path_factory.mktemp("mongo-tls")
    ca_path, ca_key, ca = make_ca(directory, "test-ca")
    other_ca, _, _ = make_ca(directory, "other-ca")
    cert, key = make_server_cert(directory, ca_key, ca)
    port = free_port()
    binary = local_stack.state_dir / "bin/ferretdb-local"
    with (directory / "ferretdb.log").open("wb") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                str(binary),
                "-listen",
                "",
                "-listen-tls",
                f"127.0.0.1:{port}",
                "-tls-cert",
                str(cert),
                "-tls-key",
                str(key),
                "-data-dir",
                str(directory / "data"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        yield TlsDatabase(port, ca_path, other_ca)
    finally:
        proc.terminate()
        proc.wait(10)


async def reachable(url: str) -> bool:
    client = make_client(MongoSettings(url=url, timeout_ms=1500), "tls-test")  # type: ignore[arg-type]
    try:
        return await ping(client)
    finally:
        await client.close()


async def test_the_database_answers_over_tls_with_the_right_ca_only(tls_db: TlsDatabase) -> None:
    async def up() -> bool:
        return await reachable(tls_db.url())

    assert await eventually(up, what="FerretDB's TLS listener")
    assert not await reachable(tls_db.url(tls=False)), "a plain connection to a TLS-only listener must fail"
    assert not await reachable(tls_db.url(ca=tls_db.other_ca)), "a server certificate from another CA must fail"


async def test_a_service_runs_on_a_tls_only_database(tls_db: TlsDatabase, kafka: KafkaSettings, unique: str) -> None:
    """The preference service: its store, outbox and history, all over TLS from the URL alone."""
    assert await eventually(lambda: reachable(tls_db.url()), what="FerretDB's TLS listener")
    mongo = MongoSettings(url=tls_db.url(), database=unique)  # type: ignore[arg-type]
    settings = PreferenceSettings(kafka=kafka, mongo=mongo, group_id=f"{unique}.preference")
    async with running(create_app(settings)) as client:
        assert (await client.get("/ready")).status_code == 200
        await profile_from_ats(client, kafka, f"{unique}-c", what="the profile stored over TLS")
        r = await client.patch(f"/v1/candidates/{unique}-c/preferences", json={"language": "en"}, headers=KEY)
        assert r.status_code == 200, r.text
    assert [s["data"]["version"] for s in await read_json(kafka, PREFERENCES_CHANGED)] == [1, 2]
    raw: AsyncMongoClient[dict[str, Any]] = make_client(mongo, "tls-test")
    try:
        assert await raw[unique]["preference_versions"].count_documents({}) == 2
    finally:
        await raw.drop_database(unique)
        await raw.close()

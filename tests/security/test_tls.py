"""TLS with a server certificate, and mTLS for tills: certificates made in a temporary folder.

The `cryptography` package (in the dev environment) makes a CA, a server certificate for 127.0.0.1 and
localhost, and a client certificate; `scripts/make_test_certs.sh` (openssl) is run too, and its files
serve one server. Plaintext is refused by a TLS port; with a client CA configured, a client without a
certificate is refused; `health --tls-ca` speaks TLS.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from loyalty.v1 import program_pb2, program_pb2_grpc

from loyalty_service.app import Service, start_service
from loyalty_service.config import SettingsError, load_settings
from tests.conftest import test_settings as settings_for
from tests.foundation.helpers import cli, service_env
from tests.support.database import TestDatabase

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _name(common_name: str) -> object:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def make_certs(folder: Path) -> Certs:
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("loyalty test CA"))
        .issuer_name(_name("loyalty test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def issue(name: str, usage: object, san: list[object] | None) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key_path, key)
        return cert_path, key_path

    ca_path = folder / "ca.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server = issue(
        "server",
        ExtendedKeyUsageOID.SERVER_AUTH,
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
    )
    client = issue("client", ExtendedKeyUsageOID.CLIENT_AUTH, None)
    return Certs(ca_path, *server, *client)


Start = Callable[..., Awaitable[Service]]


@pytest.fixture
async def tls_service(test_db: TestDatabase, tmp_path: Path) -> AsyncIterator[Start]:
    url = await test_db.new_database()
    started: list[Service] = []

    async def start(**tls: Path) -> Service:
        settings = settings_for(url, tmp_path).model_copy(update=tls)
        settings.validate_for_start()
        service = await start_service(settings, serve_metrics=False)
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop(0)


async def _health(channel: grpc.aio.Channel) -> int:
    stub: Any = health_pb2_grpc.HealthStub(channel)  # the stubs type Check per channel kind
    answer = await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    return int(answer.status)


async def test_tls_server_certificate(tls_service: Start, tmp_path: Path) -> None:
    """Goal: with a certificate the port speaks TLS only; a client trusting the CA gets through."""
    certs = make_certs(tmp_path)
    service = await tls_service(tls_cert_file=certs.server_cert, tls_key_file=certs.server_key)
    trusted = grpc.ssl_channel_credentials(certs.ca.read_bytes())
    async with grpc.aio.secure_channel(f"127.0.0.1:{service.port}", trusted) as channel:
        assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING
        stub = program_pb2_grpc.ProgramServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as unauthenticated:
            await stub.ListStores(program_pb2.ListStoresRequest(), timeout=5)
        assert unauthenticated.value.code() == grpc.StatusCode.UNAUTHENTICATED, "TLS is not authentication"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as plaintext:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _health(plaintext)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE

    ok = await asyncio.to_thread(
        cli,
        "health",
        "--address",
        f"localhost:{service.port}",
        "--tls-ca",
        str(certs.ca),
        env=service_env(None),
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "SERVING"
    address = f"127.0.0.1:{service.port}"
    plain = await asyncio.to_thread(
        cli, "health", "--address", address, "--timeout", "2", env=service_env(None)
    )
    assert plain.returncode == 1


async def test_mutual_tls_requires_a_client_certificate(tls_service: Start, tmp_path: Path) -> None:
    """Goal: with a client CA, a client without a certificate is refused and one with a certificate served."""
    certs = make_certs(tmp_path)
    service = await tls_service(
        tls_cert_file=certs.server_cert, tls_key_file=certs.server_key, tls_client_ca_file=certs.ca
    )
    address = f"127.0.0.1:{service.port}"
    with_cert = grpc.ssl_channel_credentials(
        certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
    )
    async with grpc.aio.secure_channel(address, with_cert) as channel:
        assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING
    without_cert = grpc.ssl_channel_credentials(certs.ca.read_bytes())
    async with grpc.aio.secure_channel(address, without_cert) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await _health(channel)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
async def test_the_script_makes_working_certificates(tls_service: Start, tmp_path: Path) -> None:
    """Goal: scripts/make_test_certs.sh (the README's way) makes a CA, server and client cert that work."""
    out = tmp_path / "certs"
    script = ["sh", str(ROOT / "scripts" / "make_test_certs.sh"), str(out)]
    await asyncio.to_thread(subprocess.run, script, check=True, capture_output=True)
    service = await tls_service(
        tls_cert_file=out / "server.pem", tls_key_file=out / "server.key", tls_client_ca_file=out / "ca.pem"
    )
    credentials = grpc.ssl_channel_credentials(
        (out / "ca.pem").read_bytes(), (out / "client.key").read_bytes(), (out / "client.pem").read_bytes()
    )
    async with grpc.aio.secure_channel(f"localhost:{service.port}", credentials) as channel:
        assert await _health(channel) == health_pb2.HealthCheckResponse.SERVING


def test_tls_settings_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Goal: half a TLS configuration, or a missing file, is refused at start with the setting's name."""
    certs = make_certs(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("LOYALTY_"):
            monkeypatch.delenv(name)
    with pytest.raises(SettingsError, match="LOYALTY_TLS_KEY_FILE"):
        load_settings(tls_cert_file=certs.server_cert)
    with pytest.raises(SettingsError, match="LOYALTY_TLS_CLIENT_CA_FILE"):
        load_settings(tls_client_ca_file=certs.ca)
    with pytest.raises(SettingsError, match="not a readable file"):
        load_settings(tls_cert_file=tmp_path / "missing.pem", tls_key_file=certs.server_key)
    settings = load_settings(tls_cert_file=certs.server_cert, tls_key_file=certs.server_key)
    assert "PRIVATE KEY" not in repr(settings), "settings hold paths, not keys"

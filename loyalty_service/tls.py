"""TLS for the gRPC port: a server certificate, and optionally client certificates (mTLS, e.g. for tills).

Plaintext stays the default (a TLS-terminating proxy or a mesh in front is common). With
LOYALTY_TLS_CERT_FILE and LOYALTY_TLS_KEY_FILE the port serves TLS only; adding LOYALTY_TLS_CLIENT_CA_FILE
requires every client to present a certificate signed by that CA. Keys are read from files at start,
never taken from environment values, and never logged.
"""

from __future__ import annotations

import grpc

from loyalty_service.config import Settings

__all__ = ["add_port", "server_credentials"]


def server_credentials(settings: Settings) -> grpc.ServerCredentials | None:
    """The port's TLS credentials from the configured files; None for plaintext."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    chain = settings.tls_cert_file.read_bytes()
    key = settings.tls_key_file.read_bytes()
    client_ca = settings.tls_client_ca_file.read_bytes() if settings.tls_client_ca_file else None
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def add_port(server: grpc.aio.Server, address: str, settings: Settings) -> int:
    """Bind `address` with TLS when configured, plaintext otherwise; returns the port."""
    credentials = server_credentials(settings)
    if credentials is None:
        return server.add_insecure_port(address)
    return server.add_secure_port(address, credentials)

"""A throwaway certificate authority for local HTTPS stand-ins (trustme)."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class LocalTls:
    ca_pem: Path  # trust this (REQUESTS_CA_BUNDLE) to reach the servers
    cert_pem: Path  # server certificate chain for 127.0.0.1 / localhost
    key_pem: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_pem, self.key_pem)
        return ctx


def make_tls(folder: Path) -> LocalTls:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    folder.mkdir(parents=True, exist_ok=True)
    tls = LocalTls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    ca.cert_pem.write_to_path(str(tls.ca_pem))
    cert.private_key_pem.write_to_path(str(tls.key_pem))
    with tls.cert_pem.open("wb") as fh:
        for blob in cert.cert_chain_pems:
            fh.write(blob.bytes())
    return tls

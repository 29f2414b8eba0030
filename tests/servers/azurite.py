"""Azurite (the Azure Storage emulator) started by the tests, over HTTPS with a local CA.

Installed by tests/setup/system_deps.sh into .cache/azurite. The well-known development
account and key are Azurite's own public defaults, not secrets.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.servers.tls import LocalTls

REPO = Path(__file__).resolve().parents[2]
AZURITE = REPO / ".cache" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class Azurite:
    process: subprocess.Popen
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=https;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_azurite(workspace: Path, tls: LocalTls, timeout_s: float = 30.0) -> Azurite:
    port = free_port()
    workspace.mkdir(parents=True, exist_ok=True)
    args = [
        str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port),
        "--location", str(workspace), "--silent", "--skipApiVersionCheck", "--loose",
        "--disableTelemetry", "--cert", str(tls.cert_pem), "--key", str(tls.key_pem),
        "--oauth", "basic",
    ]  # fmt: skip
    log = (workspace / "azurite.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("azurite exited: " + (workspace / "azurite.log").read_text())
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return Azurite(process, port)
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("azurite did not start in time")

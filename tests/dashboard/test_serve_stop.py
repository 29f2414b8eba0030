"""`finops dashboard` stopped by a service manager (SIGTERM) stops its server with it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from pathlib import Path

from tests.fixtures.served import Served


def _port_free(port: int) -> bool:
    """No server listens on the port (connections from the health checks may linger)."""
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_sigterm_stops_the_server_and_frees_the_port(small_warehouse: Path) -> None:
    with Served(small_warehouse) as served:
        try:
            assert not _port_free(served.port)
            os.kill(served.proc.pid, signal.SIGTERM)  # the finops process only, not its group
            assert served.proc.wait(15) == 0
            deadline = time.monotonic() + 15
            while not _port_free(served.port) and time.monotonic() < deadline:
                time.sleep(0.2)
            # the Streamlit server used to outlive it, holding the port
            assert _port_free(served.port)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(served.proc.pid, signal.SIGKILL)

"""moto's server mode over HTTP: real AWS wire protocol on localhost, for tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def serve() -> Iterator[str]:
    """Yields the endpoint URL of a fresh moto server."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@contextlib.contextmanager
def serve_process() -> Iterator[str]:
    """Yields the endpoint URL of a fresh moto server in a process of its own.

    For clients that wait for an answer while holding the interpreter's lock (deltalake's
    `history()` does): a server thread in the same process could never answer them."""
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)

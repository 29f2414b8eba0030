"""A real Prometheus (Debian's package) backfilled with OpenMetrics series, for tests.

`promtool tsdb create-blocks-from openmetrics` writes blocks from the text, then the server
starts on them with a long retention (else old blocks are dropped at start). Also a tiny
HTTP proxy that answers 503 a given number of times before forwarding, for retry tests.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def available() -> bool:
    return Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openmetrics(series: dict[str, list[tuple[dict[str, str], list[tuple[float, float]]]]]) -> str:
    """metric -> [(labels, [(unix seconds, value)])] as OpenMetrics text ending `# EOF`."""
    lines = []
    for name, items in series.items():
        kind = "counter" if name.endswith("_CONSUMPTION") else "gauge"
        family = name.removesuffix("_total")
        lines.append(f"# TYPE {family} {kind}")
        for labels, points in items:
            text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            lines += [f"{name}{{{text}}} {v!r} {t:.3f}" for t, v in points]
    return "\n".join(lines) + "\n# EOF\n"


@contextlib.contextmanager
def serve(text: str, workdir: Path) -> Iterator[str]:
    """Backfill `text` and run Prometheus on it; yields the base URL."""
    data = workdir / "tsdb"
    data.mkdir(parents=True)
    source = workdir / "backfill.om"
    source.write_text(text, encoding="utf-8")
    subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
    )
    config = workdir / "prometheus.yml"
    config.write_text("", encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen(
        [
            PROMETHEUS,
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=10y",
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "prometheus.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "prometheus.log").read_text()[-2000:]
                raise RuntimeError(f"prometheus did not start: {log}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def flaky_proxy(upstream: str, failures: int) -> Iterator[tuple[str, list[int]]]:
    """Answers 503 (as Prometheus does on timeout) `failures` times, then forwards.

    Yields the proxy URL and the list of status codes it answered.
    """
    answered: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if answered.count(503) < failures:
                answered.append(503)
                payload = b'{"status":"error","errorType":"timeout","error":"query timed out"}'
                self.send_response(503)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            req = urllib.request.Request(
                upstream + self.path,
                data=body,
                headers={"Content-Type": self.headers["Content-Type"]},
            )
            try:
                with urllib.request.urlopen(req) as resp:
                    code, payload = resp.status, resp.read()
            except urllib.error.HTTPError as exc:
                code, payload = exc.code, exc.read()
            answered.append(code)
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", answered
    finally:
        server.shutdown()
        server.server_close()

"""Stand-ins for the gates in front of managed Prometheus services, for tests.

`auth_proxy` forwards to a real Prometheus only the requests a check accepts (bearer, basic,
a SigV4 signature recomputed with botocore's own signer, a tenant header) and answers the
others 401/403 as the services do; optionally over HTTPS with a trustme certificate.
`managed_identity` is an App Service managed-identity token endpoint (the wire format
azure-identity's ManagedIdentityCredential speaks), so DefaultAzureCredential gets a token
without reaching Entra. Both bind 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import http.server
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from email.message import Message

from tests.servers.tls import LocalTls

# (method, url, headers, body) -> None to accept, or (status, message) to refuse; headers
# are looked up by name case-insensitively, as HTTP says
Check = Callable[[str, str, Message, bytes], tuple[int, str] | None]


def bearer(token: str) -> Check:
    def check(method: str, url: str, headers: Message, body: bytes):
        if headers.get("Authorization") != f"Bearer {token}":
            return 401, "authentication error: invalid token"
        return None

    return check


def basic(user: str, password: str) -> Check:
    want = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def check(method: str, url: str, headers: Message, body: bytes):
        if not hmac.compare_digest(headers.get("Authorization", ""), want):
            return 401, "authentication error: invalid username or password"
        return None

    return check


def tenant(org_id: str) -> Check:
    def check(method: str, url: str, headers: Message, body: bytes):
        if headers.get("X-Scope-OrgID") != org_id:
            return 401, "no org id"  # Mimir's words
        return None

    return check


def all_of(*checks: Check) -> Check:
    def check(method: str, url: str, headers: Message, body: bytes):
        return next((r for c in checks if (r := c(method, url, headers, body))), None)

    return check


_SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


def sigv4(access_key: str, secret_key: str, region: str, token: str | None = None) -> Check:
    """Verifies the signature as AWS does: recompute it from the request with the secret."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def check(method: str, url: str, headers: Message, body: bytes):
        match = _SIGV4.fullmatch(headers.get("Authorization", ""))
        if not match:
            return 403, "Missing Authentication Token"
        if match["key"] != access_key:
            return 403, "The security token included in the request is invalid."
        if (match["region"], match["service"]) != (region, "aps"):
            return 403, f"Credential should be scoped to a valid region and service aps/{region}"
        stamp = headers.get("X-Amz-Date", "")
        signed = match["signed"].split(";")
        if stamp[:8] != match["day"] or not {"host", "x-amz-date"} <= set(signed):
            return 403, "host and x-amz-date must be signed, on the credential's day"
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        if abs(when - time.time()) > 300:
            return 403, "Signature expired"
        if token is not None and headers.get("X-Amz-Security-Token") != token:
            return 403, "The security token included in the request is invalid."
        lower = {k.lower(): v for k, v in headers.items()}
        request = AWSRequest(
            method=method, url=url, data=body, headers={n: lower[n] for n in signed}
        )
        request.context["timestamp"] = stamp
        signer = SigV4Auth(Credentials(access_key, secret_key, token), "aps", region)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        if not hmac.compare_digest(expected, match["signature"]):
            return 403, (
                "The request signature we calculated does not match the signature you provided."
            )
        return None

    return check


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a refused TLS handshake
        pass


def _serve(handler: type, tls: LocalTls | None) -> tuple[_Server, str]:
    server = _Server(("127.0.0.1", 0), handler)
    scheme = "http"
    if tls is not None:
        server.socket = tls.server_context().wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"{scheme}://127.0.0.1:{server.server_address[1]}"


@contextlib.contextmanager
def auth_proxy(
    upstream: str, check: Check, tls: LocalTls | None = None
) -> Iterator[tuple[str, list[tuple[int, Message]]]]:
    """Yields the proxy URL and the (status, headers) of every request it answered."""
    seen: list[tuple[int, Message]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = self.headers
            scheme = "https" if tls else "http"
            url = f"{scheme}://{headers['Host']}{self.path}"
            refused = check(self.command, url, headers, body)
            if refused:
                code, payload = refused[0], json.dumps({"message": refused[1]}).encode()
            else:
                req = urllib.request.Request(
                    upstream + self.path,
                    data=body or None,
                    headers={"Content-Type": headers.get("Content-Type", "text/plain")},
                    method=self.command,
                )
                try:
                    with urllib.request.urlopen(req) as resp:
                        code, payload = resp.status, resp.read()
                except urllib.error.HTTPError as exc:
                    code, payload = exc.code, exc.read()
            seen.append((code, headers))
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _forward

    server, url = _serve(Handler, tls)
    try:
        yield url, seen
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def managed_identity(token: str, header_secret: str) -> Iterator[tuple[str, list[str]]]:
    """App Service managed identity: GET ?api-version=2019-08-01&resource=R with the
    X-IDENTITY-HEADER secret -> {"access_token", "expires_on", "resource", "token_type"}.

    Yields the endpoint for IDENTITY_ENDPOINT and the resources asked for.
    """
    resources: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
            if self.headers.get("X-IDENTITY-HEADER") != header_secret:
                code, body = 401, {"error": "invalid_request", "error_description": "bad header"}
            else:
                resources.append(query.get("resource", ""))
                code, body = (
                    200,
                    {
                        "access_token": token,
                        "expires_on": str(int(time.time()) + 3600),
                        "resource": query.get("resource", ""),
                        "token_type": "Bearer",
                    },
                )
            payload = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server, url = _serve(Handler, None)
    try:
        yield url + "/msi/token", resources
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def redirect(status: int, location_for: Callable[[str], str]) -> Iterator[str]:
    """Answers every request `status` with Location `location_for(path)`."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def _moved(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Location", location_for(self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _moved

    server, url = _serve(Handler, None)
    try:
        yield url
    finally:
        server.shutdown()
        server.server_close()

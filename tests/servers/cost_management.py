"""A local HTTPS stand-in for the Azure Cost Management Query API (and a managed-identity
token endpoint), answering the real REST request and response shapes.

`POST /{scope}/providers/Microsoft.CostManagement/query?api-version=...` returns
`{"id", "name", "type", "properties": {"nextLink", "columns", "rows"}}` in pages linked by
`$skiptoken`; errors use ARM's `{"error": {"code", "message"}}`. `GET /msi/token` answers as
App Service's managed identity endpoint does (IDENTITY_ENDPOINT / IDENTITY_HEADER), so the
real DefaultAzureCredential chain obtains the bearer token.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from tests.servers.tls import LocalTls

IDENTITY_HEADER = "stand-in-identity-header"
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.e30."
COLUMNS = [
    {"name": "Cost", "type": "Number"},
    {"name": "UsageDate", "type": "Number"},
    {"name": "ResourceId", "type": "String"},
    {"name": "Meter", "type": "String"},
    {"name": "Currency", "type": "String"},
]
_QUERY = re.compile(r"^/(?P<scope>.+)/providers/Microsoft\.CostManagement/query$", re.I)


@dataclass
class CostManagementStandIn:
    tls: LocalTls
    # scope -> rows of [Decimal cost, yyyymmdd, resource id, meter, currency]
    rows: dict[str, list[list]] = field(default_factory=dict)
    page_size: int = 2
    fail_with: tuple[int, str, str] | None = None  # (status, ARM code, message)
    requests: list[dict] = field(default_factory=list)
    url: str = ""

    def start(self) -> CostManagementStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                stand_in.requests.append({"method": "GET", "path": url.path, "query": query})
                if url.path != "/msi/token":
                    return self._send(404, _error("NotFound", url.path))
                if self.headers.get("X-IDENTITY-HEADER") != IDENTITY_HEADER:
                    return self._send(401, _error("Unauthorized", "bad identity header"))
                body = {
                    "access_token": TOKEN,
                    "expires_on": str(int(time.time()) + 3600),
                    "resource": query.get("resource", ""),
                    "token_type": "Bearer",
                }
                self._send(200, json.dumps(body))

            def do_POST(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stand_in.requests.append(
                    {
                        "method": "POST",
                        "path": url.path,
                        "query": query,
                        "body": body,
                        "auth": self.headers.get("Authorization"),
                    }
                )
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    return self._send(401, _error("AuthenticationFailed", "no valid token"))
                match = _QUERY.match(url.path)
                if not match or "api-version" not in query:
                    return self._send(404, _error("NotFound", f"no route {url.path}"))
                status, text = stand_in._query(match["scope"], query, body)
                self._send(status, text)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = self.tls.server_context().wrap_socket(
            self._server.socket, server_side=True
        )
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _query(self, scope: str, query: dict, body: dict) -> tuple[int, str]:
        if self.fail_with:
            status, code, message = self.fail_with
            return status, _error(code, message)
        if (
            body.get("type") != "ActualCost"
            or body.get("dataset", {}).get("granularity") != "Daily"
        ):
            return 400, _error("BadRequest", "expected an ActualCost query with Daily granularity")
        rows = self.rows.get("/" + scope)
        if rows is None:
            return 404, _error("NotFound", f"scope /{scope} not found")
        start = int(query.get("$skiptoken") or 0)
        page = rows[start : start + self.page_size]
        link = None
        if start + self.page_size < len(rows):
            link = (
                f"{self.url}/{scope}/providers/Microsoft.CostManagement/query?"
                f"api-version={query['api-version']}&$skiptoken={start + self.page_size}"
            )
        row_text = ",".join(
            "[" + ",".join(_number(v) if isinstance(v, Decimal | int) else json.dumps(v)
                           for v in r) + "]"
            for r in page
        )  # fmt: skip
        head = {
            "id": f"/{scope}/providers/Microsoft.CostManagement/query/stand-in",
            "name": "stand-in",
            "type": "Microsoft.CostManagement/query",
        }
        props = {"nextLink": link, "columns": COLUMNS}
        text = json.dumps({**head, "properties": {**props, "rows": []}})
        return 200, text.replace('"rows": []', f'"rows": [{row_text}]')


def _number(value) -> str:
    return str(value)


def _error(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})

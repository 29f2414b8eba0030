"""A local BigQuery stand-in speaking the REST wire format the real client uses.

Serves jobs.query (POST .../queries), getQueryResults (GET .../queries/{job}), jobs.get and an
OAuth token endpoint (for service-account Application Default Credentials whose `token_uri`
points here). Tables hold rows as nested dicts with a BigQuery schema; a query must name a
known table in backticks and bind @invoice_month, @partition_from and @partition_to — the
stand-in filters on invoice.month and records every request so tests can assert on them.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# The detailed billing export schema (the fields the reader uses, as BigQuery declares them).
BILLING_SCHEMA: list[dict] = [
    {"name": "billing_account_id", "type": "STRING"},
    {"name": "service", "type": "RECORD", "fields": [
        {"name": "id", "type": "STRING"}, {"name": "description", "type": "STRING"}]},
    {"name": "sku", "type": "RECORD", "fields": [
        {"name": "id", "type": "STRING"}, {"name": "description", "type": "STRING"}]},
    {"name": "usage_start_time", "type": "TIMESTAMP"},
    {"name": "usage_end_time", "type": "TIMESTAMP"},
    {"name": "project", "type": "RECORD", "fields": [
        {"name": "id", "type": "STRING"}, {"name": "name", "type": "STRING"}]},
    {"name": "labels", "type": "RECORD", "mode": "REPEATED", "fields": [
        {"name": "key", "type": "STRING"}, {"name": "value", "type": "STRING"}]},
    {"name": "system_labels", "type": "RECORD", "mode": "REPEATED", "fields": [
        {"name": "key", "type": "STRING"}, {"name": "value", "type": "STRING"}]},
    {"name": "location", "type": "RECORD", "fields": [
        {"name": "location", "type": "STRING"}, {"name": "region", "type": "STRING"},
        {"name": "zone", "type": "STRING"}]},
    {"name": "cost", "type": "FLOAT"},
    {"name": "currency", "type": "STRING"},
    {"name": "usage", "type": "RECORD", "fields": [
        {"name": "amount", "type": "FLOAT"}, {"name": "unit", "type": "STRING"},
        {"name": "amount_in_pricing_units", "type": "FLOAT"},
        {"name": "pricing_unit", "type": "STRING"}]},
    {"name": "credits", "type": "RECORD", "mode": "REPEATED", "fields": [
        {"name": "name", "type": "STRING"}, {"name": "amount", "type": "FLOAT"},
        {"name": "full_name", "type": "STRING"}, {"name": "id", "type": "STRING"},
        {"name": "type", "type": "STRING"}]},
    {"name": "invoice", "type": "RECORD", "fields": [{"name": "month", "type": "STRING"}]},
    {"name": "cost_type", "type": "STRING"},
    {"name": "resource", "type": "RECORD", "fields": [
        {"name": "name", "type": "STRING"}, {"name": "global_name", "type": "STRING"}]},
]  # fmt: skip
_TABLE = re.compile(r"`([^`]+)`")


def _encode(value, spec: dict, int64_ts: bool):
    if spec.get("mode") == "REPEATED":
        item = {k: v for k, v in spec.items() if k != "mode"}
        return [{"v": _encode(v, item, int64_ts)} for v in (value or [])]
    if value is None:
        return None
    if spec["type"] in ("RECORD", "STRUCT"):
        return {"f": [{"v": _encode(value.get(f["name"]), f, int64_ts)} for f in spec["fields"]]}
    if spec["type"] == "TIMESTAMP":
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
        micros = int(ts.timestamp()) * 1_000_000 + ts.microsecond
        return str(micros) if int64_ts else repr(micros / 1e6)
    return str(value) if not isinstance(value, float) else repr(value)


@dataclass
class BigQueryStandIn:
    tables: dict[str, list[dict]] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)
    fail_with: tuple[int, str, str] | None = None  # (status, reason, message) for every query
    token_error: str | None = None  # answer the token endpoint with this OAuth error
    page_size: int = 2
    jobs: dict[str, dict] = field(default_factory=dict)
    url: str = ""

    def start(self) -> BigQueryStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = urlparse(self.path).path
                if path == "/token":
                    return stand_in._token(self, raw)
                body = json.loads(raw or b"{}")
                stand_in.requests.append(
                    {
                        "method": "POST",
                        "path": path,
                        "body": body,
                        "auth": self.headers.get("Authorization"),
                    }
                )
                match = re.fullmatch(r"/bigquery/v2/projects/([^/]+)/queries", path)
                if not match:
                    return self._send(404, _error(404, "notFound", f"no route {path}"))
                status, answer = stand_in._query(match.group(1), body)
                self._send(status, answer)

            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                stand_in.requests.append({"method": "GET", "path": url.path, "query": query})
                if m := re.fullmatch(r"/bigquery/v2/projects/([^/]+)/queries/([^/]+)", url.path):
                    status, answer = stand_in._results(m.group(2), query)
                    return self._send(status, answer)
                if m := re.fullmatch(r"/bigquery/v2/projects/([^/]+)/jobs/([^/]+)", url.path):
                    job = stand_in.jobs.get(m.group(2))
                    if job is None:
                        return self._send(404, _error(404, "notFound", "Not found: Job"))
                    return self._send(200, stand_in._job(job))
                self._send(404, _error(404, "notFound", f"no route {url.path}"))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- handlers ------------------------------------------------------------------------

    def _token(self, handler, raw: bytes) -> None:
        form = parse_qs(raw.decode())
        self.requests.append({"method": "POST", "path": "/token", "form": form})
        if self.token_error:
            return handler._send(
                400, {"error": self.token_error, "error_description": "Invalid JWT Signature."}
            )
        handler._send(
            200, {"access_token": "ya29.stand-in", "expires_in": 3600, "token_type": "Bearer"}
        )

    def _query(self, project: str, body: dict) -> tuple[int, dict]:
        if self.fail_with:
            status, reason, message = self.fail_with
            return status, _error(status, reason, message)
        text = body.get("query", "")
        match = _TABLE.search(text)
        name = match.group(1) if match else ""
        if name not in self.tables:
            return 404, _error(
                404,
                "notFound",
                f"Not found: Table {name.replace('.', ':', 1)} was not found in location US",
            )
        params = {p["name"]: p["parameterValue"]["value"] for p in body.get("queryParameters", [])}
        needed = {"invoice_month", "partition_from", "partition_to"}
        if not needed <= set(params) or "_PARTITIONTIME" not in text:
            return 400, _error(
                400,
                "invalidQuery",
                "Cannot query over table without a filter over column(s) "
                "'_PARTITIONTIME' that can be used for partition elimination",
            )
        rows = [r for r in self.tables[name] if r["invoice"]["month"] == params["invoice_month"]]
        int64_ts = bool(body.get("formatOptions", {}).get("useInt64Timestamp"))
        job_id = "job_" + uuid.uuid4().hex[:12]
        job = {"id": job_id, "project": project, "rows": rows, "query": text, "int64_ts": int64_ts}
        self.jobs[job_id] = job
        size = int(body.get("maxResults") or self.page_size)
        return 200, {"kind": "bigquery#queryResponse", **self._page(job, 0, size)}

    def _results(self, job_id: str, query: dict) -> tuple[int, dict]:
        job = self.jobs.get(job_id)
        if job is None:
            return 404, _error(404, "notFound", f"Not found: Job {job_id}")
        start = int(query.get("pageToken") or query.get("startIndex") or 0)
        size = int(query.get("maxResults") or self.page_size)
        if "formatOptions.useInt64Timestamp" in query:
            job["int64_ts"] = query["formatOptions.useInt64Timestamp"].lower() == "true"
        return 200, {"kind": "bigquery#getQueryResultsResponse", **self._page(job, start, size)}

    def _page(self, job: dict, start: int, size: int) -> dict:
        size = min(size, self.page_size)
        rows = job["rows"][start : start + size]
        page = {
            "schema": {"fields": BILLING_SCHEMA},
            "jobReference": {"projectId": job["project"], "jobId": job["id"], "location": "US"},
            "totalRows": str(len(job["rows"])),
            "rows": [
                {"f": [{"v": _encode(r.get(f["name"]), f, job["int64_ts"])}
                       for f in BILLING_SCHEMA]}
                for r in rows
            ],
            "jobComplete": True,
            "cacheHit": False,
            "totalBytesProcessed": "0",
        }  # fmt: skip
        if start + size < len(job["rows"]):
            page["pageToken"] = str(start + size)
        return page

    def _job(self, job: dict) -> dict:
        return {
            "kind": "bigquery#job",
            "id": f"{job['project']}:US.{job['id']}",
            "jobReference": {"projectId": job["project"], "jobId": job["id"], "location": "US"},
            "configuration": {"jobType": "QUERY", "query": {"query": job["query"],
                                                            "useLegacySql": False}},
            "status": {"state": "DONE"},
            "statistics": {"creationTime": "1727740800000", "startTime": "1727740800000",
                           "endTime": "1727740801000", "query": {"statementType": "SELECT"}},
        }  # fmt: skip


def _error(code: int, reason: str, message: str) -> dict:
    status = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
              404: "NOT_FOUND", 500: "INTERNAL"}.get(code, "UNKNOWN")  # fmt: skip
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }

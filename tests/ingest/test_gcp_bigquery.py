"""`finops ingest gcp bq://...` through google-cloud-bigquery against a local stand-in that
speaks the REST jobs.query / getQueryResults format, with service-account ADC whose token
endpoint is the stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect, versions
from tests.fixtures.gcp_export import export_rows
from tests.servers.bigquery import BigQueryStandIn

TABLE = "acme-billing.billing_export.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
URI = f"bq://{TABLE}"


@pytest.fixture(scope="module")
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip


@pytest.fixture
def bq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_key: str
) -> Iterator[BigQueryStandIn]:
    rows = export_rows() * 3  # 12 rows: 9 of September, 3 of October
    server = BigQueryStandIn(tables={TABLE: rows}, page_size=4).start()
    account = {
        "type": "service_account", "project_id": "acme-billing", "private_key_id": "k1",
        "private_key": private_key, "client_email": "finops@acme-billing.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": server.url + "/token",
    }  # fmt: skip
    (tmp_path / "sa.json").write_text(json.dumps(account), encoding="utf-8")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "sa.json"))
    (tmp_path / "finops.toml").write_text(
        f'[sources.gcp]\napi_endpoint = "{server.url}"\nproject = "acme-finops"\n',
        encoding="utf-8",
    )
    yield server
    server.stop()


def ingest(tmp_path: Path, warehouse: Path, *args: str) -> int:
    cfg = str(tmp_path / "finops.toml")
    return main(["--warehouse", str(warehouse), "--config", cfg, "ingest", "gcp", *args])


def test_month_is_queried_with_bound_parameters_and_paged(
    bq: BigQueryStandIn, tmp_path: Path, warehouse: Path
) -> None:
    assert ingest(tmp_path, warehouse, URI, "--month", "2024-09") == 0
    con = connect(warehouse)
    loads = con.execute(
        "select source, billing_account, billing_period, rows, source_total, warehouse_total "
        "from loads"
    ).fetchall()
    # three copies of September: 3 x (5.866 + 1.25 + 0.75 - 2.2 - 0.000005); 3 x 5 lines and
    # the one Unused line of the CUD fee no usage used
    total = Decimal("16.997985")
    assert loads == [("gcp-bq", "01A2B3-C4D5E6-F7A8B9", "2024-09", 16, total, total)]
    gpu = con.execute(
        "select sum(BilledCost), any_value(x_GpuModel) from cost_lines where x_GpuCount = 2"
    ).fetchone()
    assert gpu == (Decimal("17.598"), "A100")
    (query,) = [r for r in bq.requests if r["path"].endswith("/queries")]
    body = query["body"]
    assert query["path"] == "/bigquery/v2/projects/acme-finops/queries"
    assert f"`{TABLE}`" in body["query"] and "202409" not in body["query"]
    params = {p["name"]: p["parameterValue"]["value"] for p in body["queryParameters"]}
    assert params == {"invoice_month": "202409", "partition_from": "2024-08-29 00:00:00+00:00",
                      "partition_to": "2024-10-16 00:00:00+00:00"}  # fmt: skip
    assert query["auth"] == "Bearer ya29.stand-in"
    pages = [r for r in bq.requests if "/queries/" in r["path"]]
    assert [p["query"]["pageToken"] for p in pages] == ["4", "8"]


BQ_FAILURES = {
    "table not found": ((404, "notFound", "Not found: Table acme-billing:billing_export.x"),
                        "Not found: Table"),
    "access denied": ((403, "accessDenied", "Access Denied: Project acme-billing"),
                      "Access Denied"),
    "invalid query": ((400, "invalidQuery", "Unrecognized name: invoice"), "Unrecognized name"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BQ_FAILURES))
def test_bigquery_error_response_is_one_message(
    case: str, bq: BigQueryStandIn, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    failure, text = BQ_FAILURES[case]
    bq.fail_with = failure
    assert ingest(tmp_path, warehouse, URI, "--month", "2024-09") == 5
    err = capsys.readouterr().err
    assert err.startswith(f"Source unavailable: {URI} 2024-09: ") and text in err
    assert err.count("\n") == 1
    assert versions(warehouse)["cost_lines"] is None


def test_expired_credential_says_which_chain_was_tried(
    bq: BigQueryStandIn, tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bq.token_error = "invalid_grant"
    assert ingest(tmp_path, warehouse, URI, "--month", "2024-09") == 5
    err = capsys.readouterr().err
    assert "refused the credentials" in err and "invalid_grant" in err
    assert "Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS" in err


def test_absent_credential_says_which_chain_was_tried(
    bq: BigQueryStandIn, tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "gone.json"))
    assert ingest(tmp_path, warehouse, URI, "--month", "2024-09") == 5
    err = capsys.readouterr().err
    assert "gone.json" in err and "gcloud auth application-default login" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([URI], "a BigQuery table needs --month"),
        ([URI, "--month", "202409"], "not a month"),
        (["bq://only.two"], "not a BigQuery table address"),
        (["bq://acme-billing.ds.t; DROP TABLE x", "--month", "2024-09"],
         "not a BigQuery table address"),
    ],
)  # fmt: skip
def test_bad_arguments(
    argv: list[str], message: str, bq: BigQueryStandIn, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert ingest(tmp_path, warehouse, *argv) == 2
    assert message in capsys.readouterr().err
    assert not [r for r in bq.requests if r["path"].endswith("/queries")]

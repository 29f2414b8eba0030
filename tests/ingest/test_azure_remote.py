"""Azure exports from a storage container (Azurite over HTTPS) and the Cost Management Query
API (a local HTTPS stand-in), through the real SDKs and the DefaultAzureCredential chain."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect, versions
from tests.fixtures.azure_remote import config
from tests.servers.azurite import Azurite
from tests.servers.cost_management import IDENTITY_HEADER, CostManagementStandIn
from tests.servers.tls import LocalTls

EA = "azure-ea-finops-toolkit"
SCOPE = "/providers/Microsoft.Billing/billingAccounts/8611537"
RID = ("/subscriptions/9ec51cfd-5ca7-4d76-8101-dd0a4abc5674/resourceGroups/ML/providers/"
       "Microsoft.Compute/virtualMachines/GPU-1")  # fmt: skip


def ingest(warehouse: Path, cfg: Path, *args: str) -> int:
    return main(["--warehouse", str(warehouse), "--config", str(cfg), "ingest", "azure", *args])


@pytest.fixture(scope="module")
def container(azurite: Azurite, tls: LocalTls, reference: Path) -> str:
    import os

    from azure.storage.blob import BlobServiceClient

    os.environ["REQUESTS_CA_BUNDLE"] = str(tls.ca_pem)
    try:
        service = BlobServiceClient.from_connection_string(azurite.connection_string)
        box = service.create_container("cost-exports")
        for kind, name in (("actual", "EA_ActualCost_Small.csv"),
                           ("amortized", "EA_AmortizedCost_Small.csv")):  # fmt: skip
            data = (reference / EA / name).read_bytes()
            box.upload_blob(f"finops/{kind}/20230901-20230930/part_0_0001.csv", data)
        box.upload_blob("finops/readme.txt", b"not an export")
    finally:
        del os.environ["REQUESTS_CA_BUNDLE"]
    return "azblob://devstoreaccount1/cost-exports/finops"


@pytest.fixture(scope="module")
def reference() -> Path:
    return Path(__file__).resolve().parents[1] / "fixtures" / "reference"


def test_container_exports_load_with_a_connection_string(
    azurite: Azurite, container: str, azure_env: pytest.MonkeyPatch, tmp_path: Path,
    warehouse: Path,
) -> None:  # fmt: skip
    azure_env.setenv("FINOPS_TEST_AZ_CONN", azurite.connection_string)
    cfg = config(tmp_path, connection_string_env="FINOPS_TEST_AZ_CONN")
    assert ingest(warehouse, cfg, container) == 0
    con = connect(warehouse)
    got = con.execute("select count(*), sum(BilledCost), sum(EffectiveCost) from cost_lines")
    assert got.fetchone() == (29, Decimal("8.545007786742"), Decimal("16.296932136637"))
    files = con.execute("select files from loads").fetchone()[0]
    assert f"{container}/actual/20230901-20230930/part_0_0001.csv" in files
    assert "amortized/20230901-20230930/part_0_0001.csv" in files


def test_absent_credential_names_the_chain_tried(
    azurite: Azurite, container: str, azure_env: pytest.MonkeyPatch, tmp_path: Path,
    warehouse: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # Only the developer credentials (CLI, PowerShell, azd, VS Code), none signed in here;
    # keeps the managed-identity probe of a cloud VM out of the test.
    azure_env.setenv("AZURE_TOKEN_CREDENTIALS", "dev")
    cfg = config(tmp_path, blob_endpoint=azurite.blob_endpoint)
    assert ingest(warehouse, cfg, container) == 5
    err = capsys.readouterr().err
    assert err.startswith("Source unavailable: " + container)
    assert "DefaultAzureCredential" in err and "Azure CLI" in err
    assert "AZURE_STORAGE_CONNECTION_STRING" in err
    assert versions(warehouse)["cost_lines"] is None


def test_missing_container_is_reported(
    azurite: Azurite, azure_env: pytest.MonkeyPatch, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    azure_env.setenv("FINOPS_TEST_AZ_CONN", azurite.connection_string)
    cfg = config(tmp_path, connection_string_env="FINOPS_TEST_AZ_CONN")
    assert ingest(warehouse, cfg, "azblob://devstoreaccount1/nothing-here") == 5
    assert "container 'nothing-here' not found" in capsys.readouterr().err


# ---- Cost Management Query API --------------------------------------------------------------


@pytest.fixture
def cost_api(tls: LocalTls, azure_env: pytest.MonkeyPatch) -> Iterator[CostManagementStandIn]:
    rows = [
        [Decimal("881.28"), 20240901, RID, "ND96isr H100 v5", "USD"],
        [Decimal("0.0000000072922557592391990000"), 20240901, RID, "P60 LRS Disk", "USD"],
        [Decimal("12.3456789012345"), 20240902, RID.upper(), "ND96isr H100 v5", "USD"],
        [Decimal("-1.5"), 20240930, "", "Standard Data Transfer Out", "USD"],
        [Decimal("0.1"), 20240930, RID, "Standard Data Transfer Out", "USD"],
    ]
    server = CostManagementStandIn(tls, rows={SCOPE: rows}, page_size=2).start()
    azure_env.setenv("IDENTITY_ENDPOINT", server.url + "/msi/token")
    azure_env.setenv("IDENTITY_HEADER", IDENTITY_HEADER)
    yield server
    server.stop()


def test_query_api_month_loads_every_page_exactly(
    cost_api: CostManagementStandIn, tmp_path: Path, warehouse: Path
) -> None:
    cfg = config(tmp_path, management_endpoint=cost_api.url, scope=SCOPE)
    assert ingest(warehouse, cfg, "--api", "--month", "2024-09") == 0
    con = connect(warehouse)
    (load,) = con.execute(
        "select source, billing_account, billing_period, rows, source_total, warehouse_total "
        "from loads"
    ).fetchall()
    # 881.28 + 0.000000007292 (rounded half-even to 12) + 12.3456789012345 (-> ...012345 at 12
    # places, 13th digit 5 after an even 4) - 1.5 + 0.1
    total = Decimal("892.225678908526")
    assert load == ("azure-cost-api", "8611537", "2024-09", 5, total, total)
    gpu = con.execute(
        "select count(distinct ResourceId), sum(BilledCost) from cost_lines "
        "where SkuMeter = 'ND96isr H100 v5'"
    ).fetchone()
    assert gpu == (1, Decimal("893.625678901234"))
    posts = [r for r in cost_api.requests if r["method"] == "POST"]
    assert [r["query"].get("$skiptoken") for r in posts] == [None, "2", "4"]
    body = posts[0]["body"]
    assert body["type"] == "ActualCost" and body["dataset"]["granularity"] == "Daily"
    assert body["timePeriod"] == {"from": "2024-09-01T00:00:00Z", "to": "2024-09-30T23:59:59Z"}
    assert [g["name"] for g in body["dataset"]["grouping"]] == ["ResourceId", "Meter"]
    assert all(r["auth"].startswith("Bearer ") for r in posts)


API_FAILURES = {
    "throttled": ((429, "429", "Too many requests. Please retry."), 5, "answered 429"),
    "forbidden": ((403, "RBACAccessDenied", "The client does not have authorization"), 5,
                  "answered 403"),
    "server error": ((503, "ServiceUnavailable", "try later"), 5, "answered 503"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(API_FAILURES))
def test_query_api_errors_are_one_message(
    case: str, cost_api: CostManagementStandIn, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str], azure_env: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    failure, code, text = API_FAILURES[case]
    cost_api.fail_with = failure
    cfg = config(tmp_path, management_endpoint=cost_api.url)
    argv = ["--api", "--scope", SCOPE, "--month", "2024-09"]
    assert ingest(warehouse, cfg, *argv) == code
    err = capsys.readouterr().err
    assert text in err and failure[2] in err and SCOPE in err
    assert versions(warehouse)["cost_lines"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--api", "--scope", "/subscriptions/not-a-guid", "--month", "2024-09"],
         "not a Cost Management scope"),
        (["--api", "--scope", SCOPE], "--api needs a scope and a month"),
        (["--api", "--scope", SCOPE, "--month", "2024-9"], "not a month"),
        (["azblob://Bad_Account/c"], "not a storage container address"),
    ],
)  # fmt: skip
def test_bad_arguments(
    argv: list[str], message: str, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str], azure_env: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    assert ingest(warehouse, config(tmp_path), *argv) == 2
    assert message in capsys.readouterr().err


def test_query_api_absent_credential_names_the_chain(
    tls: LocalTls, azure_env: pytest.MonkeyPatch, tmp_path: Path, warehouse: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    azure_env.setenv("AZURE_TOKEN_CREDENTIALS", "dev")
    cfg = config(tmp_path, management_endpoint="https://127.0.0.1:9")
    assert ingest(warehouse, cfg, "--api", "--scope", SCOPE, "--month", "2024-09") == 5
    err = capsys.readouterr().err
    assert "refused the credentials, or none were found" in err
    assert "DefaultAzureCredential (environment variables" in err


def _key_of(conn: str) -> str:
    return next(p.split("=", 1)[1] for p in conn.split(";") if p.startswith("AccountKey="))


@pytest.mark.parametrize(
    ("spoil", "found"),
    [
        (
            lambda c: c.replace(_key_of(c), "not base64!" + _key_of(c)[:20]),
            "an AccountKey that is not base64; keys DefaultEndpointsProtocol, AccountName, "
            "AccountKey, BlobEndpoint (values not shown)",
        ),
        (lambda c: _key_of(c), "a part without Key=value; no Key=value pair (values not shown)"),
        (
            lambda c: c.replace(";AccountKey=", ";AccountKey:"),
            "a part without Key=value; keys DefaultEndpointsProtocol, AccountName, BlobEndpoint "
            "and 1 other part (values not shown)",
        ),
        (
            lambda c: "AccountKey=" + _key_of(c),
            "Connection string missing required connection details; keys AccountKey (values not "
            "shown)",
        ),
    ],
    ids=["key not base64", "a bare key pasted", "no '=' after a key", "no account or endpoint"],
)
def test_a_malformed_connection_string_is_one_message_that_never_shows_it(
    spoil, found: str, azurite: Azurite, container: str, azure_env: pytest.MonkeyPatch,
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    conn = spoil(azurite.connection_string)
    azure_env.setenv("FINOPS_TEST_AZ_CONN", conn)
    cfg = config(tmp_path, connection_string_env="FINOPS_TEST_AZ_CONN")

    assert ingest(warehouse, cfg, container) == 2

    err = capsys.readouterr().err
    assert err.splitlines() == [
        "Configuration error: the storage connection string in $FINOPS_TEST_AZ_CONN is "
        "malformed — expected Key=value pairs separated by ';' (DefaultEndpointsProtocol, "
        "AccountName, AccountKey in base64, or BlobEndpoint with SharedAccessSignature), found "
        f"{found} — copy the connection string again from the storage account's Access keys "
        "or Shared access signature page"
    ]
    secret = _key_of(azurite.connection_string)
    assert secret[:12] not in err
    assert versions(warehouse)["cost_lines"] is None
    (message,) = connect(warehouse).execute("select message from load_errors").fetchone()
    assert message == err.strip().removeprefix("Configuration error: ")

"""Credentials in URLs are refused before anything is stored, and masked wherever a URL is
printed or kept: stderr, load_errors, and the Delta log's statistics of load_errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli.finops import main
from ingest.warehouse.connection import connect
from ingest.warehouse.store import Store
from models.errors import SourceUnavailableError
from tests.fixtures.s3 import bucket

SECRET = "Sup3rS3cretValue"


def stored_text(warehouse: Path) -> str:
    """Every byte a secret could hide in: load_errors and loads, rows and Delta logs."""
    if not warehouse.exists():
        return ""
    return "\n".join(
        path.read_text(encoding="utf-8", errors="replace")
        for path in warehouse.rglob("*")
        if path.is_file() and path.suffix in (".json", ".parquet", ".checkpoint")
    )


def test_endpoint_url_with_a_password_is_refused(
    endpoint: str, credentials: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client = bucket(endpoint, "billing-refused")
    client.put_object(Bucket="billing-refused", Key="cur/x.csv", Body=b"a\n1\n")
    with_password = endpoint.replace("http://", f"http://minio:{SECRET}@")
    code = main(["--warehouse", str(warehouse), "ingest", "aws", "s3://billing-refused/cur",
                 "--endpoint-url", with_password])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    host = endpoint.removeprefix("http://")
    assert err.strip() == (
        f"Bad input: http://***@{host}: credentials in the --endpoint-url are refused — "
        "expected a URL without credentials, found a user or password before the host — "
        "remove them from the URL; credentials come from the boto3 default credential chain: "
        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, "
        "~/.aws/credentials and ~/.aws/config, container and instance roles"
    )
    assert SECRET not in err
    assert not warehouse.exists()  # nothing stored, not even the error


def test_signed_s3_address_is_masked_in_stderr_and_load_errors(
    endpoint: str, credentials: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bucket(endpoint, "billing-signed")
    uri = f"s3://billing-signed/cur?X-Amz-Credential=AKIA%2F1&X-Amz-Signature={SECRET}"
    code = main(["--warehouse", str(warehouse), "ingest", "aws", uri, "--profile", "finance",
                 "--endpoint-url", endpoint])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    shown = "s3://billing-signed/cur?X-Amz-Credential=***&X-Amz-Signature=***"
    assert err.startswith(f"Bad input: {shown}: no objects under this S3 prefix")
    assert SECRET not in err and "AKIA" not in err
    rows = connect(warehouse).execute("select target, message from load_errors").fetchall()
    assert rows == [(shown, err.strip().removeprefix("Bad input: "))]
    log = "".join(p.read_text() for p in (warehouse / "load_errors" / "_delta_log").glob("*.json"))
    assert '"stats"' in log and "X-Amz-Signature=***" in log  # statistics quote the target
    text = stored_text(warehouse)
    assert SECRET not in text and "AKIA%2F1" not in text


@pytest.mark.parametrize(
    ("address", "found"),
    [
        (f"azblob://acme/exports/cost?sv=2022-11-02&sp=rl&sig={SECRET}",
         "the query parameters 'sig', 'sp', 'sv'"),
        (f"azblob://reader:{SECRET}@acme/exports", "a user or password before the host"),
    ],
)  # fmt: skip
def test_azblob_address_with_a_sas_is_refused(
    address: str, found: str, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--warehouse", str(warehouse), "ingest", "azure", address])
    err = capsys.readouterr().err
    assert code == 2
    assert "credentials in the azblob:// address are refused" in err and found in err
    assert "AZURE_STORAGE_CONNECTION_STRING" in err and "DefaultAzureCredential" in err
    assert "SharedAccessSignature=" in err  # where a SAS goes instead
    assert SECRET not in err and len(err.strip().splitlines()) == 1
    assert not warehouse.exists()


def test_configured_blob_endpoint_with_a_sas_is_refused(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    cfg = tmp_path / "finops.toml"
    cfg.write_text(
        f'[sources.azure]\nblob_endpoint = "https://127.0.0.1:1/acme?sv=1&sig={SECRET}"\n'
    )
    code = main(["--warehouse", str(warehouse), "--config", str(cfg), "ingest", "azure",
                 "azblob://acme/exports/cost"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "credentials in the [sources.azure] blob_endpoint are refused" in err
    assert "https://127.0.0.1:1/acme?sv=***&sig=***" in err
    assert SECRET not in err + stored_text(warehouse)


def test_configured_aws_endpoint_with_a_password_is_refused(
    tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "finops.toml"
    cfg.write_text(f'[sources.aws]\nendpoint_url = "http://cw:{SECRET}@127.0.0.1:1"\n')
    code = main(["--warehouse", str(warehouse), "--config", str(cfg), "ingest", "telemetry",
                 "cloudwatch", "--region", "us-east-1", "--start", "2026-10-01T00:00Z",
                 "--end", "2026-10-02T00:00Z"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(
        "Bad input: http://***@127.0.0.1:1: credentials in the [sources.aws] endpoint_url are "
        "refused — expected a URL without credentials, found a user or password before the host"
    )
    assert "boto3 default credential chain" in err
    assert SECRET not in err
    assert not warehouse.exists()


def test_record_error_keeps_no_secret(warehouse: Path) -> None:
    """A message quoting a signed address (an SDK's words) is stored masked."""
    error = SourceUnavailableError(
        f"the storage account answered 403 for https://acme.blob.core.windows.net/c?sig={SECRET}"
    )
    Store(warehouse).record_error(
        "cost_lines", "azure", f"https://u:{SECRET}@acme.example/c", error
    )
    rows = connect(warehouse).execute("select target, message from load_errors").fetchall()
    assert rows == [
        (
            "https://***@acme.example/c",
            "the storage account answered 403 for https://acme.blob.core.windows.net/c?sig=***",
        )
    ]
    assert SECRET not in stored_text(warehouse)

"""`finops ingest aws s3://...` against moto's S3 server over HTTP with the real boto3 client."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest.sources import s3
from ingest.warehouse.connection import connect
from models.errors import SourceUnavailableError
from tests.fixtures.cur import KOKU, STORED_ROWS, cur2_table, expected_billed, koku_truth
from tests.fixtures.s3 import bucket
from tests.fixtures.warehouse_state import ingest, state


def put_parquet(client, name: str, key: str, table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    client.put_object(Bucket=name, Key=key, Body=buf.getvalue())


def test_cur2_data_exports_layout_one_load_per_period(
    endpoint: str, credentials: Path, warehouse: Path
) -> None:
    client = bucket(endpoint, "billing-cur2")
    base = "exports/acme-cur2/data"
    put_parquet(client, "billing-cur2", f"{base}/BILLING_PERIOD=2026-09/acme-00001.snappy.parquet",
                cur2_table("2026-09").slice(0, 5))  # fmt: skip
    put_parquet(client, "billing-cur2", f"{base}/BILLING_PERIOD=2026-09/acme-00002.snappy.parquet",
                cur2_table("2026-09").slice(5))  # fmt: skip
    put_parquet(client, "billing-cur2", f"{base}/BILLING_PERIOD=2026-10/acme-00001.snappy.parquet",
                cur2_table("2026-10", scale=2.0))  # fmt: skip
    client.put_object(Bucket="billing-cur2", Key="exports/acme-cur2/metadata/x.json", Body=b"{}")

    uri = "s3://billing-cur2/exports/acme-cur2"
    code = ingest(warehouse, "aws", uri, "--profile", "finance", "--endpoint-url", endpoint)
    assert code == 0
    _, _, totals = state(warehouse)
    assert totals["2026-09"][:2] == (STORED_ROWS, expected_billed(cur2_table("2026-09")))
    assert totals["2026-10"][:2] == (STORED_ROWS, expected_billed(cur2_table("2026-10", scale=2.0)))
    rows = (
        connect(warehouse)
        .execute("select billing_period, files from loads order by billing_period")
        .fetchall()
    )
    assert [sorted(f["path"] for f in json.loads(files)) for _, files in rows] == [
        [
            f"s3://billing-cur2/{base}/BILLING_PERIOD=2026-09/acme-00001.snappy.parquet",
            f"s3://billing-cur2/{base}/BILLING_PERIOD=2026-09/acme-00002.snappy.parquet",
        ],
        [f"s3://billing-cur2/{base}/BILLING_PERIOD=2026-10/acme-00001.snappy.parquet"],
    ]
    (source_file,) = (
        connect(warehouse)
        .execute(
            "select distinct x_SourceFile from cost_lines where BillingPeriodStart >= '2026-10-01'"
        )
        .fetchone()
    )
    assert source_file.startswith("s3://billing-cur2/exports/")


def test_legacy_layout_with_manifest_and_gzip(
    endpoint: str,
    credentials: Path,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    client = bucket(endpoint, "billing-legacy")
    period = "cur/acme/20180601-20180701"
    key = f"{period}/7a1b/acme-1.csv.gz"
    client.put_object(
        Bucket="billing-legacy", Key=key, Body=gzip.compress((KOKU / "test_cur.csv").read_bytes())
    )
    stale = f"{period}/0000/acme-1.csv.gz"  # an older assembly the manifest no longer names
    client.put_object(Bucket="billing-legacy", Key=stale, Body=b"not even gzip")
    client.put_object(
        Bucket="billing-legacy",
        Key=f"{period}/acme-Manifest.json",
        Body=json.dumps({"reportKeys": [key], "billingPeriod": {"start": "20180601T000000.000Z"}}),
    )
    monkeypatch.setenv("AWS_PROFILE", "finance")  # default chain, no --profile
    assert (
        ingest(warehouse, "aws", "s3://billing-legacy/cur/acme/", "--endpoint-url", endpoint) == 0
    )
    rows, total, month = koku_truth(KOKU / "test_cur.csv")
    assert state(warehouse)[2][month][:2] == (rows, total)
    out = capsys.readouterr().out
    assert (
        f"skipped 1 file: older CUR assembly in s3://billing-legacy/{period}, not in "
        f"acme-Manifest.json, e.g. s3://billing-legacy/{stale}"
    ) in out


def test_missing_bucket_and_empty_prefix_are_clear_errors(
    endpoint: str, credentials: Path, warehouse: Path, capsys: pytest.CaptureFixture
) -> None:
    bucket(endpoint, "billing-empty")
    args = ("--profile", "finance", "--endpoint-url", endpoint)
    assert ingest(warehouse, "aws", "s3://no-such-bucket/cur", *args) == 5
    err = capsys.readouterr().err
    assert "Source unavailable" in err and "s3://no-such-bucket/cur" in err
    assert "NoSuchBucket" in err and "credential chain" in err
    assert ingest(warehouse, "aws", "s3://billing-empty/nothing/here", *args) == 2
    assert "no objects under this S3 prefix" in capsys.readouterr().err
    assert not (warehouse / "cost_lines").exists()


def test_unknown_profile_names_the_chain(credentials: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SourceUnavailableError) as err:
        s3.client(profile="nobody")
    assert "credential chain" in str(err.value)


def test_download_lands_in_a_temporary_file_removed_afterwards(
    endpoint: str, credentials: Path
) -> None:
    """A 20 MB object is written to disk by boto3's transfer manager, byte for byte."""
    client = bucket(endpoint, "billing-big")
    blob = bytes(range(256)) * (20 * 4096)
    client.put_object(Bucket="billing-big", Key="cur/big.parquet", Body=blob)
    with s3.download("s3://billing-big/cur", "finance", endpoint) as got:
        local = got.root / "big.parquet"
        assert local.stat().st_size == len(blob) and local.read_bytes() == blob
        assert got.display(local) == "s3://billing-big/cur/big.parquet"
    assert not local.exists()  # the temporary copy is removed afterwards

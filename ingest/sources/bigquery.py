"""The BigQuery billing export, queried: `bq://project.dataset.table` and a month.

One query per month through google-cloud-bigquery (REST jobs.query, then getQueryResults
pages), with the month and the partition window as bound parameters; the table name cannot
be a parameter, so it is checked against BigQuery's identifier rules and quoted. Result pages
stream into a Parquet file on disk (memory stays at one page), which ingest/sources/gcp.py then
reads like any exported file. Credentials: Google Application Default Credentials only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ingest.warehouse.billing_period import month_bounds
from models.errors import InputError, SourceUnavailableError
from models.settings import GcpSourceSettings

CHAIN = (
    "Google Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, "
    "`gcloud auth application-default login`, the metadata server)"
)
_URI = re.compile(
    r"^bq://(?P<project>[a-z][a-z0-9.:-]{4,62}[a-z0-9])\.(?P<dataset>[A-Za-z0-9_]{1,1024})"
    r"\.(?P<table>[A-Za-z0-9_$-]{1,1024})$"
)
PAGE_SIZE = 50_000
RETRY_S = 60.0  # transient errors are retried for this long, then reported
# Rows of an invoice month are exported from a few days before it starts (late usage of the
# previous month is invoiced in it) until some days after it ends (corrections).
PARTITION_SLACK_BEFORE = timedelta(days=3)
PARTITION_SLACK_AFTER = timedelta(days=15)


@dataclass(frozen=True)
class TableRef:
    project: str
    dataset: str
    table: str

    @property
    def uri(self) -> str:
        return f"bq://{self.project}.{self.dataset}.{self.table}"

    @property
    def sql_name(self) -> str:
        return f"`{self.project}.{self.dataset}.{self.table}`"


def parse_uri(uri: str) -> TableRef:
    match = _URI.match(uri)
    if not match:
        raise InputError(
            "not a BigQuery table address",
            file=uri,
            expected="bq://<project>.<dataset>.<table>",
            found=uri,
            hint="the billing export table is named gcp_billing_export_v1_<ACCOUNT> "
            "(or gcp_billing_export_resource_v1_<ACCOUNT> for the detailed export)",
        )
    return TableRef(match["project"], match["dataset"], match["table"])


def month_query(ref: TableRef) -> str:
    return (
        f"SELECT * FROM {ref.sql_name} "
        "WHERE invoice.month = @invoice_month "
        "AND _PARTITIONTIME >= @partition_from AND _PARTITIONTIME < @partition_to"
    )


def export_month(
    ref: TableRef, month: str, settings: GcpSourceSettings, dest: Path, credentials=None
) -> tuple[Path, int]:
    """Run the month's query and page the result into `dest` (Parquet); returns (path, rows)."""
    import google.auth.exceptions
    import pyarrow.parquet as pq
    import requests
    from google.api_core import exceptions as gexc
    from google.cloud import bigquery

    start, end = month_bounds(month)
    options = {"api_endpoint": settings.api_endpoint} if settings.api_endpoint else None
    where = f"{ref.uri} {month}"
    config = bigquery.QueryJobConfig(
        query_parameters=[
            bigquery.ScalarQueryParameter("invoice_month", "STRING", start.strftime("%Y%m")),
            bigquery.ScalarQueryParameter(
                "partition_from", "TIMESTAMP", start - PARTITION_SLACK_BEFORE
            ),
            bigquery.ScalarQueryParameter("partition_to", "TIMESTAMP", end + PARTITION_SLACK_AFTER),
        ],
        use_legacy_sql=False,
    )
    rows = 0
    writer = None
    try:
        client = bigquery.Client(
            project=settings.project or ref.project,
            credentials=credentials,
            client_options=options,
            location=settings.location,
        )
        retry = bigquery.DEFAULT_RETRY.with_timeout(RETRY_S)
        job = client.query(
            month_query(ref),
            job_config=config,
            api_method="QUERY",
            retry=retry,
            job_retry=None,
            timeout=RETRY_S,
        )
        result = job.result(page_size=PAGE_SIZE, retry=retry, job_retry=None)
        for batch in result.to_arrow_iterable():
            if writer is None:
                writer = pq.ParquetWriter(dest, batch.schema, compression="zstd")
            writer.write_batch(batch)
            rows += batch.num_rows
    except (google.auth.exceptions.DefaultCredentialsError,
            google.auth.exceptions.RefreshError, gexc.Unauthorized) as exc:  # fmt: skip
        raise SourceUnavailableError(
            "BigQuery refused the credentials, or none were found",
            file=where,
            expected="a credential with bigquery.jobs.create and read access to the table",
            found=_first_line(exc),
            hint=f"tried {CHAIN}; run `gcloud auth application-default login` or set "
            "GOOGLE_APPLICATION_CREDENTIALS",
        ) from None
    except gexc.NotFound as exc:
        raise SourceUnavailableError(
            f"BigQuery: {_first_line(exc)}",
            file=where,
            hint="check the project, dataset and table of the billing export",
        ) from None
    except (gexc.Forbidden, gexc.BadRequest) as exc:
        raise SourceUnavailableError(
            f"BigQuery rejected the query: {_first_line(exc)}",
            file=where,
            hint="check your role on the dataset and the project that runs the query",
        ) from None
    except (gexc.GoogleAPICallError, gexc.RetryError, requests.exceptions.RequestException) as exc:
        raise SourceUnavailableError(
            f"BigQuery failed: {_first_line(exc)}",
            file=where,
            hint="retrying may help",
            retryable=True,
        ) from None
    finally:
        if writer is not None:
            writer.close()
    return dest, rows


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__

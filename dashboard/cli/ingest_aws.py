"""`finops ingest aws PATH_OR_URI`: AWS Cost and Usage Reports (legacy CSV/Parquet, CUR 2.0)."""

from __future__ import annotations

from dashboard.cli.ingest import file_or_s3_command

command = file_or_s3_command(
    "aws",
    "ingest.sources.aws",
    "Load a CUR export: a file, a manifest, a period folder, a folder of period folders, "
    "an AWS Data Exports folder (each month is the files its newest manifest names; older "
    "deliveries are listed as skipped), or s3://bucket/prefix. Each billing period becomes one "
    "commit, reconciled to the cent.",
)

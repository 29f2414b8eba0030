"""`finops ingest focus PATH_OR_URI`: FOCUS 1.0-1.2 exports from any provider."""

from __future__ import annotations

from dashboard.cli.ingest import file_or_s3_command

command = file_or_s3_command(
    "focus",
    "ingest.sources.focus",
    "Load FOCUS files (CSV, CSV.gz, Parquet; a file or a folder, local or s3://). An AWS Data "
    "Exports FOCUS export is read by its newest manifests, an Azure FocusCost export folder "
    "(<export>/<YYYYMMDD-YYYYMMDD>/<runId>/ with manifest.json) by the newest complete run of "
    "each month; older and incomplete deliveries are listed as skipped. Lines are committed per "
    "provider billing account and billing period, reconciled to the cent.",
)

"""Host -> billed resource: how a GPU-hour of telemetry finds the line that paid for it.

Three sources, strongest first: a mapping file the user gives (`host,resource_id`), what the
telemetry itself says (an `instance_id`/`InstanceId` label or a Kubernetes `providerID`),
and the on-prem inventory (`assets.hostnames` -> asset_id).
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl

from models.errors import InputError

_AWS = re.compile(r"^aws:///[^/]*/(i-[0-9a-f]+)$")
_GCE = re.compile(r"^gce://[^/]+/[^/]+/([^/]+)$")
_AZURE = re.compile(r"^azure://(/subscriptions/.+)$", re.IGNORECASE)


def from_provider_id(provider_id: str | None) -> str | None:
    """The billed resource id in a Kubernetes node providerID, or None.

    `aws:///us-east-1a/i-0abc` -> `i-0abc`; `gce://project/zone/name` -> `name`;
    `azure:///subscriptions/...` -> the lower-cased ARM id (Azure ids are case-insensitive).
    """
    if not provider_id:
        return None
    text = provider_id.strip()
    if m := _AWS.match(text):
        return m.group(1)
    if m := _GCE.match(text):
        return m.group(1)
    if m := _AZURE.match(text):
        return m.group(1).lower()
    return None


def read_host_map(path: Path) -> dict[str, str]:
    """A `host,resource_id` CSV; a host mapped to two different resources is an error."""
    if not path.is_file():
        raise InputError("host map not found", file=str(path), hint="give a CSV host,resource_id")
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"not a readable CSV: {str(exc).splitlines()[0]}", file=str(path)
        ) from None
    if not {"host", "resource_id"} <= set(frame.columns):
        raise InputError(
            "host map columns do not match",
            file=str(path),
            expected="columns host,resource_id",
            found=",".join(frame.columns),
        )
    out: dict[str, str] = {}
    for i, (host, rid) in enumerate(frame.select("host", "resource_id").iter_rows()):
        if not host or not rid:
            raise InputError(
                "empty host or resource_id",
                file=str(path),
                location=f"row {i + 1} (line {i + 2})",
                expected="both columns filled",
                found=f"{host!r},{rid!r}",
            )
        host, rid = host.strip(), rid.strip()
        if out.get(host, rid) != rid:
            raise InputError(
                f"host {host!r} is mapped to two resources",
                file=str(path),
                location=f"row {i + 1} (line {i + 2})",
                expected=out[host],
                found=rid,
                hint="a host is one billed resource at a time; keep one row per host",
            )
        out[host] = rid
    return out


def from_assets(assets: pl.DataFrame) -> dict[str, str]:
    """On-prem hostnames (`;`-separated in assets.hostnames) -> asset_id."""
    out: dict[str, str] = {}
    for asset_id, hostnames in assets.select("asset_id", "hostnames").iter_rows():
        for host in (hostnames or "").split(";"):
            if host.strip():
                out[host.strip()] = asset_id
    return out


def resolve(rows: pl.LazyFrame, mapping: dict[str, str], assets: dict[str, str]) -> pl.LazyFrame:
    """Fill resource_id: mapping file, else what the telemetry said, else the inventory."""

    def lookup(table: dict[str, str]) -> pl.Expr:
        if not table:
            return pl.lit(None, pl.String)
        return pl.col("host").replace_strict(table, default=None, return_dtype=pl.String)

    return rows.with_columns(
        pl.coalesce(lookup(mapping), pl.col("resource_id"), lookup(assets)).alias("resource_id")
    )

"""What a GCP export's text values say, worked out once per distinct value.

A month of millions of rows has only hundreds of SKU descriptions, machine types and services,
so each rule here runs over the distinct values and its result is gathered back to the rows
(`per_value` of ingest/sources/values.py). The vocabularies the rules read are in
ingest/sources/gcp_catalog.py; the conversion that uses them is ingest/sources/gcp.py.
"""

from __future__ import annotations

import polars as pl

from ingest.sources.gcp_catalog import (
    CUD_FEE,
    CUD_RESOURCE,
    G2_GPUS,
    GPU_MACHINES,
    GPU_SKU,
    SERVICES,
    SPEND_FEE,
)
from ingest.sources.values import present


def sku_rules() -> list[pl.Expr]:
    """What a SKU description says: the resource a CUD fee commits, whether it is a (spend
    or resource) CUD fee, a Spot/Preemptible SKU, the GPU model a GPU SKU names, and the
    description itself when it is not blank."""
    sku = pl.col("sku.description")
    cud_fee = sku.str.contains(CUD_FEE)
    spend_fee = sku.str.contains(SPEND_FEE)
    return [
        sku.str.extract(CUD_RESOURCE).replace("Cpu", "Core").alias("_res"),
        (cud_fee & ~spend_fee).alias("_resource_fee"),
        cud_fee.alias("_cud_fee"),
        spend_fee.alias("_spend_fee"),
        sku.str.contains(r"^(?:Spot )?Preemptible ").alias("_preemptible"),
        sku.str.extract(GPU_SKU).alias("_gpu_sku"),
        present(sku).alias("_sku_text"),
    ]


def machine_rules() -> list[pl.Expr]:
    """The GPU model and count a machine type implies (a2-highgpu-2g: A100, 2)."""
    machine = pl.col("_machine")
    family = machine.str.extract(r"^([a-z][0-9]+-[a-z]+)")
    gpu_count = pl.coalesce(
        machine.str.extract(r"^a[23]-[a-z]+-([0-9]+)g$").cast(pl.Int64, strict=False),
        pl.when(family == "g2-standard").then(
            machine.str.extract(r"-([0-9]+)$").replace_strict(
                G2_GPUS, default=None, return_dtype=pl.Int64
            )
        ),
    )
    return [
        family.replace_strict(GPU_MACHINES, default=None).alias("_machine_gpu"),
        gpu_count.alias("_gpu_count"),
    ]


def service_rules() -> list[pl.Expr]:
    """A service's FOCUS ServiceCategory and ServiceSubcategory."""
    svc_key = pl.col("service.description").str.to_lowercase()
    return [
        svc_key.replace_strict({k: v[0] for k, v in SERVICES.items()}, default="Other").alias(
            "_svc_cat"
        ),
        svc_key.replace_strict(
            {k: v[1] for k, v in SERVICES.items()}, default="Other (Other)"
        ).alias("_svc_sub"),
    ]

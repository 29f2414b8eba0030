"""What an Azure export's text values say, worked out once per distinct value.

A month of millions of cost-details rows repeats a few thousand resource ids and a handful of
AdditionalInfo texts, meter categories and consumed services, so each rule here runs over the
distinct values of its column and its result is gathered back to the rows (`per_value`, as for
GCP's SKUs). The lookup tables are in ingest/sources/azure_catalog.py; the conversion that
reads these columns is ingest/sources/azure.py.
"""

from __future__ import annotations

import polars as pl

from ingest.sources import azure_catalog as catalog
from ingest.sources import azure_commitments as commitments
from ingest.sources.values import per_value


def lookup(
    key: pl.Expr, table: dict[str, tuple], field: int, dtype: pl.DataType = pl.String
) -> pl.Expr:
    return key.replace_strict(
        {k: v[field] for k, v in table.items()}, default=None, return_dtype=dtype
    )


# the struct columns `parsed` adds (unnest METER and SERVICE; read INFO and RID's fields)
INFO, RID, METER, SERVICE = "_info", "_rid", "_meter_parts", "_service_parts"


def _size_rules() -> list[pl.Expr]:
    """The VM size AdditionalInfo names, and the GPU model and count of that size."""
    size = commitments.vm_size()
    key = size.str.to_lowercase().str.strip_prefix("standard_")
    return [
        size.alias("_vm_size"),
        lookup(key, catalog.GPU_SIZES, 0).alias("_gpu_model"),
        lookup(key, catalog.GPU_SIZES, 1, pl.Int64).alias("_gpu_count"),
    ]


def parsed() -> list[pl.Expr]:
    """The VM size (and its GPUs) in AdditionalInfo, the name and type in ResourceId and the
    service category of the meter category or consumed service, each worked out once per
    distinct text: a month repeats a few thousand resources and a handful of AdditionalInfo
    texts and categories, and a JSON path and regexes on every row were a third of the
    conversion."""
    rid = pl.col("ResourceId")
    # Lookups map one key column each (a join would copy every column of the batch).
    cat_key = pl.col("MeterCategory").str.to_lowercase()
    cons_key = pl.col("ConsumedService").str.to_lowercase()
    return [
        per_value(
            "MeterCategory",
            [
                cat_key.alias("_cat_key"),
                lookup(cat_key, catalog.METER_CATEGORIES, 0).alias("_svc_cat"),
                lookup(cat_key, catalog.METER_CATEGORIES, 1).alias("_svc_sub"),
            ],
            METER,
        ),
        per_value(
            "ConsumedService",
            [
                lookup(cons_key, catalog.CONSUMED_SERVICES, 0).alias("_cons_cat"),
                lookup(cons_key, catalog.CONSUMED_SERVICES, 1).alias("_cons_sub"),
            ],
            SERVICE,
        ),
        per_value("AdditionalInfo", _size_rules(), INFO),
        per_value(
            "ResourceId",
            [
                rid.str.extract(r"/([^/]+)$").alias("_name"),
                rid.str.to_lowercase().str.extract(r"/providers/([^/]+/[^/]+)").alias("_type"),
            ],
            RID,
        ),
    ]

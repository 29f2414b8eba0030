"""AWS CUR 2.0 (Data Exports) Parquet: the column set, Arrow types and a streaming writer.

Lines arrive in groups that share their text/map columns (one instance-month, one day of one
usage type), so a chunk of a million lines is built with ``take`` instead of Python rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

STR, F64, TS = pa.string(), pa.float64(), pa.timestamp("ms")
MAP_S = pa.map_(pa.string(), pa.string())
MAP_F = pa.map_(pa.string(), pa.float64())

# CUR 2.0 column names (snake_case) in the export's order; types as Data Exports writes them.
COLUMNS: list[tuple[str, pa.DataType]] = [
    ("bill_bill_type", STR),
    ("bill_billing_entity", STR),
    ("bill_billing_period_end_date", TS),
    ("bill_billing_period_start_date", TS),
    ("bill_invoice_id", STR),
    ("bill_invoicing_entity", STR),
    ("bill_payer_account_id", STR),
    ("bill_payer_account_name", STR),
    ("cost_category", MAP_S),
    ("discount", MAP_F),
    ("discount_bundled_discount", F64),
    ("discount_total_discount", F64),
    ("identity_line_item_id", STR),
    ("identity_time_interval", STR),
    ("line_item_availability_zone", STR),
    ("line_item_blended_cost", F64),
    ("line_item_blended_rate", STR),
    ("line_item_currency_code", STR),
    ("line_item_legal_entity", STR),
    ("line_item_line_item_description", STR),
    ("line_item_line_item_type", STR),
    ("line_item_net_unblended_cost", F64),
    ("line_item_net_unblended_rate", STR),
    ("line_item_normalization_factor", F64),
    ("line_item_normalized_usage_amount", F64),
    ("line_item_operation", STR),
    ("line_item_product_code", STR),
    ("line_item_resource_id", STR),
    ("line_item_tax_type", STR),
    ("line_item_unblended_cost", F64),
    ("line_item_unblended_rate", STR),
    ("line_item_usage_account_id", STR),
    ("line_item_usage_account_name", STR),
    ("line_item_usage_amount", F64),
    ("line_item_usage_end_date", TS),
    ("line_item_usage_start_date", TS),
    ("line_item_usage_type", STR),
    ("pricing_currency", STR),
    ("pricing_lease_contract_length", STR),
    ("pricing_offering_class", STR),
    ("pricing_public_on_demand_cost", F64),
    ("pricing_public_on_demand_rate", STR),
    ("pricing_purchase_option", STR),
    ("pricing_rate_code", STR),
    ("pricing_rate_id", STR),
    ("pricing_term", STR),
    ("pricing_unit", STR),
    ("product", MAP_S),
    ("product_comment", STR),
    ("product_fee_code", STR),
    ("product_fee_description", STR),
    ("product_from_location", STR),
    ("product_from_location_type", STR),
    ("product_from_region_code", STR),
    ("product_instance_family", STR),
    ("product_instance_type", STR),
    ("product_instancesku", STR),
    ("product_location", STR),
    ("product_location_type", STR),
    ("product_operation", STR),
    ("product_pricing_unit", STR),
    ("product_product_family", STR),
    ("product_region_code", STR),
    ("product_servicecode", STR),
    ("product_sku", STR),
    ("product_to_location", STR),
    ("product_to_location_type", STR),
    ("product_to_region_code", STR),
    ("product_usagetype", STR),
    ("reservation_amortized_upfront_cost_for_usage", F64),
    ("reservation_amortized_upfront_fee_for_billing_period", F64),
    ("reservation_availability_zone", STR),
    ("reservation_effective_cost", F64),
    ("reservation_end_time", STR),
    ("reservation_modification_status", STR),
    ("reservation_net_effective_cost", F64),
    ("reservation_number_of_reservations", STR),
    ("reservation_recurring_fee_for_usage", F64),
    ("reservation_reservation_a_r_n", STR),
    ("reservation_start_time", STR),
    ("reservation_subscription_id", STR),
    ("reservation_total_reserved_units", STR),
    ("reservation_units_per_reservation", STR),
    ("reservation_unused_amortized_upfront_fee_for_billing_period", F64),
    ("reservation_unused_quantity", F64),
    ("reservation_unused_recurring_fee", F64),
    ("reservation_upfront_value", F64),
    ("resource_tags", MAP_S),
    ("savings_plan_amortized_upfront_commitment_for_billing_period", F64),
    ("savings_plan_end_time", STR),
    ("savings_plan_instance_type_family", STR),
    ("savings_plan_net_savings_plan_effective_cost", F64),
    ("savings_plan_offering_type", STR),
    ("savings_plan_payment_option", STR),
    ("savings_plan_purchase_term", STR),
    ("savings_plan_recurring_commitment_for_billing_period", F64),
    ("savings_plan_region", STR),
    ("savings_plan_savings_plan_a_r_n", STR),
    ("savings_plan_savings_plan_effective_cost", F64),
    ("savings_plan_savings_plan_rate", F64),
    ("savings_plan_start_time", STR),
    ("savings_plan_total_commitment_to_date", F64),
    ("savings_plan_used_commitment", F64),
]
SCHEMA = pa.schema([pa.field(n, t) for n, t in COLUMNS])
NUMERIC = [n for n, t in COLUMNS if t in (F64, TS)]
GENERATED = {"identity_line_item_id", "identity_time_interval"}

Money = Decimal | list[Decimal]


@dataclass
class Group:
    consts: dict  # text and map columns shared by every line of the group
    n: int
    nums: dict  # numeric column -> float/int scalar or numpy array of length n


def money(v: Money, n: int) -> tuple[Decimal, np.ndarray | float]:
    """Exact total and the float column for a constant or per-line Decimal amount."""
    if isinstance(v, Decimal):
        return v * n, float(v)
    return sum(v, Decimal(0)), np.array([float(x) for x in v])


class CurWriter:
    """Writes one billing period's CUR 2.0 Parquet file(s) in bounded row groups."""

    def __init__(
        self, path: Path, id_prefix: str, chunk_rows: int = 250_000, rows_per_file: int = 5_000_000
    ) -> None:
        self.dir = path
        self.prefix = id_prefix
        self.chunk_rows = chunk_rows
        self.rows_per_file = rows_per_file
        self.groups: list[Group] = []
        self.pending = 0
        self.written = 0
        self.file_no = 0
        self.writer: pq.ParquetWriter | None = None
        self.file_rows = 0
        self.files: list[Path] = []  # in the order written

    def add(self, group: Group) -> None:
        if group.n <= 0:
            return
        self.groups.append(group)
        self.pending += group.n
        if self.pending >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        if not self.groups:
            return
        table = self._table()
        if self.writer is None or self.file_rows >= self.rows_per_file:
            self._open()
        self.writer.write_table(table, row_group_size=self.chunk_rows)
        self.file_rows += table.num_rows
        self.written += table.num_rows
        self.groups, self.pending = [], 0

    def _open(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.file_no += 1
        self.dir.mkdir(parents=True, exist_ok=True)
        name = self.dir / f"acme-cur2-{self.file_no:05d}.snappy.parquet"
        self.files.append(name)
        self.writer = pq.ParquetWriter(name, SCHEMA, compression="snappy")
        self.file_rows = 0

    def close(self) -> None:
        self.flush()
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def _table(self) -> pa.Table:
        groups = self.groups
        ns = np.array([g.n for g in groups])
        idx = pa.array(np.repeat(np.arange(len(groups)), ns))
        total = int(ns.sum())
        cols = {}
        for name, typ in COLUMNS:
            if name in GENERATED:
                continue
            if name in NUMERIC:
                parts = [
                    np.broadcast_to(
                        np.asarray(
                            g.nums.get(name, np.nan), dtype=np.float64 if typ == F64 else np.int64
                        ),
                        (g.n,),
                    )
                    for g in groups
                ]
                arr = np.concatenate(parts)
                if typ == TS:
                    cols[name] = pa.array(arr, type=pa.int64()).cast(TS)
                else:
                    cols[name] = pa.array(arr, type=F64, from_pandas=True)
            else:
                values = [g.consts.get(name) for g in groups]
                if all(v is None for v in values):  # most CUR columns are empty for most lines
                    cols[name] = pa.nulls(total, typ)
                elif all(v == values[0] for v in values):  # one value: no gather needed
                    cols[name] = pa.repeat(pa.scalar(values[0], typ), total)
                else:
                    cols[name] = pa.array(values, type=typ).take(idx)
        ids = pa.array(np.arange(self.written, self.written + total), type=pa.int64())
        cols["identity_line_item_id"] = pc.binary_join_element_wise(
            self.prefix, pc.cast(ids, STR), ""
        )
        cols["identity_time_interval"] = pc.binary_join_element_wise(
            _iso(cols["line_item_usage_start_date"]), _iso(cols["line_item_usage_end_date"]), "/"
        )
        return pa.table([cols[n] for n, _ in COLUMNS], schema=SCHEMA)


def _iso(stamps: pa.Array) -> pa.Array:
    """``2026-01-01T00:00:00Z`` for each time stamp; a chunk holds few distinct hours and
    Arrow's strftime is slow, so each distinct one is formatted once."""
    encoded = pc.dictionary_encode(stamps)
    return pc.strftime(encoded.dictionary, "%Y-%m-%dT%H:%M:%SZ").take(encoded.indices)

"""The `alert_state` table: what `finops watch` fired, is delivering, delivered and resolved.

Every step is its own Delta append, so a process killed at any moment leaves a record of
what it had done: an alert is recorded `pending` on a channel before it is sent there and
`sent` once the channel took it, so a rerun sends again exactly the (alert, channel) pairs
with no `sent` record, under the same alert id (the receiver's idempotency key). Appends
commit through Delta's optimistic concurrency: an ingest running beside the watch is never
waited for, and channels delivering on their own threads each append their own records.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import polars as pl
from deltalake import write_deltalake

from ingest.warehouse.location import delta_options, is_remote
from models.alerts import ALERT_STATE, Alert
from models.urls import redact

if TYPE_CHECKING:
    from ingest.warehouse.store import Store

_LOCK = threading.Lock()  # one commit at a time from this process's channel threads


def row(
    alert: Alert,
    status: str,
    link: str,
    channel: str | None = None,
    message: str | None = None,
    at: datetime | None = None,
) -> dict:
    return {
        "alert_id": alert.alert_id,
        "condition": alert.condition,
        "rule": alert.rule.name,
        "rule_type": alert.rule.type,
        "severity": alert.rule.severity,
        "scope": alert.scope,
        "period": alert.period,
        "fingerprint": alert.fingerprint,
        "channel": channel,
        "status": status,
        "at": at or datetime.now(UTC),
        "title": alert.title,
        "body": alert.body(),
        "link": link,
        "message": None if message is None else redact(message),
    }


def resolved_row(condition: str) -> dict:
    """A condition that stopped holding (its rule, scope and period from the condition)."""
    rule, scope, period = ([*condition.split(" | "), "", ""])[:3]
    return {
        "alert_id": "", "condition": condition, "rule": rule, "rule_type": "", "severity": "",
        "scope": scope, "period": period, "fingerprint": "", "channel": None,
        "status": "resolved", "at": datetime.now(UTC), "title": "", "body": "", "link": "",
        "message": None,
    }  # fmt: skip


def append(store: Store, rows: Sequence[dict]) -> None:
    """One Delta commit adding `rows` (dicts of ALERT_STATE's columns)."""
    if not rows:
        return
    frame = pl.DataFrame(list(rows), schema=ALERT_STATE.polars_schema)
    path = store.table_path(ALERT_STATE.name)
    with _LOCK:
        if not is_remote(store.root):
            store.root.mkdir(parents=True, exist_ok=True)
        write_deltalake(
            str(path), frame.to_arrow(), mode="append", storage_options=delta_options(path)
        )


def read(store: Store) -> pl.DataFrame:
    """Every record so far (empty with ALERT_STATE's columns before the first)."""
    table = store.table(ALERT_STATE.name)
    if table is None:
        return pl.DataFrame(schema=ALERT_STATE.polars_schema)
    return pl.from_arrow(table.to_pyarrow_table()).cast(ALERT_STATE.polars_schema)  # type: ignore[union-attr]

"""On-prem GPU inventory files (CSV or TOML): read and checked, one server a row.

Columns: asset_id, site, hostnames (`;`-separated), gpu_model, gpus, purchase_date,
server_capex, network_capex, life_years, residual_fraction, power_idle_kw, power_load_kw,
provisioned_kw, pue, usd_per_kwh, colo_usd_per_kw_month, ops_usd_per_year, team, currency;
optional retired_date, wacc, tags. A TOML inventory is a list of `[[server]]` tables with the
same keys. The first bad value raises one InputError naming the file, row and column. A GPU
model outside the catalogue is accepted and flagged. Any other column is an error.

`tags` are the server's own tags, copied into the `Tags` of each of its cost lines next to
`team` so the classification rules see them (e.g. `workload=training` decides the workload):
a JSON object (`{"workload": "training", "project": "llm"}`; quote the cell in a CSV), or
`key=value` pairs separated by `;` (`workload=training;project=llm`); in TOML also an inline
table. Keys are unique; values are text. A `team` tag must agree with the `team` column and
stands in for it when that column is empty.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

import polars as pl

from ingest.sources.detect import check_rows
from ingest.sources.values import IN_RANGE, MONEY_LIMIT
from models.currency import is_currency
from models.errors import InputError, did_you_mean
from models.onprem_cost import Server, gpu_family

REQUIRED = (
    "asset_id", "site", "hostnames", "gpu_model", "gpus", "purchase_date", "server_capex",
    "network_capex", "life_years", "residual_fraction", "power_idle_kw", "power_load_kw",
    "provisioned_kw", "pue", "usd_per_kwh", "colo_usd_per_kw_month", "ops_usd_per_year",
    "team", "currency",
)  # fmt: skip
OPTIONAL = ("retired_date", "wacc", "tags")


@dataclass(frozen=True)
class InventoryRow:
    server: Server
    site: str
    hostnames: tuple[str, ...]
    gpu_model: str
    team: str | None
    currency: str
    watts: int | None  # board power of the GPU model; None = unknown model (flagged)
    tags: dict[str, str] = field(default_factory=dict)  # the `tags` column, `team` included


@dataclass
class Inventory:
    path: Path
    rows: list[InventoryRow]
    warnings: list[str] = field(default_factory=list)

    @property
    def sites(self) -> list[str]:
        return sorted({r.site for r in self.rows})


MAX_LIFE_YEARS = 50  # an economic life in years; a building's is about this, a server's 3-7


def read_inventory(path: Path) -> Inventory:
    """Parse and check an inventory; the first bad value raises one InputError naming it."""
    if not path.is_file():
        raise InputError("inventory file not found", file=str(path))
    if path.suffix.lower() == ".toml":
        records = _toml_records(path)
    else:
        records = _csv_records(path)
    if not records:
        raise InputError("the inventory has no servers", file=str(path))
    rows, warnings, seen = [], [], {}
    for where, rec in records:
        row = _parse_row(path, where, rec)
        if row.server.asset_id in seen:
            raise InputError(
                f"asset_id {row.server.asset_id!r} appears twice",
                file=str(path),
                location=f"{where}, column asset_id",
                found=f"also at {seen[row.server.asset_id]}",
                hint="each server has exactly one row",
            )
        seen[row.server.asset_id] = where
        if row.watts is None:
            warnings.append(
                f"{path}: {where}: GPU model {row.gpu_model!r} is not in the catalogue — "
                "accepted and flagged (gpu_model_known = false); energy above idle uses the "
                "load estimate for it"
            )
        rows.append(row)
    return Inventory(path, rows, warnings)


def _csv_records(path: Path) -> list[tuple[str, dict[str, str | None]]]:
    check_rows(path, str(path), final_newline=False)
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except (pl.exceptions.PolarsError, UnicodeDecodeError) as exc:
        raise InputError(
            f"not a readable CSV: {str(exc).splitlines()[0]}", file=str(path)
        ) from None
    frame = frame.rename({c: c.strip().lstrip("\ufeff") for c in frame.columns})
    _check_columns(path, frame.columns)
    return [(f"row {i + 1} (line {i + 2})", rec) for i, rec in enumerate(frame.to_dicts())]


def _toml_records(path: Path) -> list[tuple[str, dict[str, str | None]]]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML: {exc}", file=str(path)) from None
    servers = doc.get("server")
    if not isinstance(servers, list) or set(doc) - {"server"}:
        raise InputError(
            "a TOML inventory is a list of [[server]] tables",
            file=str(path),
            expected="[[server]] tables only",
            found=", ".join(sorted(doc)) or "nothing",
        )
    out = []
    for i, table in enumerate(servers):
        _check_columns(path, list(table), where=f"[[server]] #{i + 1}")
        rec = {k: _toml_text(v) for k, v in table.items()}
        out.append((f"[[server]] #{i + 1}", rec))
    return out


def _toml_text(value: object) -> str | None:
    """A TOML value as the CSV cell that says the same (lists `;`-joined, tables as JSON)."""
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value)
    return None if value is None else str(value)


def _check_columns(path: Path, columns: list[str], where: str | None = None) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        hint = "".join(did_you_mean(u, REQUIRED + OPTIONAL) for u in unknown[:1])
        raise InputError(
            "inventory columns do not match" + hint,
            file=str(path),
            location=where,
            expected=f"columns {', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)})",
            found=f"missing {missing or 'none'}, unknown {unknown or 'none'}",
        )


def _parse_row(path: Path, where: str, rec: dict[str, str | None]) -> InventoryRow:
    def bad(column: str, expected: str, hint: str | None = None) -> InputError:
        return InputError(
            f"bad value in column {column}",
            file=str(path),
            location=f"{where}, column {column}",
            expected=expected,
            found=repr(rec.get(column)),
            hint=hint or "fix the inventory row and run again; nothing was stored",
        )

    def text(column: str) -> str:
        value = (rec.get(column) or "").strip()
        if not value:
            raise bad(column, "a value")
        return value

    def number(column: str, lo: Decimal | None = Decimal(0), below: Decimal | None = None):
        raw = text(column)
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise bad(column, "a number") from None
        if not value.is_finite() or (lo is not None and value < lo):
            raise bad(column, f"a number >= {lo}")
        if below is not None and value >= below:
            raise bad(column, f"a number below {below}")
        if (
            value >= MONEY_LIMIT
        ):  # costs derived from it must sum exactly (ingest/sources/values.py)
            raise bad(column, IN_RANGE)
        return value

    def day(column: str, optional: bool = False) -> date | None:
        raw = (rec.get(column) or "").strip()
        if not raw and optional:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise bad(column, "a date YYYY-MM-DD") from None

    gpus_raw = text("gpus")
    if not gpus_raw.isdigit() or int(gpus_raw) < 1:
        raise bad("gpus", "a whole number of GPUs >= 1")
    purchase = day("purchase_date")
    retired = day("retired_date", optional=True)
    assert purchase is not None
    if retired is not None and retired <= purchase:
        raise bad(
            "retired_date",
            f"a date after purchase_date {purchase.isoformat()}",
            "a server cannot be retired before it was bought; check both dates",
        )
    idle, load = number("power_idle_kw"), number("power_load_kw")
    if load < idle:
        raise bad("power_load_kw", f"at least power_idle_kw ({idle})")
    wacc = None
    if (rec.get("wacc") or "").strip():
        wacc = number("wacc", below=Decimal(1))
    life = number("life_years")
    if life <= 0:
        raise bad("life_years", "a life greater than 0 years")
    if life > MAX_LIFE_YEARS:  # a swapped column (a capex), not a life
        raise bad("life_years", f"a life of at most {MAX_LIFE_YEARS} years")
    currency = text("currency").upper()
    if not is_currency(currency):
        raise bad("currency", "an ISO 4217 code such as USD or EUR")
    hostnames = tuple(h.strip() for h in text("hostnames").split(";") if h.strip())
    model = text("gpu_model")
    family = gpu_family(model)
    server = Server(
        asset_id=text("asset_id"),
        gpus=int(gpus_raw),
        purchase_date=purchase,
        retired_date=retired,
        server_capex=number("server_capex"),
        network_capex=number("network_capex"),
        life_years=life,
        residual_fraction=number("residual_fraction", below=Decimal(1)),
        power_idle_kw=idle,
        power_load_kw=load,
        provisioned_kw=number("provisioned_kw"),
        pue=number("pue", lo=Decimal(1)),
        usd_per_kwh=number("usd_per_kwh"),
        colo_usd_per_kw_month=number("colo_usd_per_kw_month"),
        ops_usd_per_year=number("ops_usd_per_year"),
        wacc=wacc,
    )
    tags = _tags(rec.get("tags"), bad)
    team = (rec.get("team") or "").strip() or None
    if team and tags.get("team", team) != team:
        raise bad("tags", f"a team tag equal to the team column ({team!r}), or none")
    team = team or tags.get("team")
    if team:
        tags["team"] = team
    return InventoryRow(
        server, text("site"), hostnames, model, team, currency, family[1] if family else None,
        tags,
    )  # fmt: skip


TAGS_FORMAT = 'a JSON object {"key": "value", ...} or key=value;key=value'


def _tags(raw: str | None, bad) -> dict[str, str]:
    """The `tags` cell -> {key: value}; `bad(column, expected)` makes the error to raise."""
    text = (raw or "").strip()
    if not text:
        return {}
    if text.startswith("{"):
        try:
            pairs = json.loads(text, object_pairs_hook=lambda kv: kv)
        except json.JSONDecodeError as exc:
            raise bad("tags", f"{TAGS_FORMAT} (JSON: {exc.msg} at char {exc.pos})") from None
        if not isinstance(pairs, list) or not all(
            k.strip() and isinstance(v, str | int | float | bool) for k, v in pairs
        ):
            raise bad("tags", "a JSON object of non-empty keys to text or number values")
        keys = [k.strip() for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise bad("tags", f"each key once; {twice[0]!r} appears twice")
        values = [v if isinstance(v, str) else json.dumps(v) for _, v in pairs]
        return dict(zip(keys, values, strict=True))
    tags: dict[str, str] = {}
    for pair in text.split(";"):
        if not pair.strip():
            continue
        key, eq, value = (p.strip() for p in pair.partition("="))
        if not eq or not key:
            raise bad("tags", f"{TAGS_FORMAT}; {pair.strip()!r} is not key=value")
        if key in tags:
            raise bad("tags", f"each key once; {key!r} appears twice")
        tags[key] = value
    return tags

"""`finops explain LINE_ID`: why a cost line was classified the way it was."""

from __future__ import annotations

import json

import click

from dashboard.cli.finops import App
from models.errors import InputError
from models.rules import FIELDS_DERIVED

SHOWN = (
    "ProviderName", "x_Source", "BillingPeriodStart", "ChargeCategory", "ServiceName",
    "x_UsageType", "x_InstanceType", "SkuMeter", "ChargeDescription", "x_SkuMeterCategory",
    "x_SkuMeterSubcategory", "ResourceId", "SubAccountId", "Tags", "SkuPriceDetails",
    "EffectiveCost",
)  # fmt: skip


def _derived(frame, book, fields: list[str]) -> dict[str, object]:
    """The line's (`frame`, one row) values of the derived fields among `fields`, computed as
    the rules did."""
    from models.classify import derived_values

    wanted = {f for f in fields if f in FIELDS_DERIVED or f.startswith(("tag.", "price."))}
    if not wanted:
        return {}
    return derived_values(frame, wanted, book.settings, book.catalogue)


def explain_line(con, book, line_id: int) -> dict:
    """The line's key fields, its classes and, per decision, the rule and its conditions."""
    frame = con.sql(
        "select * from classified_costs where x_LineId = $id", params={"id": line_id}
    ).pl()
    if frame.height == 0:
        n, lo, hi = con.execute(
            "select count(*), min(x_LineId), max(x_LineId) from classified_costs"
        ).fetchall()[0]
        raise InputError(
            f"no cost line has x_LineId {line_id}",
            expected=f"one of the {n:,} ids between {lo} and {hi}" if n else "a loaded line's id",
            hint='find ids with finops query "select x_LineId, ... from classified_costs"',
        )
    line = frame.row(0, named=True)
    rules = [book.ruleset.by_id(line.get(c) or "") for c in ("x_AiClassRule", "x_WorkloadRule")]
    derived = _derived(frame, book, [c.field for r in rules if r for c in r.conditions])
    decisions = []
    for col, rule_col in (
        ("x_AiClass", "x_AiClassRule"),
        ("x_Workload", "x_WorkloadRule"),
    ):
        rule = book.ruleset.by_id(line.get(rule_col) or "")
        decisions.append(
            {
                "decides": col,
                "value": line.get(col),
                "rule": line.get(rule_col),
                "priority": rule.priority if rule else None,
                "description": rule.description if rule else "rule no longer in effect",
                "from": rule.origin if rule else None,
                "conditions": [
                    {"field": c.field, "op": c.op, "value": c.value}
                    | ({"line_has": derived[c.field]} if c.field in derived else {})
                    for c in rule.conditions
                ]
                if rule
                else [],
            }
        )
    decisions.append(
        {"decides": "x_Team", "value": line.get("x_Team"), "rule": line.get("x_TeamRule")}
    )
    return {
        "line": {k: line.get(k) for k in SHOWN if k in line},
        "classes": {k: line.get(k) for k in (
            "x_AiClass", "x_EgressKind", "x_Workload", "x_ToolFamily", "x_Tool", "x_Team",
            "x_Project", "x_Environment", "x_GpuPerInstance", "x_GpuModelName")},
        "decisions": decisions,
    }  # fmt: skip


@click.command()
@click.argument("line_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.pass_obj
def command(app: App, line_id: int, as_json: bool) -> None:
    """Show why the cost line LINE_ID (x_LineId) got its class, workload and team."""
    from ingest.derive import classified

    out = explain_line(app.connect(), classified.rulebook(app.settings), line_id)
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    from rich.text import Text

    con = app.console
    con.print(f"Cost line {line_id}", style="bold")
    for k, v in out["line"].items():
        if v is not None:
            con.print(f"  {k}: {v}")
    for d in out["decisions"]:
        con.print(
            Text.assemble((f"{d['decides']} = {d['value']}", "bold"), f"  by rule {d['rule']}")
        )
        if d.get("description"):
            con.print(f"  {d['description']} (priority {d.get('priority')}, {d.get('from')})")
        for c in d.get("conditions", []):
            actual = c["line_has"] if "line_has" in c else out["line"].get(c["field"])
            actual = "(empty)" if actual is None else actual
            if "line_has" in c:
                actual = f"{actual} (derived)"
            con.print(f"  - {c['field']} {c['op']} {c['value']!r}   line has: {actual}")

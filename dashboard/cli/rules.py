"""`finops rules ...`: inspect and validate classification rules without reading data."""

from __future__ import annotations

import click

from dashboard.cli.finops import App


@click.group()
def group() -> None:
    """Classification rules: check a rule file, list the rules in effect."""


@group.command("check")
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.pass_obj
def check(app: App, files: tuple[str, ...]) -> None:
    """Validate rule file(s): unknown keys, fields, operators and bad regexes are errors."""
    from ingest.derive import classified

    book = classified.rulebook(app.settings, files)
    for f in files:
        rules = classified.read_rule_file(f)
        app.console.print(f"{f}: {len(rules)} rule(s) OK")
        for r in sorted(rules, key=lambda r: (-r.priority, r.id)):
            sets = ", ".join(f"{k}={v}" for k, v in r.sets.items())
            app.console.print(f"  {r.priority:>5}  {r.id}  -> {sets}")
    app.console.print(f"{len(book.ruleset.rules)} rule(s) in effect with the shipped ones.")


@group.command("list")
@click.pass_obj
def list_rules(app: App) -> None:
    """List every rule in effect (shipped, [classify] files), strongest first."""
    from dashboard.cli.tables import Column, show
    from ingest.derive import classified

    book = classified.rulebook(app.settings)
    rows = []
    for target in ("ai_class", "workload"):
        for r in book.ruleset.for_target(target):
            when = "; ".join(f"{c.field} {c.op} {c.value!r}" for c in r.conditions) or "always"
            sets = ", ".join(f"{k}={v}" for k, v in r.sets.items())
            rows.append((str(r.priority), r.id, sets, when, r.origin))
    show(app.console, [Column("priority", number=True), "id", "sets", "when", "from"], rows)

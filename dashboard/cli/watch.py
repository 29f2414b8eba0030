"""`finops watch`: one pass of the alert rules over the warehouse's current snapshot."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
from dataclasses import replace
from datetime import UTC, datetime

import click

from dashboard.cli.finops import App

EXIT_CODES = (
    (0, "no alert condition holds"),
    (1, "alert conditions hold: new ones were delivered (or, with --dry-run, would be); "
     "ones delivered before are not sent again"),
    (2, "a configuration error (nothing was evaluated or sent)"),
    (3, "a delivery failed after its retries (the other channels were delivered)"),
    (4, "the warehouse cannot be read (or another watch kept it for 10 minutes)"),
)  # fmt: skip


def _epilog() -> str:
    lines = [
        textwrap.fill(text, 76, initial_indent=f"  {code:<3}", subsequent_indent=" " * 5)
        for code, text in EXIT_CODES
    ]  # click would join a \b paragraph's lines only after wrapping them itself
    return "\b\nExit codes:\n" + "\n".join(lines)


@click.command(epilog=_epilog())
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send and record nothing.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="How alerts are printed: text, or one JSON document a line.",
)
@click.pass_obj
def command(app: App, dry_run: bool, fmt: str) -> None:
    """Evaluate every [alerts] rule on the current snapshot and deliver what is new (for cron
    or a systemd timer: independent of ingests, safe to rerun)."""
    from dashboard.notify import watch
    from dashboard.queries import alerts as queries_alerts
    from models.alert_rules import check_budgets, secrets
    from models.cost_basis import DEFAULT
    from models.errors import ConfigError

    settings = app.settings
    origin = str(app.config_file) if app.config_file else "finops.toml"
    try:  # every mistake of the file is told before anything is read or sent
        alerts = secrets(settings.alerts, os.environ)
        budgets = settings.budgets.budgets(settings.report.currency)
        check_budgets(alerts, [b.name for b in budgets])
    except ConfigError as exc:
        exc.file = exc.file or origin
        raise
    if not alerts.rule:
        raise ConfigError(
            "no alert rule is configured",
            file=origin,
            expected="an [[alerts.rule]] entry",
            hint="the README's Alerts section has an example",
        )
    con = app.connect()
    try:
        if any(r.type.startswith("budget") for r in alerts.rule):
            queries_alerts.check_budget_currencies(con, budgets)
        figures = queries_alerts.figures(
            con, replace(settings, alerts=alerts), datetime.now(UTC), DEFAULT
        )
    finally:
        con.close()
    printing = threading.Lock()

    def emit(alert, url: str, update: bool) -> None:  # the stdout channel
        with printing:
            click.echo(_shown(alert, url, update, fmt))
            sys.stdout.flush()

    store = app.store()
    if dry_run:  # sends and records nothing: no other pass to keep out
        result = watch.run(store, alerts, figures, emit, dry_run=True)
    else:
        with store.watcher(on_wait=_waiting):
            result = watch.run(store, alerts, figures, emit)
    _report(result, fmt, dry_run)
    raise click.exceptions.Exit(result.exit_code)


def _waiting() -> None:
    click.echo(
        "Another finops watch is running on this warehouse: waiting for it to finish "
        "(what it sends is not sent again).",
        err=True,
    )


def _shown(alert, url: str, update: bool, fmt: str) -> str:
    from dashboard.notify import message

    if fmt == "json":
        return json.dumps(message.document(alert, url, update))
    return message.text(alert, url, update)


def _report(result, fmt: str, dry_run: bool) -> None:
    """What happened, to stderr (stdout carries the alerts themselves); with --dry-run, the
    alerts that would be sent are printed to stdout."""
    if dry_run:
        for o in result.outcomes:
            if fmt == "json":
                doc = {**json.loads(_shown(o.alert, o.link, o.update, "json")),
                       "delivery": o.channels}  # fmt: skip
                click.echo(json.dumps(doc))
            else:
                click.echo(_shown(o.alert, o.link, o.update, "text"))
                click.echo(
                    "  Channels: "
                    + (", ".join(f"{c} ({s})" for c, s in o.channels.items()) or "none")
                )
    for o in result.outcomes:
        for channel, status in o.channels.items():
            if status.startswith("failed"):
                click.echo(f"Delivery failed: {o.alert.title} to {channel}: {status[8:]}", err=True)
    sent = sum(s == "sent" for o in result.outcomes for s in o.channels.values())
    before = sum(s == "already sent" for o in result.outcomes for s in o.channels.values())
    would = sum(s == "would send" for o in result.outcomes for s in o.channels.values())
    n = len(result.outcomes)
    head = f"{n} alert{'s' if n != 1 else ''} hold"
    tail = (
        f"{would} message{'s' if would != 1 else ''} would be sent (dry run)"
        if dry_run
        else f"{sent} message{'s' if sent != 1 else ''} sent"
    )
    resolved = f"; {len(result.resolved)} resolved" if result.resolved else ""
    click.echo(f"{head}: {tail}, {before} sent before{resolved}.", err=True)

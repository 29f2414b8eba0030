"""One pass of `finops watch`: the alerts that hold, each sent once to each of its channels.

De-duplication lives in the warehouse's `alert_state` table (ingest/warehouse/alert_log.py):
an (alert, channel) pair with a `sent` record is never sent again; an alert whose figures
changed has a new alert id, so it goes out again as an update. Before sending, the pass
records the alert `fired` and `pending` on each channel; after each channel takes it,
`sent`. A pass killed mid-delivery therefore leaves pending pairs without `sent`, and the next
pass sends exactly those again, under the same alert id: delivery is at least once, and
exactly once where the receiver de-duplicates on the id (the X-Finops-Alert-Id header and
Idempotency-Key of a webhook, the Message-ID of an email). Conditions that stop holding are
recorded `resolved`.

Each channel delivers on its own thread with its own deadline: one that hangs or refuses
delays no other, and is recorded `failed` with the reason once its retries are spent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from dashboard.notify import message, transport
from ingest.warehouse import alert_log
from models.alert_conditions import evaluate
from models.alert_rules import AlertSettings, Channel
from models.alerts import Alert, Figures

# What a channel does with one alert: raise transport.DeliveryFailed when it did not take it.
Emit = Callable[[Alert, str, bool], None]


@dataclass
class Outcome:
    alert: Alert
    link: str
    update: bool  # the condition was told before with other figures
    channels: dict[str, str] = field(default_factory=dict)  # channel -> what happened

    @property
    def new(self) -> bool:
        return any(
            s in ("sent", "would send") or s.startswith("failed") for s in self.channels.values()
        )


@dataclass
class Pass:
    outcomes: list[Outcome]
    resolved: list[str]  # conditions that stopped holding

    @property
    def failed(self) -> bool:
        return any(s.startswith("failed") for o in self.outcomes for s in o.channels.values())

    @property
    def exit_code(self) -> int:
        """0: nothing holds; 1: alerts hold (sent now or before); 3: a delivery failed."""
        if self.failed:
            return 3
        return 1 if self.outcomes else 0


class _State:
    """What `alert_state` says so far."""

    def __init__(self, records: pl.DataFrame):
        sent = records.filter(pl.col("status") == "sent")
        self.sent = set(zip(sent["alert_id"], sent["channel"], strict=True))
        fired = records.filter(pl.col("status") == "fired")
        self.fired = set(fired["alert_id"])
        self.told = set(fired["condition"])
        last = (
            records.filter(pl.col("status").is_in(["fired", "resolved"]))
            .sort("at")
            .group_by("condition")
            .agg(pl.col("status").last())
        )
        self.open = set(last.filter(pl.col("status") == "fired")["condition"])


def run(
    store,
    settings: AlertSettings,
    figures: Figures,
    emit: Emit,
    dry_run: bool = False,
) -> Pass:
    """Evaluate every rule on `figures` and deliver what is new. `emit` is the stdout
    channel (the command prints). With `dry_run` nothing is sent or recorded; without, the
    caller holds `store.watcher()`, so a second pass reads what this one recorded."""
    alerts = evaluate(settings, figures)
    state = _State(alert_log.read(store))
    outcomes, todo = [], {}
    for alert in alerts:
        url = message.link(alert, settings.dashboard_url)
        update = alert.condition in state.told and alert.alert_id not in state.fired
        out = Outcome(alert, url, update)
        for c in settings.channels_of(alert.rule):
            if (alert.alert_id, c.name) in state.sent:
                out.channels[c.name] = "already sent"
            else:
                out.channels[c.name] = "would send" if dry_run else "pending"
                todo.setdefault(c.name, []).append(out)
        outcomes.append(out)
    holding = {a.condition for a in alerts}
    resolved = sorted(state.open - holding)
    if dry_run:
        return Pass(outcomes, resolved)
    now = datetime.now(UTC)  # one pass, one time: the page orders what fired together
    first = [  # new, changed, or holding again after it was resolved
        alert_log.row(o.alert, "fired", o.link, at=now)
        for o in outcomes
        if o.alert.alert_id not in state.fired or o.alert.condition not in state.open
    ]
    first += [
        alert_log.row(o.alert, "pending", o.link, name, at=now)
        for name, items in todo.items()
        for o in items
    ]
    first += [alert_log.resolved_row(condition) for condition in resolved]
    alert_log.append(store, first)  # before anything is sent: a kill from here on is retried
    channels = {c.name: c for c in settings.channel}
    threads = [
        threading.Thread(
            target=_deliver, args=(store, channels[name], items, emit), daemon=True, name=name
        )
        for name, items in todo.items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(channels[t.name].deadline_s + 5)
    for t in threads:
        if t.is_alive():  # stuck past its deadline: what it has not settled is a failure
            for o in todo[t.name]:
                if o.channels[t.name] == "pending":
                    o.channels[t.name] = "failed: the channel's deadline passed"
    return Pass(outcomes, resolved)


def _deliver(store, channel: Channel, items: list[Outcome], emit: Emit) -> None:
    """Send `items` over one channel in order, each recorded sent or failed as it settles."""
    deadline = time.monotonic() + channel.deadline_s
    for o in items:
        send = _sender(channel, o, emit)
        try:
            if time.monotonic() >= deadline:
                raise transport.DeliveryFailed("the channel's deadline passed", False)
            transport.with_retries(channel, send, deadline)
        except Exception as exc:  # a bug in one channel must not leave its alert pending
            if not isinstance(exc, transport.DeliveryFailed):
                exc = transport.DeliveryFailed(f"{type(exc).__name__}: {exc}", False)
            o.channels[channel.name] = f"failed: {exc}"
            alert_log.append(
                store, [alert_log.row(o.alert, "failed", o.link, channel.name, str(exc))]
            )
            continue
        o.channels[channel.name] = "sent"
        alert_log.append(store, [alert_log.row(o.alert, "sent", o.link, channel.name)])


def _sender(channel: Channel, o: Outcome, emit: Emit) -> Callable[[], None]:
    a, url, update = o.alert, o.link, o.update
    if channel.type == "slack":
        return lambda: transport.post(channel, message.slack(a, url, update), a.alert_id)
    if channel.type == "webhook":
        return lambda: transport.post(channel, message.document(a, url, update), a.alert_id)
    if channel.type == "email":
        mail = message.email(a, url, update, channel.sender or "", channel.to)
        return lambda: transport.mail(channel, mail)
    return lambda: emit(a, url, update)

"""Alerts: what the rules of `[alerts]` (models/alert_rules.py) are judged on, and what an
alert is (models/alert_conditions.py judges).

The caller reads the figures (budget statuses, anomalies with their driving resources, idle
episodes, commitments' utilisation, the last load per source) from one warehouse snapshot;
`alert_conditions.evaluate` says which conditions hold. An alert is known by its condition
(rule, scope, period) and its fingerprint (the figures that, when they change, make it worth telling
again); together they give the alert id, sent to receivers as an idempotency key. The
`alert_state` table (ALERT_STATE) keeps what was fired, pending, sent, failed and resolved.
Pure: no I/O, no clock (the caller says what "now" is).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from models.alert_rules import AlertRule
from models.budgets import BudgetStatus
from models.schema import Column, Table

ALERT_STATE = Table(
    "alert_state",
    (
        Column("alert_id", "string", False, doc="condition + fingerprint: the idempotency key"),
        Column("condition", "string", False, doc="rule | scope | period"),
        Column("rule", "string", False),
        Column("rule_type", "string", False),
        Column("severity", "string", False),
        Column("scope", "string", False),
        Column("period", "string", False),
        Column("fingerprint", "string", False),
        Column("channel", "string", doc="the channel of pending/sent/failed; else null"),
        Column(
            "status",
            "string",
            False,
            allowed=("fired", "pending", "sent", "failed", "resolved"),
        ),
        Column("at", "datetime", False),
        Column("title", "string", False),
        Column("body", "string", False, doc="the figures in words"),
        Column("link", "string", False, doc="the dashboard view that shows it"),
        Column("message", "string", doc="why a delivery failed"),
    ),
)


@dataclass(frozen=True)
class Anomaly:
    """A run of anomalous days of one series (models/anomaly.py), with its drivers."""

    dimension: str
    key: str
    start: date
    end: date
    spend: Decimal
    expected: Decimal
    excess: Decimal
    currency: str
    drivers: tuple[tuple[str, Decimal], ...] = ()  # (resource, excess), largest first


@dataclass(frozen=True)
class IdleEpisode:
    """Idle GPUs of one resource over one run of hours (the idle_episodes rows of its GPUs)."""

    resource_id: str
    host: str | None
    gpu_model: str
    provider: str
    team: str
    start: datetime
    end: datetime  # exclusive
    hours: int
    gpus: int
    cost: Decimal
    currency: str


@dataclass(frozen=True)
class CommitmentUse:
    commitment_id: str
    name: str
    provider: str
    period: date  # the billing month
    utilisation: float
    unused: Decimal
    currency: str


@dataclass(frozen=True)
class Figures:
    """What the rules are judged on: one snapshot's figures, and when the watch runs."""

    now: datetime
    as_of: date | None  # the data's last day
    budgets: tuple[BudgetStatus, ...] = ()
    anomalies: tuple[Anomaly, ...] = ()
    idle: tuple[IdleEpisode, ...] = ()
    commitments: tuple[CommitmentUse, ...] = ()
    last_loads: tuple[tuple[str, datetime], ...] = ()  # (source, last load finished)


@dataclass(frozen=True)
class View:
    """The dashboard view that shows an alert: a page and what its link sets."""

    page: str  # the page's file name without .py (its URL path)
    start: date | None = None
    end: date | None = None
    teams: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    currency: str | None = None
    resource: str | None = None


@dataclass(frozen=True)
class Alert:
    rule: AlertRule
    scope: str
    period: str
    title: str
    lines: tuple[str, ...]  # the figures in words
    view: View
    changes_with: tuple = ()  # the figures that, changed, make it worth telling again
    drivers: tuple[tuple[str, Decimal], ...] = ()
    figures: dict[str, str] = field(default_factory=dict)  # machine-readable, exact

    @property
    def condition(self) -> str:
        return f"{self.rule.name} | {self.scope} | {self.period}"

    @property
    def fingerprint(self) -> str:
        return _digest(json.dumps([str(x) for x in self.changes_with]))[:16]

    @property
    def alert_id(self) -> str:
        return _digest(f"{self.condition}\n{self.fingerprint}")[:24]

    def body(self) -> str:
        return "\n".join(self.lines)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def money(value: Decimal, currency: str) -> str:
    return f"{currency} {Decimal(value):,.2f}"

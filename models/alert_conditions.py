"""Which `[alerts]` rules hold on the figures handed in (models/alerts.py), one judge per rule
type: what each says, in words and exact figures, the view that shows it, and the figures
that, changed, make it worth telling again. Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from models.alert_rules import AlertRule, AlertSettings
from models.alerts import Alert, Anomaly, Figures, View, money
from models.budgets import BudgetStatus


def evaluate(settings: AlertSettings, figures: Figures) -> list[Alert]:
    """Every alert whose condition holds on `figures`, rule by rule in the file's order."""
    out: list[Alert] = []
    for rule in settings.rule:
        out += _JUDGES[rule.type](rule, figures)
    return out


def _budgets(rule: AlertRule, f: Figures) -> list[BudgetStatus]:
    return [s for s in f.budgets if rule.budget is None or s.budget.name == rule.budget]


def _budget_view(s: BudgetStatus) -> View:
    where = dict(s.budget.where)
    return View(
        "budgets",
        s.period_start,
        s.period_end,
        teams=(where["team"],) if "team" in where else (),
        providers=(where["provider"],) if "provider" in where else (),
        currency=s.budget.currency,
    )


def _budget_lines(s: BudgetStatus) -> list[str]:
    cur, b = s.budget.currency, s.budget
    lines = [
        f"Budget {b.name} ({b.scope_words()}, {b.period}): {money(b.amount, cur)}"
        + (f"; owner {b.owner}" if b.owner else ""),
        f"Actual to {s.as_of:%d %b %Y}: {money(s.actual, cur)}"
        + (f" ({s.used:.1%} of the budget)" if s.used is not None else ""),
        f"Forecast to {s.period_end:%d %b %Y}: {money(s.forecast, cur)}"
        + (
            f" (80% interval {money(s.forecast_low, cur)} to {money(s.forecast_high, cur)})"
            if s.forecast_low is not None and s.forecast_high is not None
            else ""
        ),
    ]
    return lines


def _budget_figures(s: BudgetStatus) -> dict[str, str]:
    return {
        "budget": s.budget.name,
        "amount": str(s.budget.amount),
        "currency": s.budget.currency,
        "actual": _cents(s.actual),
        "forecast": _cents(s.forecast),
        "forecast_low": _cents(s.forecast_low),
        "forecast_high": _cents(s.forecast_high),
        "breach": s.breach.isoformat() if s.breach else "",
        "as_of": s.as_of.isoformat() if s.as_of else "",
    }


def _cents(value: Decimal | None) -> str:
    return "" if value is None else str(Decimal(value).quantize(Decimal("0.01")))


def _period(s: BudgetStatus) -> str:
    return f"{s.period_start:%Y-%m}" if s.budget.period == "monthly" else str(s.period_start.year)


def budget_forecast(rule: AlertRule, f: Figures) -> list[Alert]:
    """Not yet over, but expected to cross within `lead_days` of the data's last day."""
    out = []
    lead = timedelta(days=int(rule.setting("lead_days")))
    for s in _budgets(rule, f):
        if s.as_of is None or s.breached or s.breach is None or s.breach > s.as_of + lead:
            continue
        lines = _budget_lines(s)
        lines.append(f"Expected to breach on {s.breach:%d %b %Y}")
        out.append(
            Alert(
                rule,
                f"budget {s.budget.name}",
                _period(s),
                f"Budget {s.budget.name} is expected to breach on {s.breach:%d %b %Y}",
                tuple(lines),
                _budget_view(s),
                changes_with=(s.budget.amount, s.breach),
                figures=_budget_figures(s),
            )
        )
    return out


def budget_breached(rule: AlertRule, f: Figures) -> list[Alert]:
    out = []
    for s in _budgets(rule, f):
        if s.as_of is None or not s.breached:
            continue
        cur = s.budget.currency
        lines = _budget_lines(s)
        lines.append(
            f"Breached on {s.breach:%d %b %Y}: over by {money(s.actual - s.budget.amount, cur)}"
        )
        out.append(
            Alert(
                rule,
                f"budget {s.budget.name}",
                _period(s),
                f"Budget {s.budget.name} is over: {money(s.actual, cur)} of "
                f"{money(s.budget.amount, cur)}",
                tuple(lines),
                _budget_view(s),
                changes_with=(s.budget.amount, s.breach),
                figures=_budget_figures(s),
            )
        )
    return out


def _recent(end: date, f: Figures, rule: AlertRule) -> bool:
    within = int(rule.setting("within_days"))
    return f.as_of is not None and end >= f.as_of - timedelta(days=within)


_DIMENSION = {"service": "service", "team": "team", "ai_class": "AI class", "provider": "provider"}


def _named(a: Anomaly) -> str:
    """The series in words: "AI class GPU compute"-like, an AI class's code spaced out."""
    key = a.key.replace("_", " ") if a.dimension == "ai_class" else a.key
    return f"{_DIMENSION[a.dimension]} {key}"


def anomaly(rule: AlertRule, f: Figures) -> list[Alert]:
    out = []
    for a in f.anomalies:
        if not _recent(a.end, f, rule):
            continue
        if rule.min_excess is not None and a.excess < rule.min_excess:
            continue
        if rule.dimensions is not None and a.dimension not in rule.dimensions:
            continue
        days = (a.end - a.start).days + 1
        lines = [
            f"{_named(a)}: {money(a.spend, a.currency)} spent "
            f"{a.start:%d %b} to {a.end:%d %b %Y} ({days} day{'s' if days != 1 else ''}) against "
            f"{money(a.expected, a.currency)} expected: {money(a.excess, a.currency)} above",
        ]
        lines += [f"Driven by {r}: {money(x, a.currency)} above its baseline" for r, x in a.drivers]
        out.append(
            Alert(
                rule,
                f"{a.dimension} {a.key}",
                f"{a.start.isoformat()}..{a.end.isoformat()}",
                f"Spend anomaly: {_named(a)} {money(a.excess, a.currency)} above its baseline",
                tuple(lines),
                View(
                    "forecast",
                    a.start - timedelta(days=28),
                    a.end,
                    teams=(a.key,) if a.dimension == "team" else (),
                    providers=(a.key,) if a.dimension == "provider" else (),
                    currency=a.currency,
                ),
                changes_with=(a.end, a.excess),
                drivers=a.drivers,
                figures={
                    "dimension": a.dimension,
                    "key": a.key,
                    "start": a.start.isoformat(),
                    "end": a.end.isoformat(),
                    "spend": str(a.spend),
                    "expected": str(a.expected),
                    "excess": str(a.excess),
                    "currency": a.currency,
                },
            )
        )
    return out


def idle_episode(rule: AlertRule, f: Figures) -> list[Alert]:
    out = []
    min_hours = int(rule.setting("min_hours"))
    for e in f.idle:
        if not _recent((e.end - timedelta(hours=1)).date(), f, rule) or e.hours < min_hours:
            continue
        if rule.min_cost is not None and e.cost < rule.min_cost:
            continue
        where = e.host or e.resource_id
        lines = [
            f"{e.gpus} {e.gpu_model} GPU{'s' if e.gpus != 1 else ''} on {where} ({e.provider}, "
            f"team {e.team}) idle for {e.hours:,} hours, {e.start:%d %b %H:%M} to "
            f"{e.end:%d %b %Y %H:%M} UTC",
            f"Idle cost: {money(e.cost, e.currency)}",
        ]
        out.append(
            Alert(
                rule,
                f"resource {e.resource_id}",
                e.start.strftime("%Y-%m-%dT%H:%MZ"),
                f"Idle GPUs: {where} idle {e.hours:,} hours, {money(e.cost, e.currency)}",
                tuple(lines),
                View(
                    "idle",
                    e.start.date(),
                    (e.end - timedelta(hours=1)).date(),
                    currency=e.currency,
                    resource=e.resource_id,
                ),
                # an episode still running grows by the hour: told again once a day at most
                changes_with=(e.hours // 24,),
                drivers=((e.resource_id, e.cost),),
                figures={
                    "resource_id": e.resource_id,
                    "host": e.host or "",
                    "team": e.team,
                    "gpus": str(e.gpus),
                    "hours": str(e.hours),
                    "cost": str(e.cost),
                    "currency": e.currency,
                    "start": e.start.isoformat(),
                    "end": e.end.isoformat(),
                },
            )
        )
    return out


def commitment(rule: AlertRule, f: Figures) -> list[Alert]:
    out = []
    below = float(rule.setting("below"))
    for c in f.commitments:
        if c.utilisation >= below or not _recent(_month_end(c.period), f, rule):
            continue
        out.append(
            Alert(
                rule,
                f"commitment {c.commitment_id}",
                f"{c.period:%Y-%m}",
                f"Commitment {c.name} used {c.utilisation:.1%} in {c.period:%B %Y}",
                (
                    f"{c.name} ({c.provider}): utilisation {c.utilisation:.1%} in "
                    f"{c.period:%B %Y}, under {below:.0%}",
                    f"Unused: {money(c.unused, c.currency)}",
                ),
                View("commitments", c.period, _month_end(c.period), currency=c.currency),
                changes_with=(round(c.utilisation * 100),),
                figures={
                    "commitment_id": c.commitment_id,
                    "utilisation": f"{c.utilisation:.4f}",
                    "unused": str(c.unused),
                    "currency": c.currency,
                },
            )
        )
    return out


def data_gap(rule: AlertRule, f: Figures) -> list[Alert]:
    out = []
    days = int(rule.setting("days"))
    for source, last in f.last_loads:
        if rule.source is not None and source != rule.source:
            continue
        if f.now - last < timedelta(days=days):
            continue
        out.append(
            Alert(
                rule,
                f"source {source}",
                last.date().isoformat(),
                f"No load from {source} for {(f.now - last).days} days",
                (
                    f"Source {source} was last loaded {last:%d %b %Y %H:%M} UTC, "
                    f"{(f.now - last).days} days ago (rule: {days} days)",
                ),
                View("health"),
                changes_with=(last,),  # a new load ends the gap, or starts a new one
                figures={"source": source, "last_load": last.isoformat()},
            )
        )
    return out


def _month_end(month: date) -> date:
    nxt = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


_JUDGES: dict[str, Callable[[AlertRule, Figures], list[Alert]]] = {
    "budget_forecast": budget_forecast,
    "budget_breached": budget_breached,
    "anomaly": anomaly,
    "idle_episode": idle_episode,
    "commitment": commitment,
    "data_gap": data_gap,
}

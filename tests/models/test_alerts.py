"""models/alerts.py: which rules fire on figures handed in, what they say, and when an alert
counts as changed (a new alert id) or the same (the same id, never sent twice)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from models.alert_conditions import evaluate
from models.alert_rules import AlertRule, AlertSettings
from models.alerts import Anomaly, CommitmentUse, Figures, IdleEpisode
from models.budgets import Budget, assess

NOW = datetime(2026, 11, 3, 6, 0, tzinfo=UTC)
AS_OF = date(2026, 10, 31)


def rules(*r: AlertRule) -> AlertSettings:
    return AlertSettings(rule=r)


def october(amount_a_day: str, days: int = 31) -> list[tuple[date, Decimal]]:
    return [(date(2026, 10, d), Decimal(amount_a_day)) for d in range(1, days + 1)]


def test_a_budget_over_and_one_expected_over_within_the_lead_time() -> None:
    over = assess(Budget("Research", Decimal("3000"), "USD"), october("100"), AS_OF)
    annual = Budget("Year", Decimal("1100"), "USD", "annual")
    history = [(date(2026, m, 1), Decimal("100")) for m in range(1, 11)]
    at_risk = assess(annual, history, AS_OF)  # 1,000 by October, 100 a month: over in December
    assert at_risk.breach == date(2026, 12, 1)
    settings = rules(
        AlertRule("over", "budget_breached"),
        AlertRule("soon", "budget_forecast", lead_days=30),
        AlertRule("later", "budget_forecast", lead_days=45),
    )
    fired = evaluate(settings, Figures(NOW, AS_OF, budgets=(over, at_risk)))
    assert [(a.rule.name, a.scope, a.period) for a in fired] == [
        ("over", "budget Research", "2026-10"),
        ("later", "budget Year", "2026"),  # 1 December is 31 days after the last day
    ]
    assert fired[0].title == "Budget Research is over: USD 3,100.00 of USD 3,000.00"
    assert "Breached on 31 Oct 2026: over by USD 100.00" in fired[0].body()
    assert fired[1].title == "Budget Year is expected to breach on 01 Dec 2026"


def test_anomalies_by_dimension_size_and_age_with_their_drivers() -> None:
    spike = Anomaly("ai_class", "egress", date(2026, 10, 20), date(2026, 10, 22),
                    Decimal("9000.00"), Decimal("600.00"), Decimal("8400.00"), "USD",
                    (("acme-datasets", Decimal("8300.00")),))  # fmt: skip
    small = Anomaly("team", "vision", date(2026, 10, 30), date(2026, 10, 30),
                    Decimal("900.00"), Decimal("400.00"), Decimal("500.00"), "USD")  # fmt: skip
    old = Anomaly("ai_class", "egress", date(2026, 8, 1), date(2026, 8, 2),
                  Decimal("9000.00"), Decimal("600.00"), Decimal("8400.00"), "USD")  # fmt: skip
    settings = rules(
        AlertRule("spikes", "anomaly", dimensions=("ai_class",), min_excess=Decimal("1000"),
                  within_days=30),
    )  # fmt: skip
    (alert,) = evaluate(settings, Figures(NOW, AS_OF, anomalies=(spike, small, old)))
    assert alert.lines == (
        "AI class egress: USD 9,000.00 spent 20 Oct to 22 Oct 2026 (3 days) against "
        "USD 600.00 expected: USD 8,400.00 above",
        "Driven by acme-datasets: USD 8,300.00 above its baseline",
    )
    assert (alert.view.page, alert.view.start, alert.view.end) == (
        "forecast",
        date(2026, 9, 22),
        date(2026, 10, 22),
    )


def test_idle_episodes_by_length_and_cost_and_a_running_one_changes_once_a_day() -> None:
    def episode(hours: int, cost: str) -> IdleEpisode:
        start = datetime(2026, 10, 1, tzinfo=UTC)
        end = datetime(2026, 10, 1, tzinfo=UTC).replace(day=1 + hours // 24, hour=hours % 24)
        return IdleEpisode("i-1", "gpu-host-1", "A100", "AWS", "vision", start, end, hours, 8,
                           Decimal(cost), "USD")  # fmt: skip

    settings = rules(AlertRule("idle", "idle_episode", min_hours=168, min_cost=Decimal("500"),
                               within_days=31))  # fmt: skip
    assert evaluate(settings, Figures(NOW, AS_OF, idle=(episode(100, "9000"),))) == []
    assert evaluate(settings, Figures(NOW, AS_OF, idle=(episode(200, "400"),))) == []
    (a,) = evaluate(settings, Figures(NOW, AS_OF, idle=(episode(200, "9000"),)))
    assert a.title == "Idle GPUs: gpu-host-1 idle 200 hours, USD 9,000.00"
    (b,) = evaluate(settings, Figures(NOW, AS_OF, idle=(episode(210, "9450"),)))
    (c,) = evaluate(settings, Figures(NOW, AS_OF, idle=(episode(216, "9720"),)))
    assert a.condition == b.condition == c.condition
    assert a.alert_id == b.alert_id != c.alert_id  # a new day idle: told again


def test_commitments_under_their_threshold_and_sources_not_loaded() -> None:
    used = CommitmentUse("ri-1", "p4d RI", "AWS", date(2026, 10, 1), 0.92, Decimal("80"), "USD")
    idle = CommitmentUse("sp-1", "Compute SP", "AWS", date(2026, 10, 1), 0.55, Decimal("4500"),
                         "USD")  # fmt: skip
    loads = (("aws-cur2", datetime(2026, 11, 2, tzinfo=UTC)),
             ("saas", datetime(2026, 10, 1, 8, 30, tzinfo=UTC)))  # fmt: skip
    settings = rules(
        AlertRule("under", "commitment", below=0.8),
        AlertRule("gap", "data_gap", days=7),
    )
    fired = evaluate(settings, Figures(NOW, AS_OF, commitments=(used, idle), last_loads=loads))
    assert [a.title for a in fired] == [
        "Commitment Compute SP used 55.0% in October 2026",
        "No load from saas for 32 days",
    ]
    assert fired[0].lines[1] == "Unused: USD 4,500.00"
    assert fired[1].view.page == "health"


def test_the_same_figures_give_the_same_alert_id() -> None:
    status = assess(Budget("Research", Decimal("3000"), "USD"), october("100"), AS_OF)
    settings = rules(AlertRule("over", "budget_breached"))
    first = evaluate(settings, Figures(NOW, AS_OF, budgets=(status,)))
    again = evaluate(settings, Figures(NOW, AS_OF, budgets=(status,)))
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    raised = assess(Budget("Research", Decimal("3050"), "USD"), october("100"), AS_OF)
    (changed,) = evaluate(settings, Figures(NOW, AS_OF, budgets=(raised,)))
    assert changed.condition == first[0].condition and changed.alert_id != first[0].alert_id

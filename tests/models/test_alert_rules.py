"""`[alerts]` of finops.toml: each mistake is one ConfigError naming the file, what was
expected and what was found; a secret's variable is checked (never shown) before anything is
evaluated."""

from __future__ import annotations

import tomllib
from decimal import Decimal

import pytest

from models.alert_rules import AlertRule, Channel, check_budgets, secrets
from models.errors import ConfigError
from models.settings import parse_settings

GOOD = """
[alerts]
dashboard_url = "https://finops.example.com"

[[alerts.rule]]
name = "Egress spike"
type = "anomaly"
dimensions = ["ai_class"]
min_excess = "5000"
channels = ["slack"]

[[alerts.channel]]
name = "slack"
type = "slack"
url_env = "FINOPS_SLACK_WEBHOOK"
"""


def parse(text: str):
    return parse_settings(tomllib.loads(text), origin="finops.toml").alerts


def test_rules_and_channels_are_read_exactly() -> None:
    alerts = parse(GOOD)
    (rule,) = alerts.rule
    assert rule == AlertRule(
        "Egress spike", "anomaly", channels=("slack",), min_excess=Decimal("5000"),
        dimensions=("ai_class",),
    )  # fmt: skip
    assert rule.setting("within_days") == 7  # the default
    assert alerts.channels_of(rule) == (Channel("slack", "slack", url_env="FINOPS_SLACK_WEBHOOK"),)


RULE = '[[alerts.rule]]\nname = "r"\n'
CHANNEL = '[[alerts.channel]]\nname = "c"\n'


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (RULE + 'type = "budget_forcast"',
         'alert rule \'r\': unknown rule type \'budget_forcast\' (did you mean "budget_forecast"?)'
         " — expected one of budget_forecast, budget_breached, anomaly, idle_episode, "
         "commitment, data_gap, found 'budget_forcast'"),
        (RULE + 'type = "idle_episode"\nmin_hours = 0',
         "alert rule 'r': min_hours is out of range — expected whole hours, 1 or more, found 0"),
        (RULE + 'type = "commitment"\nbelow = 80',
         "alert rule 'r': below is out of range — expected a share of utilisation in (0, 1], "
         "e.g. 0.8, found 80.0"),
        (RULE + 'type = "anomaly"\nlead_days = 3',
         "alert rule 'r': 'lead_days' is not a key of anomaly rules — expected keys of anomaly "
         "rules: min_excess, within_days, dimensions, found lead_days"),
        (RULE + 'type = "anomaly"\nseverity = "urgent"',
         "alert rule 'r': unknown severity — expected one of info, warning, critical, "
         "found 'urgent'"),
        (RULE + 'type = "anomaly"\nmin_excess = "lots"',
         "[[alerts.rule]] #1 min_excess is not a number — expected a decimal such as "
         "\"1234.56\", found 'lots'"),
        (CHANNEL + 'type = "webhook"\nurl = "ftp://hooks.example.com/T0/secret-token"',
         "alert channel 'c': the webhook URL is not an http(s) URL — expected https://host/path, "
         "found 'ftp:…'"),
        (CHANNEL + 'type = "slack"',
         "alert channel 'c': give the webhook's URL as url or url_env, one of them"),
        (CHANNEL + 'type = "pager"',
         "alert channel 'c': unknown channel type — expected one of slack, webhook, email, stdout"),
        (CHANNEL + 'type = "email"\nhost = "smtp.example.com"\nsender = "a@example.com"',
         "alert channel 'c': an email channel needs host, sender and to"),
        (RULE + 'type = "anomaly"\nchannels = ["slak"]\n' + CHANNEL.replace('"c"', '"slack"')
         + 'type = "stdout"',
         "alert rule 'r' names channel 'slak', which is not configured (did you mean \"slack\"?)"),
        ('[alerts]\ndashboard_url = "localhost:8501"',
         "[alerts] dashboard_url is not an http(s) URL"),
        ('[alerts]\nrules = []', "unknown key 'rules' in [alerts] (did you mean \"rule\"?)"),
    ],
)  # fmt: skip
def test_a_bad_alert_setting_is_one_clear_error(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    message = caught.value.render()
    assert said in message
    assert caught.value.file == "finops.toml"
    assert "secret-token" not in message  # a webhook URL carries its token


def test_a_secret_variable_must_be_set_and_is_never_shown() -> None:
    alerts = parse(GOOD)
    with pytest.raises(ConfigError) as caught:
        secrets(alerts, {})
    assert caught.value.render() == (
        "alert channel 'slack': the variable FINOPS_SLACK_WEBHOOK named by url_env is not set "
        "— expected FINOPS_SLACK_WEBHOOK set in the environment of `finops watch`, found not "
        "set — a systemd unit sets it with Environment= or EnvironmentFile="
    )
    with pytest.raises(ConfigError) as caught:
        secrets(alerts, {"FINOPS_SLACK_WEBHOOK": "hooks.slack.com/services/T0/B0/XYZsecret"})
    assert "does not hold an http(s) URL" in caught.value.render()
    assert "XYZsecret" not in caught.value.render()
    url = "https://hooks.slack.com/services/T0/B0/XYZsecret"
    (channel,) = secrets(alerts, {"FINOPS_SLACK_WEBHOOK": url}).channel
    assert (channel.url, channel.url_env) == (url, None)


def test_a_budget_rule_names_a_configured_budget() -> None:
    alerts = parse(RULE + 'type = "budget_breached"\nbudget = "Reserch"')
    with pytest.raises(ConfigError, match='names budget \'Reserch\', which is not configured '
                       r'\(did you mean "Research"\?\)'):  # fmt: skip
        check_budgets(alerts, ["Research", "GPU compute"])

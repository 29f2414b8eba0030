"""`[alerts]` of finops.toml: the rules `finops watch` evaluates and the channels it delivers to.

    [alerts]
    dashboard_url = "https://finops.example.com"   # where an alert's link points

    [[alerts.rule]]
    name = "Budgets at risk"
    type = "budget_forecast"      # forecast to breach within `lead_days` of the data's last day
    lead_days = 30
    severity = "warning"          # info, warning or critical
    channels = ["team-slack"]     # default: every channel

    [[alerts.channel]]
    name = "team-slack"
    type = "slack"                # slack, webhook, email or stdout
    url_env = "FINOPS_SLACK_WEBHOOK"   # or url = "https://..." (a URL is a secret: prefer _env)

Rule types and their own keys (RULE_KEYS): budget_forecast (budget, lead_days),
budget_breached (budget), anomaly (min_excess, within_days, dimensions), idle_episode
(min_hours, min_cost, within_days), commitment (below, within_days), data_gap (days, source).
Checked strictly: an unknown type, a key of another type, a bad threshold, a link or webhook
that is not http(s) are one ConfigError; so is a secret variable that is not set (`secrets`,
given the environment, before anything is evaluated). Pure: the caller reads the file and
hands in the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from models.errors import ConfigError, did_you_mean

SEVERITIES = ("info", "warning", "critical")
# Each rule type -> the keys of its own (besides name, type, severity, channels).
RULE_KEYS = {
    "budget_forecast": ("budget", "lead_days"),
    "budget_breached": ("budget",),
    "anomaly": ("min_excess", "within_days", "dimensions"),
    "idle_episode": ("min_hours", "min_cost", "within_days"),
    "commitment": ("below", "within_days"),
    "data_gap": ("days", "source"),
}
# What a rule assumes for a key it is not given.
DEFAULTS = {
    "lead_days": 30,
    "within_days": 7,
    "min_hours": 24,
    "below": 0.8,
    "days": 3,
}
CHANNEL_TYPES = ("slack", "webhook", "email", "stdout")
_CHANNEL_KEYS = {
    "slack": ("url", "url_env", "timeout_s", "retries", "backoff_s", "deadline_s"),
    "webhook": ("url", "url_env", "timeout_s", "retries", "backoff_s", "deadline_s"),
    "email": ("host", "port", "starttls", "ca_file", "user", "password", "password_env",
              "sender", "to", "timeout_s", "retries", "backoff_s", "deadline_s"),
    "stdout": (),
}  # fmt: skip


def _http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


@dataclass(frozen=True)
class AlertRule:
    """One `[[alerts.rule]]`."""

    name: str
    type: str
    severity: str = "warning"
    channels: tuple[str, ...] = ()  # empty: every channel
    budget: str | None = None  # budget rules: one budget by name (default: every budget)
    lead_days: int | None = None
    min_excess: Decimal | None = None  # anomaly: excess over the baseline, whole anomaly
    dimensions: tuple[str, ...] | None = None  # anomaly: of [anomaly] dimensions (default all)
    within_days: int | None = None  # events ending this many days before the data's last day
    min_hours: int | None = None
    min_cost: Decimal | None = None
    below: float | None = None  # commitment: utilisation under this share
    days: int | None = None  # data_gap: a source not loaded for this many days
    source: str | None = None  # data_gap: one source (default: every source)

    def __post_init__(self) -> None:
        label = f"alert rule {self.name!r}"
        if not self.name:
            raise ConfigError("an alert rule's name must be a non-empty string", found="''")
        if self.type not in RULE_KEYS:
            raise ConfigError(
                f"{label}: unknown rule type {self.type!r}{did_you_mean(self.type, RULE_KEYS)}",
                expected=f"one of {', '.join(RULE_KEYS)}",
                found=repr(self.type),
            )
        if self.severity not in SEVERITIES:
            raise ConfigError(
                f"{label}: unknown severity{did_you_mean(self.severity, SEVERITIES)}",
                expected=f"one of {', '.join(SEVERITIES)}",
                found=repr(self.severity),
            )
        own = RULE_KEYS[self.type]
        for key in ("budget", "lead_days", "min_excess", "dimensions", "within_days", "min_hours",
                    "min_cost", "below", "days", "source"):  # fmt: skip
            if getattr(self, key) is not None and key not in own:
                raise ConfigError(
                    f"{label}: {key!r} is not a key of {self.type} rules",
                    expected=f"keys of {self.type} rules: {', '.join(own)}",
                    found=key,
                )
        if self.dimensions is not None:
            from models.anomaly import DIMENSIONS  # polars and numpy: only when asked

            for d in self.dimensions:
                if d not in DIMENSIONS:
                    raise ConfigError(
                        f"{label}: unknown anomaly dimension {d!r}{did_you_mean(d, DIMENSIONS)}",
                        expected=f"some of {', '.join(DIMENSIONS)}",
                        found=d,
                    )
        checks = (
            ("lead_days", lambda v: v >= 0, "whole days, 0 or more"),
            ("within_days", lambda v: v >= 0, "whole days, 0 or more"),
            ("min_hours", lambda v: v >= 1, "whole hours, 1 or more"),
            ("days", lambda v: v >= 1, "whole days, 1 or more"),
            ("min_excess", lambda v: v >= 0, 'an amount, 0 or more, e.g. "500"'),
            ("min_cost", lambda v: v >= 0, 'an amount, 0 or more, e.g. "1000"'),
            ("below", lambda v: 0 < v <= 1, "a share of utilisation in (0, 1], e.g. 0.8"),
        )
        for key, ok, expected in checks:
            value = getattr(self, key)
            if value is not None and not ok(value):
                raise ConfigError(
                    f"{label}: {key} is out of range", expected=expected, found=repr(value)
                )

    def setting(self, key: str) -> Any:
        """The rule's value for `key`, or the default (DEFAULTS)."""
        value = getattr(self, key)
        return DEFAULTS.get(key) if value is None else value


@dataclass(frozen=True)
class Channel:
    """One `[[alerts.channel]]`: where alerts go. A secret (a webhook URL carries its token,
    an SMTP password) may stay out of the file: `url_env` / `password_env` name variables."""

    name: str
    type: str
    url: str | None = field(default=None, repr=False)  # a webhook URL holds its token
    url_env: str | None = None
    host: str | None = None
    port: int = 587
    starttls: bool = True
    ca_file: str | None = None  # PEM of the CA that signed the SMTP server's certificate
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None
    sender: str | None = None
    to: tuple[str, ...] = ()
    timeout_s: float = 10.0  # one attempt
    retries: int = 3  # attempts after the first, on a 5xx, a refused or timed-out connection
    backoff_s: float = 1.0  # wait before the first retry, doubled each time
    deadline_s: float = 120.0  # the whole channel, every alert and retry: then it is given up

    def __post_init__(self) -> None:
        label = f"alert channel {self.name!r}"
        if not self.name:
            raise ConfigError("an alert channel's name must be a non-empty string", found="''")
        if self.type not in CHANNEL_TYPES:
            raise ConfigError(
                f"{label}: unknown channel type{did_you_mean(self.type, CHANNEL_TYPES)}",
                expected=f"one of {', '.join(CHANNEL_TYPES)}",
                found=repr(self.type),
            )
        own = _CHANNEL_KEYS[self.type]
        for key in ("url", "url_env", "host", "ca_file", "user", "password", "password_env",
                    "sender"):  # fmt: skip
            if getattr(self, key) is not None and key not in own:
                raise ConfigError(
                    f"{label}: {key!r} is not a key of {self.type} channels",
                    expected=f"keys of {self.type} channels: {', '.join(own) or 'none'}",
                    found=key,
                )
        if self.type in ("slack", "webhook"):
            if (self.url is None) == (self.url_env is None):
                raise ConfigError(
                    f"{label}: give the webhook's URL as url or url_env, one of them",
                    expected='url_env = "FINOPS_SLACK_WEBHOOK" (a variable holding the URL)',
                    found="both" if self.url else "neither",
                )
            if self.url is not None and not _http(self.url):
                raise ConfigError(
                    f"{label}: the webhook URL is not an http(s) URL",
                    expected="https://host/path",
                    found=repr(urlsplit(self.url).scheme + ":…"),  # never the rest: a token
                )
        if self.type == "email":
            missing = [k for k in ("host", "sender") if not getattr(self, k)]
            if missing or not self.to:
                raise ConfigError(
                    f"{label}: an email channel needs host, sender and to",
                    expected='host = "smtp.example.com", sender = "finops@…", to = ["…"]',
                    found="missing " + ", ".join(missing + ([] if self.to else ["to"])),
                )
            if self.password is not None and self.password_env is not None:
                raise ConfigError(
                    f"{label}: give the SMTP password as password or password_env, not both",
                    expected="password_env (a variable holding it)",
                    found="both",
                )
        for key, ok, expected in (
            ("timeout_s", self.timeout_s > 0, "seconds, more than 0"),
            ("retries", 0 <= self.retries <= 10, "a whole number from 0 to 10"),
            ("backoff_s", self.backoff_s >= 0, "seconds, 0 or more"),
            ("deadline_s", self.deadline_s > 0, "seconds, more than 0"),
        ):
            if not ok:
                raise ConfigError(
                    f"{label}: {key} is out of range",
                    expected=expected,
                    found=repr(getattr(self, key)),
                )


@dataclass(frozen=True)
class AlertSettings:
    """`[alerts]`: the dashboard's address for links, the rules, the channels."""

    dashboard_url: str = "http://localhost:8501"
    rule: tuple[AlertRule, ...] = ()
    channel: tuple[Channel, ...] = ()

    def __post_init__(self) -> None:
        if not _http(self.dashboard_url):
            raise ConfigError(
                "[alerts] dashboard_url is not an http(s) URL",
                expected="the address people open the dashboard at, e.g. https://finops.example.com",
                found=repr(self.dashboard_url),
            )
        for what, items in (("rule", self.rule), ("channel", self.channel)):
            names = [i.name for i in items]
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ConfigError(
                    f"two alert {what}s are named {twice[0]!r}",
                    expected=f"a different name for each [[alerts.{what}]]",
                    found=", ".join(twice),
                )
        known = [c.name for c in self.channel]
        for r in self.rule:
            for name in r.channels:
                if name not in known:
                    raise ConfigError(
                        f"alert rule {r.name!r} names channel {name!r}, which is not "
                        f"configured{did_you_mean(name, known)}",
                        expected=f"one of {', '.join(known)}" if known else "an [[alerts.channel]]",
                        found=name,
                    )

    def channels_of(self, rule: AlertRule) -> tuple[Channel, ...]:
        return tuple(c for c in self.channel if not rule.channels or c.name in rule.channels)


def secrets(settings: AlertSettings, env: Mapping[str, str]) -> AlertSettings:
    """The settings with every secret a channel names in a variable read from `env`: a
    variable that is not set, or a URL in one that is not http(s), is a ConfigError that
    names the variable (never its value)."""
    out = []
    for c in settings.channel:
        for key in ("url_env", "password_env"):
            var = getattr(c, key)
            if var is None:
                continue
            if not env.get(var):
                raise ConfigError(
                    f"alert channel {c.name!r}: the variable {var} named by {key} is not set",
                    expected=f"{var} set in the environment of `finops watch`",
                    found="not set" if var not in env else "empty",
                    hint="a systemd unit sets it with Environment= or EnvironmentFile=",
                )
            if key == "url_env" and not _http(env[var]):
                raise ConfigError(
                    f"alert channel {c.name!r}: {var} does not hold an http(s) URL",
                    expected="https://host/path",
                    found=repr(urlsplit(env[var]).scheme + ":…"),
                )
        if c.url_env:
            c = replace(c, url=env[c.url_env], url_env=None)
        if c.password_env:
            c = replace(c, password=env[c.password_env], password_env=None)
        out.append(c)
    return replace(settings, channel=tuple(out))


def check_budgets(settings: AlertSettings, budget_names: list[str]) -> None:
    """A budget rule names a budget that `[budgets]` has."""
    for r in settings.rule:
        if r.budget is not None and r.budget not in budget_names:
            raise ConfigError(
                f"alert rule {r.name!r} names budget {r.budget!r}, which is not configured"
                f"{did_you_mean(r.budget, budget_names)}",
                expected="the name of a [[budgets.budget]]"
                + (f": {', '.join(budget_names)}" if budget_names else ""),
                found=r.budget,
            )

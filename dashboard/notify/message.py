"""An alert as each channel carries it: Slack's text and blocks, a generic JSON document, an
email, a line of text; and its dashboard link, built with the link contract of
dashboard/links.py so that opening it reproduces the view."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlencode

from dashboard.links import CURRENCY, RESOURCE
from dashboard.queries.filters import Filters, to_query
from models.alerts import Alert

HEADER = "X-Finops-Alert-Id"  # the idempotency key a receiver may de-duplicate on
_ICON = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


def link(alert: Alert, dashboard_url: str) -> str:
    v = alert.view
    query = to_query(Filters(start=v.start, end=v.end, providers=v.providers, teams=v.teams))
    if v.currency:
        query[CURRENCY] = v.currency
    if v.resource:
        query[RESOURCE] = v.resource
    tail = f"?{urlencode(query)}" if query else ""
    return f"{dashboard_url.rstrip('/')}/{v.page}{tail}"


def document(alert: Alert, url: str, update: bool) -> dict:
    """The generic webhook's JSON body (money as exact decimal strings)."""
    return {
        "alert_id": alert.alert_id,
        "update": update,
        "rule": alert.rule.name,
        "rule_type": alert.rule.type,
        "severity": alert.rule.severity,
        "scope": alert.scope,
        "period": alert.period,
        "title": alert.title,
        "text": alert.body(),
        "figures": alert.figures,
        "drivers": [{"resource": r, "excess": str(x)} for r, x in alert.drivers],
        "link": url,
    }


def slack(alert: Alert, url: str, update: bool) -> dict:
    """Slack's incoming-webhook payload: `text` (notifications, clients without blocks) and
    blocks (a header line, the figures, the link)."""
    head = f"{'Update: ' if update else ''}{alert.title}"
    icon = _ICON.get(alert.rule.severity, "")
    return {
        "text": f"{icon} {_inert(head)}\n{_inert(alert.body())}\n<{url}|Open in the dashboard>",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"{icon} *{_inert(head)}*"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _inert(alert.body())}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"Rule {_inert(alert.rule.name)} · {alert.rule.severity} · "
                        f"<{url}|Open in the dashboard>",
                    }
                ],
            },
        ],
    }


def _inert(text: str) -> str:
    """Slack's control characters escaped, so data cannot make a link or a mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def email(alert: Alert, url: str, update: bool, sender: str, to: tuple[str, ...]) -> EmailMessage:
    # headers folded only past RFC 5322's 998 characters: a subject stays one line
    msg = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    title = " ".join(alert.title.split())  # a line break in data would end the header
    msg["Subject"] = f"[finops {alert.rule.severity}] {'Update: ' if update else ''}{title}"
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(usegmt=True)
    # the same alert id, the same Message-ID: a mail system that drops repeats drops it
    domain = sender.rpartition("@")[2] or "finops.local"
    msg["Message-ID"] = f"<finops-{alert.alert_id}@{domain}>"
    msg[HEADER] = alert.alert_id
    msg.set_content(f"{alert.body()}\n\nRule: {alert.rule.name}\nOpen in the dashboard: {url}\n")
    return msg


def text(alert: Alert, url: str, update: bool) -> str:
    return f"[{alert.rule.severity}] {'Update: ' if update else ''}{alert.title}\n" + "\n".join(
        f"  {line}" for line in (*alert.lines, f"Open: {url}")
    )

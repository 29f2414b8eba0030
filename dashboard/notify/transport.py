"""Sending one message over one channel: an HTTP POST (Slack-compatible or generic JSON
webhook) or an email over SMTP with STARTTLS, each attempt under its own timeout, retried
with a doubling backoff when trying again can help (a 5xx or 429 answer, a refused, dropped
or timed-out connection, an SMTP 4xx), never past the channel's deadline. What fails says
why in words; a URL's token or a password never appears in it."""

from __future__ import annotations

import json
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from urllib.parse import urlsplit

from dashboard.notify.message import HEADER
from models.alert_rules import Channel
from models.urls import redact


class DeliveryFailed(Exception):
    """The channel did not take the message; `retryable` says whether another try may help."""

    def __init__(self, message: str, retryable: bool):
        super().__init__(redact(message))
        self.retryable = retryable


def where(channel: Channel) -> str:
    """The channel's address without its secret part (a webhook URL's path is its token)."""
    if channel.type == "email":
        return f"smtp://{channel.host}:{channel.port}"
    parts = urlsplit(channel.url or "")
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}/…"


def post(channel: Channel, body: dict, alert_id: str) -> None:
    """One HTTP POST of `body` as JSON, with the alert id as the idempotency header."""
    request = urllib.request.Request(
        channel.url or "",
        data=json.dumps(body).encode("utf-8"),
        method="POST",
        headers={
            "Content-Type": "application/json",
            HEADER: alert_id,
            "Idempotency-Key": alert_id,
            "User-Agent": "hybrid-finops-watch",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=channel.timeout_s) as answer:
            answer.read(65536)
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code in (408, 429)
        raise DeliveryFailed(f"{where(channel)} answered HTTP {exc.code}", retry) from None
    except TimeoutError:
        raise DeliveryFailed(
            f"{where(channel)} did not answer within {channel.timeout_s:g} s", True
        ) from None
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            raise DeliveryFailed(
                f"{where(channel)} did not answer within {channel.timeout_s:g} s", True
            ) from None
        raise DeliveryFailed(f"{where(channel)} could not be reached: {reason}", True) from None


def mail(channel: Channel, message: EmailMessage) -> None:
    """One SMTP session: STARTTLS (unless turned off), login when a user is set, send."""
    try:
        with smtplib.SMTP(channel.host or "", channel.port, timeout=channel.timeout_s) as smtp:
            if channel.starttls:
                context = ssl.create_default_context(cafile=channel.ca_file)
                smtp.starttls(context=context)
            if channel.user:
                smtp.login(channel.user, channel.password or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError:
        raise DeliveryFailed(
            f"{where(channel)} refused the login of {channel.user!r} (check the password)",
            False,
        ) from None
    except smtplib.SMTPResponseException as exc:
        retry = 400 <= exc.smtp_code < 500
        raise DeliveryFailed(f"{where(channel)} answered SMTP {exc.smtp_code}", retry) from None
    except smtplib.SMTPNotSupportedError:
        raise DeliveryFailed(
            f"{where(channel)} does not offer STARTTLS; the password would travel in clear "
            "(set starttls = false only for a server on this machine)",
            False,
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryFailed(f"{where(channel)}: TLS failed ({exc.reason})", False) from None
    except TimeoutError:
        raise DeliveryFailed(
            f"{where(channel)} did not answer within {channel.timeout_s:g} s", True
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"{where(channel)} could not be reached: {exc}", True) from None


def with_retries(
    channel: Channel,
    send: Callable[[], None],
    deadline: float,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Call `send` until it succeeds, at most 1 + retries times, waiting backoff_s, 2x, 4x...
    between tries, never past `deadline` (time.monotonic()). Returns the attempts made;
    raises the last DeliveryFailed."""
    wait = channel.backoff_s
    for attempt in range(1, channel.retries + 2):
        try:
            send()
            return attempt
        except DeliveryFailed as exc:
            last = exc
            if not exc.retryable or attempt > channel.retries:
                break
            if time.monotonic() + wait + channel.timeout_s > deadline:
                last = DeliveryFailed(
                    f"{exc} (the channel's deadline leaves no time to retry)", False
                )
                break
            sleep(wait)
            wait *= 2
    raise DeliveryFailed(f"{last} after {attempt} attempt{'s' if attempt > 1 else ''}", False)

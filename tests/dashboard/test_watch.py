"""`finops watch` over the small warehouse, delivering to a real HTTP receiver and a real SMTP
server (STARTTLS, login) on 127.0.0.1: each alert once per channel, never again unless its
figures change; a failing receiver is retried, a hanging one is given up without holding
the other channel, and a watch killed mid-delivery neither loses nor repeats an alert.

The small warehouse (tests/fixtures/small_warehouse.py): team nlp spends USD 310 on 1 October
2026 and USD 480 on the 2nd (USD 790 against a USD 700 budget: breached on the 2nd); i-gpu1's
GPUs 0-2 idle 4 hours (USD 120), i-gpu2's 8 GPUs 2 hours (USD 160).
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from dashboard.cli.finops import main
from ingest.warehouse import alert_log
from ingest.warehouse.store import Store
from tests.fixtures.kill import REPO, finops, sigkill_when
from tests.fixtures.receivers import SMTP_PASSWORD, SMTP_USER, Hook, Mailbox, hook, mailbox
from tests.fixtures.watch_rules import copy_of, rules

__all__ = ["hook", "mailbox"]  # fixtures

WAITING = "Another finops watch is running on this warehouse: waiting for it to finish"

HOOK = """
[[alerts.channel]]
name = "hook"
type = "webhook"
url_env = "FINOPS_TEST_HOOK_URL"
timeout_s = {timeout}
retries = 3
backoff_s = 0.05
deadline_s = {deadline}
"""

MAIL = """
[[alerts.channel]]
name = "mail"
type = "email"
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
user = "{user}"
password_env = "FINOPS_TEST_SMTP_PASSWORD"
sender = "finops@example.com"
to = ["ml-leads@example.com"]
timeout_s = 5
"""


@pytest.fixture
def watched(built_warehouse: Path, tmp_path: Path) -> Path:
    return copy_of(built_warehouse, tmp_path)


def configure(
    tmp_path: Path, hook: Hook, box: Mailbox | None, amount: str = "700", timeout: float = 2,
    deadline: float = 30,
) -> Path:  # fmt: skip
    text = rules(amount) + HOOK.format(timeout=timeout, deadline=deadline)
    if box is not None:
        text += MAIL.format(port=box.port, ca=box.ca_file, user=SMTP_USER)
    path = tmp_path / "finops.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def secrets(hook: Hook, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_TEST_HOOK_URL", hook.url)
    monkeypatch.setenv("FINOPS_TEST_SMTP_PASSWORD", SMTP_PASSWORD)


def watch(warehouse: Path, config: Path, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--warehouse", str(warehouse), "--config", str(config), "watch", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def by_rule(hook: Hook) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for body in hook.distinct().values():
        out.setdefault(body["rule"], []).append(body)
    return out


def test_each_alert_is_delivered_once_with_its_figures_and_link(
    watched: Path, tmp_path: Path, hook: Hook, mailbox: Mailbox, secrets, capsys
) -> None:
    config = configure(tmp_path, hook, mailbox)
    code, _, err = watch(watched, config, capsys)
    assert code == 1, err
    assert "3 alerts hold: 6 messages sent, 0 sent before." in err
    # the webhook: one message per alert, the figures exact
    assert len(hook.received) == 3 == len(hook.distinct())
    got = by_rule(hook)
    (budget,) = got["Over budget"]
    assert budget["title"] == "Budget team nlp is over: USD 790.00 of USD 700.00"
    assert budget["figures"]["actual"] == "790.00" and budget["figures"]["breach"] == "2026-10-02"
    assert "Breached on 02 Oct 2026: over by USD 90.00" in budget["text"]
    assert budget["link"] == (
        "http://127.0.0.1:8599/budgets?from=2026-10-01&to=2026-10-31&team=nlp&cur=USD"
    )
    idle = {b["figures"]["resource_id"]: b for b in got["Idle GPUs"]}
    assert {r: (b["figures"]["gpus"], b["figures"]["hours"], b["figures"]["cost"])
            for r, b in idle.items()} == {"i-gpu1": ("3", "4", "120.00"),
                                          "i-gpu2": ("8", "2", "160.00")}  # fmt: skip
    assert idle["i-gpu1"]["link"] == (
        "http://127.0.0.1:8599/idle?from=2026-10-02&to=2026-10-02&cur=USD&resource=i-gpu1"
    )
    # the mail: the same three, over STARTTLS after a login, the alert id as Message-ID
    assert len(mailbox.messages) == 3 and all(mailbox.tls)
    subjects = sorted(m["Subject"] for m in mailbox.messages)
    assert subjects[0] == "[finops critical] Budget team nlp is over: USD 790.00 of USD 700.00"
    ids = {m["X-Finops-Alert-Id"] for m in mailbox.messages}
    assert ids == set(hook.distinct())
    assert all(m["Message-ID"] == f"<finops-{m['X-Finops-Alert-Id']}@example.com>"
               for m in mailbox.messages)  # fmt: skip
    # no secret in what was printed or stored
    records = alert_log.read(Store(watched))
    stored = records.write_csv()
    for secret in (SMTP_PASSWORD, "token-part"):
        assert secret not in err and secret not in stored

    # a second pass sends nothing new
    code, _, err = watch(watched, config, capsys)
    assert code == 1
    assert "3 alerts hold: 0 messages sent, 6 sent before." in err
    assert len(hook.received) == 3 and len(mailbox.messages) == 3

    # a changed condition (a larger budget, still crossed on the 2nd) is sent as an update
    config = configure(tmp_path, hook, mailbox, amount="750")
    code, _, err = watch(watched, config, capsys)
    assert "3 alerts hold: 2 messages sent, 4 sent before." in err
    update = hook.received[-1][1]
    assert update["update"] is True and update["figures"]["amount"] == "750"
    assert mailbox.messages[-1]["Subject"].startswith("[finops critical] Update: Budget team nlp")


def test_the_alert_links_open_the_view_they_name(
    watched: Path, tmp_path: Path, hook: Hook, secrets, capsys, monkeypatch
) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.fixtures.app_pages import APP, no_errors
    from tests.fixtures.warehouse_state import serve

    watch(watched, configure(tmp_path, hook, None), capsys)
    serve(monkeypatch, watched)
    idle = {b["figures"]["resource_id"]: b["link"] for b in by_rule(hook)["Idle GPUs"]}
    query = dict(p.split("=") for p in idle["i-gpu1"].split("?")[1].split("&"))
    # a new session opened on the page by the link, as a browser opens it
    at = AppTest.from_string(f"import runpy; runpy.run_path({APP!r})", default_timeout=60)
    at.query_params.update(query)
    at = at.switch_page(str(Path(APP).parent / "pages" / "idle.py")).run()
    no_errors(at)
    assert not at.warning  # every value of the link was accepted
    assert at.selectbox(key="idle_resource").value == "i-gpu1"


def test_a_receiver_failing_twice_gets_the_alert_once(
    watched: Path, tmp_path: Path, hook: Hook, secrets, capsys
) -> None:
    hook.fail = 2
    code, _, err = watch(watched, configure(tmp_path, hook, None), capsys)
    assert code == 1, err
    assert hook.attempts == 5  # two 503s, then the three alerts
    assert len(hook.received) == 3 == len(hook.distinct())


def test_a_receiver_that_never_answers_times_out_and_the_mail_still_goes(
    watched: Path, tmp_path: Path, hook: Hook, mailbox: Mailbox, secrets, capsys
) -> None:
    hook.hang = True
    config = configure(tmp_path, hook, mailbox, timeout=0.5, deadline=4)
    started = time.monotonic()
    code, _, err = watch(watched, config, capsys)
    took = time.monotonic() - started
    assert code == 3, err  # a delivery failed after its retries
    assert len(mailbox.messages) == 3  # the other channel was not held
    assert "did not answer within 0.5 s" in err and "token-part" not in err
    assert took < 20
    records = alert_log.read(Store(watched))
    sent = records.filter(pl.col("status") == "sent")
    assert sorted(sent["channel"].to_list()) == ["mail"] * 3
    # the next pass retries the hook only
    hook.hang = False
    code, _, err = watch(watched, config, capsys)
    assert "3 messages sent, 3 sent before" in err
    assert len(mailbox.messages) == 3


def test_a_watch_killed_mid_delivery_neither_loses_nor_repeats(
    watched: Path, tmp_path: Path, hook: Hook, secrets, capsys
) -> None:
    hook.hang_once = True  # the first POST is held: the watch is killed while it waits
    config = configure(tmp_path, hook, None, timeout=30)
    env = {**os.environ, "FINOPS_TEST_HOOK_URL": hook.url}
    proc = subprocess.Popen(
        finops(watched, "--config", str(config), "watch"),
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    sigkill_when(proc, lambda: hook.holding.wait(60))  # the watch is waiting for the hook
    records = alert_log.read(Store(watched))
    assert records.filter(pl.col("status") == "pending").height == 3
    assert records.filter(pl.col("status") == "sent").height == 0
    hook.released.set()
    code, _, err = watch(watched, config, capsys)
    assert "3 alerts hold: 3 messages sent" in err
    # the held message came again under the same id: a receiver keeping one per id has 3
    assert len(hook.distinct()) == 3
    assert len(hook.received) == 4
    code, _, err = watch(watched, config, capsys)
    assert code == 1 and "0 messages sent, 3 sent before" in err and len(hook.received) == 4


def test_two_watches_at_once_deliver_each_alert_once(
    watched: Path, tmp_path: Path, hook: Hook, secrets
) -> None:
    hook.hang_once = True  # the first POST is held: the passes overlap for as long as needed
    config = configure(tmp_path, hook, None, timeout=30)
    env = {**os.environ, "FINOPS_TEST_HOOK_URL": hook.url}
    line = finops(watched, "--config", str(config), "watch")
    pipes = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "text": True}
    procs = [subprocess.Popen(line, cwd=REPO, env=env, **pipes) for _ in range(2)]
    errs: list[list[str]] = [[], []]
    readers = [
        threading.Thread(target=lambda p=p, e=e: e.extend(p.stderr), daemon=True)
        for p, e in zip(procs, errs, strict=True)
    ]
    for r in readers:
        r.start()
    try:
        assert hook.holding.wait(60), "neither watch reached the receiver"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the other pass waits, or (no lock) finishes
            if any(WAITING in "".join(e) for e in errs) or any(p.poll() is not None for p in procs):
                break
            time.sleep(0.1)
        assert any(WAITING in "".join(e) for e in errs), errs
        hook.released.set()
        codes = [p.wait(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for r in readers:
        r.join(10)
    summaries = sorted(next(line for line in e if "alerts hold" in line).strip() for e in errs)
    assert codes == [1, 1], errs
    assert summaries == [
        "3 alerts hold: 0 messages sent, 3 sent before.",
        "3 alerts hold: 3 messages sent, 0 sent before.",
    ]
    assert len(hook.received) == 3 == len(hook.distinct())  # each alert once, none twice
    records = alert_log.read(Store(watched))
    assert records.filter(pl.col("status") == "sent").height == 3


def test_a_dry_run_sends_and_records_nothing(
    watched: Path, tmp_path: Path, hook: Hook, secrets, capsys
) -> None:
    code, out, err = watch(watched, configure(tmp_path, hook, None), capsys, "--dry-run")
    assert code == 1
    assert "3 messages would be sent (dry run)" in err
    assert "[critical] Budget team nlp is over: USD 790.00 of USD 700.00" in out
    assert hook.attempts == 0
    assert alert_log.read(Store(watched)).height == 0


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("budget_breached", "budget_breach"),
         "unknown rule type 'budget_breach' (did you mean \"budget_breached\"?)"),
        (('url_env = "FINOPS_TEST_HOOK_URL"', 'url = "file:///etc/passwd"'),
         "the webhook URL is not an http(s) URL"),
        (("FINOPS_TEST_HOOK_URL", "FINOPS_UNSET_HOOK_URL"),
         "the variable FINOPS_UNSET_HOOK_URL named by url_env is not set"),
    ],
)  # fmt: skip
def test_bad_config_is_one_message_before_anything_is_evaluated(
    watched: Path, tmp_path: Path, hook: Hook, secrets, capsys, change, said
) -> None:
    config = configure(tmp_path, hook, None)
    config.write_text(config.read_text(encoding="utf-8").replace(*change), encoding="utf-8")
    code, out, err = watch(watched, config, capsys)
    assert code == 2
    assert out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"Configuration error: {config}") and said in line
    assert hook.attempts == 0 and Store(watched).table("alert_state") is None


def test_a_slack_channel_gets_text_and_blocks(
    watched: Path, tmp_path: Path, hook: Hook, secrets, capsys
) -> None:
    config = configure(tmp_path, hook, None)
    config.write_text(
        config.read_text(encoding="utf-8").replace('type = "webhook"', 'type = "slack"'),
        encoding="utf-8",
    )
    code, _, err = watch(watched, config, capsys)
    assert code == 1, err
    (budget,) = [b for b in hook.distinct().values() if "Budget team nlp" in b["text"]]
    link = "http://127.0.0.1:8599/budgets?from=2026-10-01&to=2026-10-31&team=nlp&cur=USD"
    assert budget["text"].splitlines()[0] == (
        ":rotating_light: Budget team nlp is over: USD 790.00 of USD 700.00"
    )
    assert budget["text"].endswith(f"<{link}|Open in the dashboard>")
    head, body, context = budget["blocks"]
    assert head["text"] == {
        "type": "mrkdwn",
        "text": ":rotating_light: *Budget team nlp is over: USD 790.00 of USD 700.00*",
    }
    assert "Actual to 02 Oct 2026: USD 790.00 (112.9% of the budget)" in body["text"]["text"]
    assert context["elements"][0]["text"].endswith(f"<{link}|Open in the dashboard>")

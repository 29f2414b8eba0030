"""A page that fails shows one friendly message; its traceback goes to the server log only.
Streamlit's endpoints that tell strangers about the server are not served."""

from __future__ import annotations

import logging
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import streamlit as st

from dashboard.queries import spend as queries
from tests.fixtures.app_pages import app
from tests.fixtures.served import Served
from tests.fixtures.warehouse_state import serve

BUG = "cannot add 'Decimal' and 'NoneType' reading /srv/finops/private/ledger.parquet"
FRIENDLY = re.compile(
    r"The page “Overview” could not be drawn: it failed unexpectedly\. The details are in the "
    r"dashboard's server log \(the terminal or service running `?finops dashboard`?\) under "
    r"reference (?P<ref>[0-9a-f]{8})\. Try reloading the page or changing the filters"
)
LEAKS = ("Traceback", "RuntimeError", "/srv/finops", "ledger.parquet", ".py", "headline")


@pytest.fixture
def own_warehouse(built_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the small warehouse: answers cached for the shared one are not reused."""
    root = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, root)
    serve(monkeypatch, root)
    return root


def failing_headline(*args: object) -> None:
    raise RuntimeError(BUG)


def test_a_failing_page_is_one_friendly_message(
    own_warehouse: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(queries, "headline", failing_headline)
    with caplog.at_level(logging.ERROR, logger="finops.dashboard"):
        at = app()
    assert not at.exception
    (error,) = at.error
    shown = FRIENDLY.match(error.value)
    assert shown, error.value
    page_text = " ".join(str(e.value) for e in (*at.error, *at.markdown, *at.caption))
    for leak in LEAKS:
        assert leak not in page_text
    (record,) = [r for r in caplog.records if r.name == "finops.dashboard"]
    assert record.getMessage() == f"page 'Overview' failed (reference {shown['ref']})"
    assert record.exc_info and str(record.exc_info[1]) == BUG  # the detail, server-side


def test_streamlit_control_flow_passes_through(
    own_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """st.stop() inside a page is not a failure: the page simply ends there."""

    def stop_here(*args: object) -> None:
        st.info("Nothing to show for these filters.")
        st.stop()

    monkeypatch.setattr(queries, "headline", stop_here)
    at = app()
    assert not at.exception and not at.error
    assert [i.value for i in at.info] == ["Nothing to show for these filters."]


# ---- a real `finops dashboard` process, in headless Chromium -----------------------------------

SITE = f"""
import dashboard.queries.spend

def headline(*args):
    raise RuntimeError({BUG!r})

dashboard.queries.spend.headline = headline
"""


class Logged(Served):
    """Served, keeping what the server wrote to its terminal."""

    log = ""

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.log = self.proc.communicate(timeout=30)[0].decode()
        super().__exit__(*exc)


@pytest.mark.slow
def test_no_traceback_reaches_the_browser(
    browser, own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The served process fails its Overview as a bug would: its query function raises.
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE, encoding="utf-8")
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    with Logged(own_warehouse) as served:
        page = browser.new_page()
        page.goto(served.url)
        alert = page.locator('[data-testid="stAlertContentError"]')
        alert.wait_for(timeout=60_000)
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
        )
        shown = FRIENDLY.match(alert.inner_text().strip())
        assert shown, alert.inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
        dom = page.content()
        for leak in LEAKS:
            assert leak not in dom, leak
        page.close()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{served.url}/_stcore/metrics", timeout=10)
        assert refused.value.code == 404
        with urllib.request.urlopen(f"{served.url}/_stcore/health", timeout=10) as health:
            assert health.read() == b"ok"  # what a load balancer needs stays
    # the operator has the whole story, under the reference the visitor was given
    assert f"page 'Overview' failed (reference {shown['ref']})" in served.log
    assert "Traceback (most recent call last)" in served.log and BUG in served.log


def test_a_bad_settings_file_is_one_message(
    own_warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings are read before any page is chosen: their failure is one message too.
    (`finops dashboard` checks the file before it starts the server; the app reads it again.)"""
    from dashboard.app import session

    session.settings.clear()  # read once per server: this test's file must be read afresh
    cfg = tmp_path / "finops.toml"
    cfg.write_text("[warehouse]\nmemory_limt = '2GB'\n", encoding="utf-8")
    monkeypatch.setenv("FINOPS_CONFIG", str(cfg))
    at = app()
    assert not at.exception
    (error,) = at.error
    assert error.value.startswith(str(cfg)) and "memory_limt" in error.value
    assert "Traceback" not in error.value

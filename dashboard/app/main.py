"""The Streamlit app (run by `finops dashboard`): login when configured, filters, navigation."""

from __future__ import annotations

import logging
import sys
import uuid
from pathlib import Path

# Streamlit runs this file as a script; make the project importable when it is not installed.
_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from dashboard.app import login, session, sidebar, url  # noqa: E402
from models.errors import FinopsError  # noqa: E402

PAGES = (
    ("overview.py", "Overview", ":material/dashboard:"),
    ("explorer.py", "Spend explorer", ":material/table_chart:"),
    ("idle.py", "Idle GPUs", ":material/memory:"),
    ("commitments.py", "Commitments", ":material/handshake:"),
    ("movement.py", "Data movement", ":material/swap_horiz:"),
    ("tools.py", "Tools & SaaS", ":material/apps:"),
    ("workloads.py", "Workloads", ":material/model_training:"),
    ("own_vs_rent.py", "Own vs rent", ":material/balance:"),
    ("unit_costs.py", "Unit costs", ":material/token:"),
    ("forecast.py", "Forecast", ":material/trending_up:"),
    ("budgets.py", "Budgets", ":material/savings:"),
    ("alerts.py", "Alerts", ":material/notifications:"),
    ("reports.py", "Reports", ":material/description:"),
    ("health.py", "Data health", ":material/monitor_heart:"),
)


def pages() -> list:
    here = Path(__file__).resolve().parent / "pages"
    return [
        st.Page(str(here / name), title=title, icon=icon, default=i == 0)
        for i, (name, title, icon) in enumerate(PAGES)
    ]


def main() -> None:
    st.set_page_config(page_title="hybrid-finops", layout="wide")
    page: str | None = None  # the page being drawn, once navigation has chosen it
    try:
        if login.login_needed(session.settings()):
            # Navigation stays hidden and every page shows only the login (so does a deep link).
            st.navigation(pages(), position="hidden").run()
            return
        login.signed_in(session.settings())
        # every page in view: past twelve Streamlit would hide some behind "View more"
        nav = st.navigation(pages(), expanded=True)
        page = nav.title
        above = url.begin()  # above the page: what a link asked for that cannot be shown
        sidebar.sidebar_filters()
        nav.run()
        url.finish(above)
    except FinopsError as exc:
        # A damaged or unreadable warehouse, a bad setting: the operator's to fix. Say what
        # and how, once (the message names no secret: errors render redacted).
        st.error(exc.render())
    except Exception:  # the one boundary between the app's code and a visitor
        # Streamlit's own control flow (st.rerun, st.stop, st.switch_page) raises
        # BaseExceptions and passes through. A bug's traceback names files and data: it goes
        # to the server log, and the visitor gets what failed and what to try.
        reference = uuid.uuid4().hex[:8]
        server_log().exception("page %r failed (reference %s)", page, reference)
        st.error(failure_message(page, reference))


def failure_message(page: str | None, reference: str) -> str:
    what = f"The page “{page}”" if page else "The dashboard"
    return (
        f"{what} could not be drawn: it failed unexpectedly. The details are in the "
        "dashboard's server log (the terminal or service running `finops dashboard`) under "
        f"reference {reference}. Try reloading the page or changing the filters; if it fails "
        "again, send the reference and the log to whoever runs the dashboard."
    )


def server_log() -> logging.Logger:
    """The dashboard's logger. Streamlit configures only its own loggers, so unless the host
    process has a root handler (a service's logging config, a test's capture) it writes to
    the server's stderr itself."""
    log = logging.getLogger("finops.dashboard")
    if not log.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(logging.INFO)
    return log


main()

"""The Streamlit app (run by `finops dashboard`): login when configured, filters, navigation."""

from __future__ import annotations

import sys
from pathlib import Path

# Streamlit runs this file as a script; make the project importable when it is not installed.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import streamlit as st  # noqa: E402

from dashboard.pages import session  # noqa: E402
from models.errors import WarehouseError  # noqa: E402

PAGES = (
    ("overview.py", "Overview", ":material/dashboard:"),
    ("explorer.py", "Spend explorer", ":material/table_chart:"),
    ("idle.py", "Idle GPUs", ":material/memory:"),
    ("commitments.py", "Commitments", ":material/handshake:"),
    ("movement.py", "Data movement", ":material/swap_horiz:"),
    ("tools.py", "Tools & SaaS", ":material/apps:"),
    ("workloads.py", "Workloads", ":material/model_training:"),
    ("own_vs_rent.py", "Own vs rent", ":material/balance:"),
    ("forecast.py", "Forecast", ":material/trending_up:"),
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
    if session.login_needed():
        # Navigation stays hidden and every page shows only the login (so does a deep link).
        st.navigation(pages(), position="hidden").run()
        return
    if session.settings().auth:
        with st.sidebar:
            st.caption(f"Signed in as {st.user.get('name') or st.user.get('sub')}")
            st.button("Log out", on_click=st.logout)
    nav = st.navigation(pages())
    try:
        session.sidebar_filters()
        nav.run()
    except WarehouseError as exc:
        # A damaged or unreadable warehouse is the operator's to fix: say what and how, once.
        st.error(exc.render())


main()

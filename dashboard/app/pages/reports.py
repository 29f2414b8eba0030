"""Reports: pick a month, download the finance pack, see its reconciliation to the sources."""

from __future__ import annotations

from importlib.util import find_spec

import streamlit as st

from dashboard.app import session
from dashboard.queries import health as queries_health
from dashboard.queries import report as queries_report
from models.errors import FinopsError


def read() -> dict:
    months = session.ask(queries_health.months)
    month = st.selectbox("Month", months, key="rep_month")
    out = {"month": month, "pack": find_spec("dashboard.report") is not None, "files": None}
    if not out["pack"]:
        out["recon"], out["ok"] = (
            session.ask(queries_health.reconciliation, month),
            None,
        )
        return out
    try:
        out["recon"], out["ok"] = session.ask(
            queries_report.reconciliation, month, session.settings()
        )
        cur = session.currency()  # the pack is in the currency the dashboard totals in
        basis = session.basis()  # and on its cost basis (Filters: Cost basis)
        out["basis"] = basis.label(cur)
        label = f"Build the {cur} finance pack, {basis.words.lower()} (XLSX, PDF, CSV)"
        if st.button(label, key="rep_build"):
            st.session_state["rep_files"] = (month, cur, basis)
        if st.session_state.get("rep_files") == (month, cur, basis):
            out["files"] = session.ask(queries_report.files, month, session.settings(), cur, basis)
    except FinopsError as exc:
        out["error"] = f"{exc.title}: {exc.render()}"
    return out


def render(d: dict) -> None:
    if "error" in d:
        st.error(d["error"])
        return
    st.subheader(f"Reconciliation, {d['month']}")
    st.caption(
        "Billed cost, whatever the Cost basis filter says: each source's own total for the "
        "month against what the warehouse holds."
    )
    # every source account on one screen; the CSV has every column (the row counts too)
    drawn = [c for c in d["recon"].columns if c not in ("rows", "warehouse_total")]
    session.table(
        d["recon"], show=drawn, csv=("reconciliation", f"reconciliation_{d['month']}.csv")
    )
    if d["ok"] is True:
        st.success("Every source account reconciles.")
    elif d["ok"] is False:
        st.warning("Some source accounts do not reconcile: see the status column.")
    if not d["pack"]:
        session.not_yet("The finance pack", f"run `finops report --month {d['month']}`.")
        return
    if "basis" in d:
        st.caption(
            f"The pack's spend sheets show {d['basis']} (Filters: Cost basis); its "
            "reconciliation is billed cost."
        )
    for name, (data, mime) in (d["files"] or {}).items():
        st.download_button(f"Download {name}", data, file_name=name, mime=mime, key=f"rep_{name}")


if session.ready():
    st.title("Reports")
    render(read())

"""The global filters' widgets, in the sidebar of every page and kept in the URL query string;
the pages read the chosen filters through dashboard/app/session.py."""

from __future__ import annotations

from datetime import date

import streamlit as st

from dashboard.app import session, url
from dashboard.links import CURRENCY, FILTERS
from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters, to_query
from models.cost_basis import CostBasis


def sidebar_filters() -> Filters:
    """The filter widgets (in the sidebar, on every page), kept in the URL query string."""
    if not queries.has_data(session.root()) or not queries.rollups_built(session.root()):
        # nothing to choose from yet (the page says what to run)
        st.session_state[session.FILTERS_KEY] = Filters()
        return Filters()
    ch = session.ask(queries.choices)
    first, last = ch["first"], ch["last"]
    state = st.session_state
    if "f_range" not in state:
        asked = url.read(
            lambda link: link.filters(first, last, ch["provider"], ch["team"], ch["env"])
        )
        state["f_range"] = (asked.start or first, asked.end or last)
        state["f_provider"] = list(asked.providers)
        state["f_team"] = list(asked.teams)
        state["f_env"] = list(asked.environments)
        state["f_basis"] = asked.basis
    elif state.get("f_span") != (first, last):
        # New data since the range was set: a range that covered all of it covers all of the
        # new span (a restated or added month shows whole), a chosen range is kept within it.
        picked_range = tuple(state["f_range"])
        if picked_range == state.get("f_span") or len(picked_range) != 2:
            state["f_range"] = (first, last)
        else:
            state["f_range"] = tuple(_clip(d, first, last) for d in picked_range)
    state["f_span"] = (first, last)
    with st.sidebar:
        st.subheader("Filters")
        picked = st.date_input("Dates", key="f_range", min_value=first, max_value=last)
        providers = st.multiselect("Providers", ch["provider"], key="f_provider")
        teams = st.multiselect("Teams", ch["team"], key="f_team")
        envs = st.multiselect("Environments", ch["env"], key="f_env")
        basis = st.radio(
            "Cost basis",
            list(CostBasis),
            key="f_basis",
            format_func=lambda b: b.value.capitalize(),
            horizontal=True,
            help="Amortised (EffectiveCost) spreads commitment fees over the usage they cover, "
            "for showback; Billed (BilledCost) is what the invoice shows.",
        )
    start, end = (
        (*tuple(picked), None, None)[:2] if isinstance(picked, tuple | list) else (picked, None)
    )
    f = Filters(
        start=None if start == first else start,
        end=None if (end or last) == last else end,
        providers=tuple(providers),
        teams=tuple(teams),
        environments=tuple(envs),
        basis=CostBasis(basis),
    )
    wanted = to_query(f)
    listed = session.ask(queries.currencies, f)["currency"].to_list()
    if len(listed) > 1:  # money is never converted: one currency's totals at a time
        if state.get(session.CURRENCY_KEY) not in listed:
            asked = url.read(
                lambda link: link.choice(CURRENCY, listed, "the currency", "one the data holds")
            )
            state[session.CURRENCY_KEY] = asked or listed[0]
        st.sidebar.selectbox(
            "Currency",
            listed,
            key=session.CURRENCY_KEY,
            help="Each currency is totalled on its own.",
        )
        if state[session.CURRENCY_KEY] != listed[0]:
            wanted[CURRENCY] = state[session.CURRENCY_KEY]
    for name in (*FILTERS, CURRENCY):
        url.keep(name, wanted.get(name))
    state[session.FILTERS_KEY] = f
    return f


def _clip(d: date, lo: date, hi: date) -> date:
    return min(max(d, lo), hi)

"""The page's state in its link (dashboard/links.py says what each name may hold): widgets are
set from the link when it is opened, the link follows the widgets after, and whatever the link
asked for that cannot be shown is said once, above the page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from dashboard.links import CURRENCY as CURRENCY_NAME
from dashboard.links import FILTERS, Link, message

_PROBLEMS = "url_problems"  # this run's refusals, shown once when the page is drawn
_WRITTEN = "url_written"  # what this session last wrote under each name
_CLAIMED = "url_claimed"  # the names this run's page keeps in its link


def begin() -> Any:
    """At the top of each run: a clean slate and, when the link holds values this session did
    not write (a link opened or followed), a place above the page for what it cannot show."""
    state = st.session_state
    state[_PROBLEMS] = []
    state[_CLAIMED] = set()
    written = state.get(_WRITTEN, {})
    opened = any(st.query_params.get(n) != written.get(n) for n in st.query_params)
    return st.empty() if opened else None


def finish(slot: Any) -> None:
    """After the page: say what the link asked for that could not be shown, and drop names
    the page did not keep (another page's state, or names this dashboard never writes)."""
    problems = st.session_state.get(_PROBLEMS) or []
    if problems:
        (slot or st).warning(message(problems), icon=":material/link_off:")
    claimed = st.session_state.get(_CLAIMED, set()) | set(FILTERS) | {CURRENCY_NAME}
    for name in [n for n in st.query_params if n not in claimed]:
        del st.query_params[name]
        st.session_state.setdefault(_WRITTEN, {})[name] = None


def query() -> dict[str, list[str]]:
    """The link's query string, every value of every name."""
    return {k: st.query_params.get_all(k) for k in st.query_params}


def read(do: Callable[[Link], Any]) -> Any:
    """`do(link)` on the current link; what it refused is said above the page."""
    link = Link(query())
    out = do(link)
    st.session_state.setdefault(_PROBLEMS, []).extend(link.problems)
    return out


def seed(key: str, name: str, do: Callable[[Link], Any], default: Any) -> None:
    """Set widget `key` from the link's `name` when the link is opened (or was changed since
    this session last wrote it: a link followed from another page), else to `default` the
    first time. Widgets are then drawn without a value of their own (their state has it)."""
    state = st.session_state
    written = state.setdefault(_WRITTEN, {})
    raw = st.query_params.get(name)
    fresh = key not in state or (raw is not None and raw != written.get(name))
    if fresh:
        value = read(do) if raw is not None else None
        state[key] = default if value is None else value
        written[name] = raw


def keep(name: str, text: str | None) -> None:
    """Write `name` into the link (or take it out when None: the default keeps links short)."""
    st.session_state.setdefault(_CLAIMED, set()).add(name)
    if st.query_params.get(name) != text:
        if text is None:
            del st.query_params[name]
        else:
            st.query_params[name] = text
    st.session_state.setdefault(_WRITTEN, {})[name] = text


def page_link(col: Any, page: str, label: str, **extra: str) -> None:
    """A link to another page of the dashboard with the filters kept (and `extra` names)."""
    from pathlib import Path

    kept = {k: v for k, v in st.query_params.to_dict().items() if k in (*FILTERS, CURRENCY_NAME)}
    where = Path(__file__).resolve().parent / "pages" / page
    col.page_link(str(where), label=label, query_params=kept | extra)

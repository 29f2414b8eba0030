"""Spend explorer: break spend down by any dimension or tag key, drill to the line items, CSV."""

from __future__ import annotations

import streamlit as st

from dashboard import links
from dashboard.app import charts, session, url
from dashboard.labels import value_words
from dashboard.queries import lines as queries_lines
from dashboard.queries import spend as queries

PAGE_SIZE = 100
# The line items as drawn; the page's CSV has every column, the line id among them.
LINE_COLUMNS = ["ChargePeriodStart", "provider", "ServiceName", "x_Team", "x_AiClass",
                "ResourceId", "ConsumedQuantity", "ConsumedUnit", "EffectiveCost"]  # fmt: skip
TAG = "tag key ..."
TAG_IN_LINK = "tag"  # the breakdown by a tag key, as a link names it
FIRST_TAG = "team"


def read() -> dict:
    f = session.filters()
    cur = session.currency()
    offered = [*queries.DIMENSIONS, TAG]
    url.seed("ex_by", links.BY, _by, offered[0])
    by = st.selectbox("Break down by", offered, key="ex_by")
    url.keep(links.BY, None if by == offered[0] else TAG_IN_LINK if by == TAG else by)
    label = by
    if by == TAG:
        url.seed("ex_tag", links.TAG, lambda link: link.text(links.TAG, "the tag key"), FIRST_TAG)
        tag = st.text_input("Tag key", key="ex_tag", max_chars=links.LONGEST).strip()
        url.keep(links.TAG, None if tag == FIRST_TAG else tag)
        table = session.ask(queries_lines.tag_breakdown, f, tag, cur) if tag else None
        label = tag
    else:
        table = session.ask(queries.breakdown, f, by, cur)
    return {"f": f, "cur": cur, "by": by, "label": label, "table": table}


def _by(link: links.Link) -> str | None:
    offered = [*queries.DIMENSIONS, TAG_IN_LINK]
    by = link.choice(links.BY, offered, "the breakdown", "one the explorer offers")
    return TAG if by == TAG_IN_LINK else by


def _drilled(keys: list[str]) -> None:
    """The value drilled into: from the link when it is opened, kept in the link after."""
    among = "among the values of this breakdown in the period"
    url.seed(
        "ex_key",
        links.DRILL,
        lambda link: link.choice(links.DRILL, keys, "the value drilled into", among),
        keys[0],
    )
    if st.session_state["ex_key"] not in keys:  # another breakdown's value
        st.session_state["ex_key"] = keys[0]


def _paged(pages: int) -> None:
    url.seed(
        "ex_page",
        links.PAGE,
        lambda link: link.whole(links.PAGE, 1, pages, "the page of line items"),
        1,
    )
    if not 1 <= st.session_state["ex_page"] <= pages:
        st.session_state["ex_page"] = 1


def render(d: dict) -> None:
    table, by, cur = d["table"], d["by"], d["cur"]
    if table is None:
        st.info("Type a tag key to break spend down by its values.")
        return
    money = session.cost_label(cur)
    st.plotly_chart(charts.bars(table.head(25), f"Spend by {by} — {money}", cur=cur))
    label = d["label"]  # the column is headed by what it breaks down by, not "key"
    shown = table if label in table.columns else table.rename({"key": label})
    shown = session.labelled(shown, cur)
    session.table(shown, cur, csv=("breakdown", session.file_name(f"spend_by_{label}", ".csv")))
    if by == TAG:
        return
    st.subheader("Line items")
    keys = ["(all)", *[str(k) for k in table["key"].to_list()]]
    _drilled(keys)
    key = st.selectbox(
        f"Drill into {by}", keys, format_func=lambda k: str(value_words(k)), key="ex_key"
    )
    url.keep(links.DRILL, None if key == keys[0] else key)
    dim = None if key == "(all)" else by
    picked = (d["f"], cur, dim, key if dim else None)
    total = session.ask(queries_lines.drill_count, *picked)
    pages = max(1, -(-total // PAGE_SIZE))
    _paged(pages)
    page = st.number_input(f"Page (of {pages}; {total:,} lines)", 1, pages, key="ex_page")
    url.keep(links.PAGE, None if page == 1 else str(page))
    lines = session.ask(queries_lines.drill_page, *picked, page - 1, PAGE_SIZE)
    session.table(
        lines, cur, exact=True, csv=("this page", f"lines_page{page}.csv"), show=LINE_COLUMNS
    )


if session.ready():
    st.title("Spend explorer")
    render(read())

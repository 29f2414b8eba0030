"""Spend explorer: break spend down by any dimension or tag key, drill to the line items, CSV."""

from __future__ import annotations

import streamlit as st

from dashboard.app import charts, session
from dashboard.labels import value_words
from dashboard.queries import lines as queries_lines
from dashboard.queries import spend as queries

PAGE_SIZE = 100
# The line items as drawn; the page's CSV has every column, the line id among them.
LINE_COLUMNS = ["ChargePeriodStart", "provider", "ServiceName", "x_Team", "x_AiClass",
                "ResourceId", "ConsumedQuantity", "ConsumedUnit", "EffectiveCost"]  # fmt: skip
TAG = "tag key ..."


def read() -> dict:
    f = session.filters()
    cur = session.currency()
    by = st.selectbox("Break down by", [*queries.DIMENSIONS, TAG], key="ex_by")
    label = by
    if by == TAG:
        tag = st.text_input("Tag key", value="team", key="ex_tag").strip()
        table = session.ask(queries_lines.tag_breakdown, f, tag, cur) if tag else None
        label = tag
    else:
        table = session.ask(queries.breakdown, f, by, cur)
    return {"f": f, "cur": cur, "by": by, "label": label, "table": table}


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
    key = st.selectbox(
        f"Drill into {by}", keys, format_func=lambda k: str(value_words(k)), key="ex_key"
    )
    dim = None if key == "(all)" else by
    picked = (d["f"], cur, dim, key if dim else None)
    total = session.ask(queries_lines.drill_count, *picked)
    pages = max(1, -(-total // PAGE_SIZE))
    page = st.number_input(f"Page (of {pages}; {total:,} lines)", 1, pages, 1, key="ex_page")
    lines = session.ask(queries_lines.drill_page, *picked, page - 1, PAGE_SIZE)
    session.table(
        lines, cur, exact=True, csv=("this page", f"lines_page{page}.csv"), show=LINE_COLUMNS
    )


if session.ready():
    st.title("Spend explorer")
    render(read())

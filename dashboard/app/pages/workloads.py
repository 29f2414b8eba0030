"""Workloads (engineering leads): what the AI spend was for — training, inference,
experimentation — in one line first, what "unknown" is and how to teach a rule, then by team
and month."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.app import charts, session
from dashboard.labels import value_words
from dashboard.queries import movement as queries_movement
from models.rules import UNKNOWN_WORKLOAD

# the headline's order: the three a leader asks about, then the rest as the data has them
HEADLINE = ("training", "inference", "experimentation")

UNKNOWN = (
    "“Unknown” is AI spend no workload rule decided: the line carries no workload tag "
    "(keys of `[classify] workload_tags`: {tags}), and neither its service's operation "
    "(a SageMaker training job, an endpoint) nor its instance family says what ran; the "
    "unused part of a commitment is unknown too, since nothing ran on it."
)

TEACH = """Tag the resources (`workload = training`), or teach a rule: write a rule file

```toml
# my-rules.toml
[[rules]]
id = "workload.mine.{slug}"
priority = 850
description = "{service} serves our models"
match.ServiceName = "{service}"
set = {{ workload = "inference" }}
```

list it in `finops.toml`

```toml
[classify]
rules = ["my-rules.toml"]
```

then check it and re-classify: `finops rules check my-rules.toml`, `finops classify`."""


def read() -> dict | None:
    if not session.has("classified_costs"):
        return None
    cur, f = session.currency(), session.filters()
    return {
        "cur": cur,
        "table": session.ask(queries_movement.workloads, f, cur),
        "unknown": session.ask(queries_movement.unclassified, f, cur),
    }


def split(table: pl.DataFrame) -> list[tuple[str, object, float | None]]:
    """(workload, cost, share of the total) for the headline: the three named first, the
    others by cost, unknown last."""
    by = dict(table.group_by("key").agg(pl.col("cost").sum()).iter_rows())
    total = sum(by.values())
    rest = sorted((k for k in by if k not in (*HEADLINE, UNKNOWN_WORKLOAD)), key=lambda k: -by[k])
    order = [k for k in HEADLINE if k in by] + rest + [UNKNOWN_WORKLOAD] * (UNKNOWN_WORKLOAD in by)
    return [(k, by[k], float(by[k] / total) if total else None) for k in order]


def headline(table: pl.DataFrame, cur: str) -> str:
    parts = split(table)
    total = sum(c for _, c, _ in parts)
    each = "; ".join(
        f"{value_words(k).lower()} {session.short_money(c, cur)} ({session.share(c, total)})"
        for k, c, _ in parts
    )
    return f"**AI spend {session.short_money(total, cur)}**: {each}."


def render(d: dict | None) -> None:
    if d is None:
        session.not_yet("Workloads", "run `finops classify` to classify the billing lines.")
        return
    table, cur = d["table"], d["cur"]
    label = session.cost_label(cur)
    if table.height == 0:
        st.info("No AI spend in the period.")
        return
    st.markdown(headline(table, cur))
    st.caption(f"{label}; AI spend as on the Overview.")
    parts = split(table)
    for col, (key, cost, part) in zip(st.columns(len(parts)), parts, strict=True):
        name = value_words(key)  # five tiles: the share fits, the money goes under it
        col.metric(
            name[:1].upper() + name[1:],
            "–" if part is None else f"{part:.1%}",
            help=f"{session.money(cost, cur)} exactly",
        )
        col.caption(session.short_money(cost, cur))
    unknown = d["unknown"]
    if unknown.height:
        st.subheader("What “unknown” is")
        tags = ", ".join(f"`{t}`" for t in session.settings().classify.workload_tags)
        st.write(UNKNOWN.format(tags=tags))
        st.write("The services with the most unknown AI spend:")
        session.table(unknown.rename({"cost": label}), cur)
        top = unknown["service"][0]
        slug = "".join(ch if ch.isalnum() else "-" for ch in top.lower()).strip("-")
        with st.expander("How to teach a rule"):
            st.markdown(TEACH.format(service=top, slug=slug))
    monthly = table.group_by("month", "key").agg(pl.col("cost").sum()).sort("month", "key")
    st.plotly_chart(charts.stacked_monthly(monthly, f"AI spend by workload — {label}", cur))
    by_team = table.group_by("team", "key").agg(pl.col("cost").sum())
    st.plotly_chart(charts.heatmap(by_team, "team", "key", "cost", f"Workload by team — {label}"))
    session.table(session.labelled(table.rename({"key": "workload"}), cur), cur)


if session.ready():
    st.title("Workloads")
    render(read())

"""Idle GPUs (engineers): resources ranked by idle cost; one resource hour by hour."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import polars as pl
import streamlit as st

from dashboard import links
from dashboard.app import charts, session, url
from dashboard.app.session import money_tile
from dashboard.queries import gpu as queries_gpu

LOWEST, HIGHEST = 1, 50  # the threshold's range in whole percent, on the slider and in a link


def read() -> dict | None:
    if not session.has("gpu_hours"):
        return None
    f = session.filters()
    default = session.settings().idle.idle_below
    url.seed("idle_thr", links.THRESHOLD, _threshold, default)
    threshold = st.slider(
        "Idle when mean GPU activity is below",
        LOWEST / 100,
        HIGHEST / 100,
        step=0.01,
        format="percent",
        key="idle_thr",
    )
    same = queries_gpu.step(threshold) == queries_gpu.step(default)
    url.keep(links.THRESHOLD, None if same else str(queries_gpu.step(threshold)))
    cur = session.gpu_currency()
    ranking = session.ask(queries_gpu.ranking, f, cur, threshold, default)
    totals = ranking.select("all_idle_cost", "all_idle_resources").head(1)
    ranking = ranking.drop("all_idle_cost", "all_idle_resources")
    out = {
        "f": f,
        "threshold": threshold,
        "ranking": ranking,
        # Over every idle resource: the ranking holds only the costliest few hundred.
        "idle_cost": totals["all_idle_cost"].sum(),
        "idle_resources": int(totals["all_idle_resources"].sum()),
        "hours": None,
        "resource": None,
        "unmonitored": session.ask(queries_gpu.unmonitored, f, cur),
        "episodes": None,
        "cur": cur or "",
    }
    if ranking.height:
        resources = ranking["resource"].to_list()
        out["name"] = name = _namer(resources)
        url.seed("idle_resource", links.RESOURCE, _resource(resources), resources[0])
        if st.session_state["idle_resource"] not in resources:  # not ranked at this threshold
            st.session_state["idle_resource"] = resources[0]
        resource = st.selectbox("Resource", resources, format_func=name, key="idle_resource")
        url.keep(links.RESOURCE, None if resource == resources[0] else resource)
        out["resource"] = resource
        out["hours"] = session.ask(queries_gpu.resource_hours, f, cur, resource, threshold, default)
        idle = session.settings().idle
        out["episodes"] = session.ask(queries_gpu.episodes, f, resource, threshold, idle)
    return out


def _threshold(link: links.Link) -> float | None:
    percent = link.whole(links.THRESHOLD, LOWEST, HIGHEST, "the idle threshold (in %)")
    return None if percent is None else percent / 100


def _resource(resources: list[str]) -> Callable[[links.Link], str | None]:
    among = "among the resources ranked for these filters and this threshold"
    return lambda link: link.choice(links.RESOURCE, resources, "the GPU resource", among)


def _picking(d: dict) -> dict:
    """The ranking's row selection: a click opens that resource (the Resource box follows, and
    so does the link). The table's key names what it shows, so that a new ranking or another
    resource starts a new selection, on the resource's row."""
    resources = d["ranking"]["resource"].to_list()
    seen = repr((d["f"], d["threshold"], d["cur"], d["resource"]))
    key = "idle_ranking_" + hashlib.sha1(seen.encode()).hexdigest()[:12]

    def picked() -> None:
        rows = st.session_state[key]["selection"]["rows"]
        if rows:
            st.session_state["idle_resource"] = resources[rows[0]]

    row = resources.index(d["resource"]) if d["resource"] in resources else None
    return {
        "key": key,
        "on_select": picked,
        "selection_mode": "single-row",
        "selection_default": {"selection": {"rows": [] if row is None else [row]}},
    }


def _namer(resources: list[str]) -> Callable[[str], str]:
    """Resources by their short names (the VM, not its Azure path), whole where two share one."""
    short = [session.short_name(r) for r in resources]
    shared = {n for n in short if short.count(n) > 1}

    def name(resource: str) -> str:
        n = session.short_name(resource)
        return resource if n in shared else n

    return name


def _ranked(ranking: pl.DataFrame, name: Callable[[str], str]) -> pl.DataFrame:
    """The ranking as shown: the short name and the idle cost first, the full id last, so a
    long Azure id does not push the money off the side of the table."""
    shown = ranking.rename({"resource": "resource_id"}).with_columns(
        pl.col("resource_id").map_elements(name, return_dtype=pl.String).alias("resource")
    )
    first = ["resource", "idle_cost", "idle_hours", "longest_episode_h"]
    rest = [c for c in shown.columns if c not in first and c != "resource_id"]
    return shown.select(*first, *rest, "resource_id")


# The ranking as drawn, beside the column of row selection boxes, within 1440 px (the CSV has
# every column, the full resource id and the GPU-hours among them).
SHOWN = ["resource", "idle_cost", "idle_hours", "longest_episode_h", "team", "gpu_model",
         "provider", "cost"]  # fmt: skip


def _episodes(d: dict) -> None:
    """The selected resource's idle episodes: what an engineer acts on."""
    episodes, name = d["episodes"], session.short_name(d["resource"])
    st.subheader(f"Idle episodes of {name}")
    idle = session.settings().idle
    st.caption(
        f"Runs of at least {idle.episode_min_hours} consecutive idle hour(s) starting in the "
        f"period (times in UTC), costliest first, at mean activity below "
        f"{d['threshold']:.0%}; GPUs idle over the same hours share a row. Hard idle: every "
        f"hour under {idle.hard_idle_max_below:.0%} peak activity with under "
        f"{idle.hard_idle_mem_mib:,.0f} MiB in use (nothing loaded); "
        "Allocated idle: idle, but something holds the GPU."
    )
    if episodes.height == 0:
        st.write("No idle episode starts in the period.")
        return
    session.table(episodes, d["cur"], csv=("episodes", f"idle_episodes_{name}.csv"))


def render(d: dict | None) -> None:
    if d is None:
        session.not_yet(
            "GPU-hours",
            "ingest GPU billing and telemetry, then run `finops classify` to build gpu_hours.",
        )
        return
    st.caption(session.FIXED_BASIS.format(what="Every GPU-hour cost on this page"))
    ranking = d["ranking"]
    if ranking.height == 0:
        st.success("No idle GPU-hours in the selected period at this threshold.")
    else:
        top = ranking.row(0, named=True)
        a, b, c = st.columns(3)
        money_tile(
            a, "Idle GPU cost", d["idle_cost"], d["cur"], note=f"{d['idle_resources']:,} resources"
        )
        b.metric("Top idle resource", session.short_name(top["resource"]), help=top["resource"])
        money_tile(
            c,
            "Its idle cost",
            top["idle_cost"],
            d["cur"],
            note=f"{top['idle_hours']:,} idle GPU-hours",
        )
        ranked = _ranked(ranking, d["name"])
        shown = "Click a row to open its resource below."
        if d["idle_resources"] > ranking.height:
            shown = (
                f"The {ranking.height:,} with the most idle cost of "
                f"{d['idle_resources']:,} resources with idle GPU-hours. {shown}"
            )
        st.caption(shown)
        session.table(ranked, d["cur"], csv=("ranking", "idle_gpus.csv"), show=SHOWN, **_picking(d))
        if d["hours"] is not None:
            title = d["name"](d["resource"])
            st.plotly_chart(charts.idle_timeline(d["hours"], title, d["threshold"], d["cur"]))
        if d["episodes"] is not None:
            _episodes(d)
    st.subheader("Unmonitored GPU-hours")
    st.caption("Paid GPU-hours with no telemetry: neither idle nor active.")
    session.table(d["unmonitored"], d["cur"])


if session.ready():
    st.title("Idle GPUs")
    render(read())

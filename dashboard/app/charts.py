"""Pure plotly figure builders: frames in, figures out, no Streamlit and no queries.

Money arrives as Decimal; it is turned into floats only here, for drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go
import polars as pl

from dashboard import palette
from dashboard.labels import value_words, words
from models.flows import sankey_links
from models.unit_costs import KIND_WORDS

_LAYOUT = dict(margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.15))


def _f(frame: pl.DataFrame, col: str) -> list[float]:
    return frame[col].cast(pl.Float64).fill_null(0.0).to_list()


def _name(key: object) -> str:
    """A series' name: AI classes and workloads in words ("Egress", "GPU compute")."""
    if isinstance(key, str) and (key in palette.AI_CLASSES or key in palette.WORKLOADS):
        return words(key)
    return str(value_words(key))


def stacked_monthly(
    frame: pl.DataFrame, title: str, cur: str = "USD", groups: dict[str, str] | None = None
) -> go.Figure:
    """Monthly bars stacked by key (columns month, key, cost), each key in its palette colour
    (`groups` names the palette entry of a key that is not its own: an on-prem site)."""
    fig = go.Figure()
    keys = frame["key"].unique(maintain_order=True).to_list()
    colour = palette.colours([str(k) for k in keys], groups)
    for key in keys:
        part = frame.filter(pl.col("key") == key) if key is not None else frame
        fig.add_bar(
            x=part["month"].to_list(),
            y=_f(part, "cost"),
            name=_name(key),
            marker_color=colour[str(key)],
        )
    fig.update_layout(barmode="stack", title=title, yaxis_title=cur, **_LAYOUT)
    return fig


def bars(
    frame: pl.DataFrame, title: str, x: str = "key", y: str = "cost", cur: str = "USD"
) -> go.Figure:
    names = frame[x].cast(pl.String).to_list()
    colour = palette.colours(names)
    fig = go.Figure(
        go.Bar(
            x=[value_words(n) for n in names],
            y=_f(frame, y),
            marker_color=[colour[str(n)] for n in names],
        )
    )
    fig.update_layout(title=title, yaxis_title=cur, **_LAYOUT)
    return fig


def movers(frame: pl.DataFrame, title: str, cur: str = "USD") -> go.Figure:
    change = _f(frame, "change")
    fig = go.Figure(
        go.Bar(
            x=change,
            y=[value_words(k) for k in frame["key"].cast(pl.String).to_list()],
            orientation="h",
            marker_color=[palette.INCREASE if c > 0 else palette.DECREASE for c in change],
        )
    )
    fig.update_layout(title=title, xaxis_title=f"{cur} change", **_LAYOUT)
    fig.update_yaxes(autorange="reversed")
    return fig


def idle_timeline(
    hours: pl.DataFrame, resource: str, threshold: float, cur: str = "USD"
) -> go.Figure:
    """Hourly utilisation against cost for one resource; idle stretches shaded."""
    fig = go.Figure()
    # Arrays, not lists: plotly validates and copies a list item by item, which for a year of
    # hours took most of the page's time. Hours are UTC, shown without the offset.
    hours = hours.with_columns(pl.col("hour").dt.replace_time_zone(None))
    x = hours["hour"].to_numpy()
    y = {c: hours[c].cast(pl.Float64).fill_null(0.0).to_numpy() for c in ("cost", "utilisation")}
    fig.add_bar(  # grey: the blue activity line must stand out of a year of hourly bars
        x=x, y=y["cost"], name=f"cost ({cur}/h)", yaxis="y2", opacity=0.35,
        marker_color="#95a5a6",
    )  # fmt: skip
    fig.add_scatter(x=x, y=y["utilisation"], name="GPU activity", mode="lines")
    fig.add_hline(y=threshold, line_dash="dot", annotation_text=f"idle below {threshold:.0%}")
    # One layout update for every idle run: plotly's add_vrect validates all the shapes added
    # before it again, so a year's runs one by one took seconds.
    shaded = [
        dict(type="rect", xref="x", yref="y domain", x0=start, x1=end, y0=0, y1=1,
             fillcolor="#e74c3c", opacity=0.12, line_width=0)
        for start, end in idle_runs(hours)
    ]  # fmt: skip
    fig.update_layout(
        shapes=list(fig.layout.shapes) + shaded,
        title=f"{resource}: activity and cost per hour",
        yaxis=dict(title="activity", range=[0, 1.05], tickformat=".0%"),
        yaxis2=dict(title=f"{cur} / hour", overlaying="y", side="right"),
        **_LAYOUT,
    )
    return fig


def idle_runs(hours: pl.DataFrame, limit: int = 200) -> list[tuple[object, object]]:
    """(start, end) of each run of hours in which every monitored GPU of the resource idled."""
    runs: list[tuple[object, object]] = []
    start = prev = None
    idle = (hours["idle_gpus"] > 0) & (
        hours["idle_gpus"] + hours["unmonitored_gpus"] == hours["gpus"]
    )
    for hour, flag in zip(hours["hour"].to_list(), idle.to_list(), strict=True):
        if flag and start is None:
            start = hour
        if not flag and start is not None:
            runs.append((start, prev))
            start = None
        prev = hour
    if start is not None:
        runs.append((start, prev))
    return runs[:limit]


def heatmap(frame: pl.DataFrame, rows: str, cols: str, value: str, title: str) -> go.Figure:
    wide = frame.pivot(on=cols, index=rows, values=value, aggregate_function="sum").fill_null(0)
    columns = [c for c in wide.columns if c != rows]
    z = [[float(v or 0) for v in wide[c].to_list()] for c in columns]
    fig = go.Figure(
        go.Heatmap(
            z=list(map(list, zip(*z, strict=True))) if z else [],
            x=[value_words(c) for c in columns],
            y=[value_words(r) for r in wide[rows].cast(pl.String).to_list()],
            colorscale="Blues",
        )
    )
    fig.update_layout(title=title, height=520, font=dict(size=13, color="#1f2933"), **_LAYOUT)
    return fig


def own_vs_rent(
    u_grid: Sequence[float],
    own_cost: Sequence[float],
    rent: dict[str, float],
    u_star: float | None,
    u_measured: float | None,
    u_r_measured: float | None,
) -> go.Figure:
    """Cost per useful GPU-hour against utilisation: own (curve), each rent option (flat)."""
    fig = go.Figure()
    colour = palette.colours(["own", *rent])
    fig.add_scatter(
        x=list(u_grid), y=list(own_cost), name="own", mode="lines", line_color=colour["own"]
    )
    for name, price in rent.items():
        fig.add_scatter(
            x=[u_grid[0], u_grid[-1]], y=[price, price], name=words(name), mode="lines",
            line_dash="dash", line_color=colour[name],
        )  # fmt: skip
    if u_star is not None and math.isfinite(u_star) and u_star <= 1:
        fig.add_vline(x=u_star, line_color="#c0392b", annotation_text=f"break-even {u_star:.0%}")
    if u_measured is not None:
        fig.add_vline(
            x=u_measured,
            line_dash="dot",
            annotation_text=f"measured utilisation {u_measured:.0%}",
            annotation_position="bottom right",
        )
    if u_r_measured is not None:
        fig.add_vline(
            x=u_r_measured,
            line_dash="dot",
            line_color="#8e44ad",
            annotation_text=f"measured cloud utilisation {u_r_measured:.0%}",
            annotation_position="top left",
        )
    top = max([*rent.values(), 1.0]) * 3
    fig.update_layout(
        title="Cost per useful GPU-hour",
        xaxis=dict(title="utilisation", tickformat=".0%", range=[0, 1]),
        yaxis=dict(title="USD per useful GPU-hour", range=[0, top]),
        **_LAYOUT,
    )
    return fig


def hybrid(costs: Sequence[float], baseline: int, gpus_per_node: int) -> go.Figure:
    fig = go.Figure(go.Scatter(x=list(range(len(costs))), y=list(costs), mode="lines+markers"))
    fig.add_vline(
        x=baseline,
        line_color="#27ae60",
        annotation_text=f"recommended: own {baseline} nodes ({baseline * gpus_per_node} GPUs)",
    )
    fig.update_layout(
        title="Annual cost by owned baseline (rest rented on demand)",
        xaxis_title="owned nodes",
        yaxis_title="USD / year",
        **_LAYOUT,
    )
    return fig


def tornado(bars_: Sequence[object], base: float) -> go.Figure:
    """Break-even utilisation when one input moves low/high (TornadoBar-like objects)."""
    names = [words(b.parameter) for b in bars_]

    def clip(v: float) -> float:
        return min(v, 1.5) if math.isfinite(v) else 1.5

    fig = go.Figure()
    fig.add_bar(
        y=names,
        x=[clip(b.u_star_low) - base for b in bars_],
        base=base,
        orientation="h",
        name="input low",
    )
    fig.add_bar(
        y=names,
        x=[clip(b.u_star_high) - base for b in bars_],
        base=base,
        orientation="h",
        name="input high",
    )
    fig.add_vline(x=base, line_color="#333")
    fig.update_layout(
        title="Break-even utilisation: sensitivity",
        barmode="overlay",
        xaxis=dict(tickformat=".0%", title="break-even utilisation"),
        **_LAYOUT,
    )
    fig.update_yaxes(autorange="reversed")
    return fig


def forecast(frame: pl.DataFrame, key: str, cur: str = "USD", basis: str = "") -> go.Figure:
    """Actuals and forecast with 80% / 95% bands (models.forecast.forecast_spend columns)."""
    part = frame.filter(pl.col("key") == key)
    act = part.filter(pl.col("kind") == "actual")
    fc = part.filter(pl.col("kind") == "forecast")
    fig = go.Figure()
    colour = palette.colours([key])[key]
    for lo, hi, name, alpha in (("lo95", "hi95", "95%", 0.12), ("lo80", "hi80", "80%", 0.22)):
        if fc[lo].null_count() < fc.height:
            x = fc["month"].to_list()
            fig.add_scatter(
                x=x + x[::-1],
                y=_f(fc, hi) + _f(fc, lo)[::-1],
                fill="toself",
                fillcolor=palette.rgba(colour, alpha),
                line_width=0,
                name=name,
            )
    fig.add_scatter(
        x=act["month"].to_list(), y=_f(act, "spend"), name="actual", mode="lines+markers",
        line_color=colour,
    )  # fmt: skip
    fig.add_scatter(
        x=fc["month"].to_list(),
        y=_f(fc, "spend"),
        name="forecast",
        mode="lines+markers",
        line_dash="dash",
        line_color=colour,
    )
    fig.update_layout(
        title=f"{value_words(key)}: monthly spend" + (f" — {basis}" if basis else ""),
        yaxis_title=cur,
        **_LAYOUT,
    )
    return fig


def unit_cost_trend(frame: pl.DataFrame) -> go.Figure:
    """Cost per 1M tokens by month, a line per model (columns of unit_costs); a model billed
    in two currencies is two lines, never one."""
    fig = go.Figure()
    rows = frame.filter(pl.col("cost_per_1m_tokens").is_not_null()).sort("month")
    for (model, kind, cur), part in rows.group_by("model", "kind", "currency", maintain_order=True):
        how = KIND_WORDS[str(kind)]
        fig.add_scatter(
            x=part["month"].to_list(),
            y=_f(part, "cost_per_1m_tokens"),
            mode="lines+markers",
            name=f"{model} ({how}, {cur})",
        )
    fig.update_layout(
        title="Cost per 1M tokens (input + output) by month",
        yaxis_title="per 1M tokens",
        **_LAYOUT,
    )
    return fig


def sankey(flows: pl.DataFrame, value: str, title: str, unit: str) -> go.Figure:
    """Where data goes: one band per flow from place to place, its width `value` (gb or
    cost) summed over the period; `unit` labels the hover ("GB", "USD")."""
    nodes, links = sankey_links(flows, value)
    colour = palette.colours(nodes)
    fig = go.Figure(
        go.Sankey(
            valueformat=",.0f",
            valuesuffix=f" {unit}",
            arrangement="snap",
            node=dict(label=nodes, pad=26, thickness=18, color=[colour[n] for n in nodes]),
            link=dict(
                source=links["s"].to_list(),
                target=links["t"].to_list(),
                value=_f(links, value),
            ),
        )
    )
    fig.update_layout(title=title, height=520, font=dict(size=13, color="#1f2933"), **_LAYOUT)
    return fig

"""One colour per provider and per AI class on every page and in the pack's charts.

Colours are the Okabe–Ito set (safe for the common colour-vision deficiencies) then Paul Tol's
muted set for more series; none repeats within a chart (`colours`). Known names keep their
colour wherever they appear (AWS orange, Azure blue, Google green, on-prem purple); any other
name takes the first free colour in the order of its stable hash, so it keeps its colour as
long as the names beside it do not take it first.

SaaS vendors are many small series: the provider chart folds them into one "SaaS & tools"
series (`SAAS`) so the clouds and on-prem read at a glance; a drill-down shows the vendors.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

# Okabe & Ito (2008), then Tol's muted scheme: 17 distinct colours.
OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
TOL_MUTED = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77", "#CC6677",
             "#882255", "#AA4499")  # fmt: skip
COLOURS = OKABE_ITO + TOL_MUTED
OTHER_GREY = "#BBBBBB"  # "other" and a chart's tail beyond the palette

SAAS = "SaaS & tools"
# A change of spend: an increase is bad (vermillion), a decrease good (blue), never red/green.
INCREASE, DECREASE = "#D55E00", "#0072B2"
ON_PREM = "On-prem"

# ProviderName as the providers' exports spell it (and FOCUS's sample names).
PROVIDERS: dict[str, str] = {
    "AWS": "#E69F00",
    "Amazon Web Services": "#E69F00",
    "Microsoft": "#0072B2",
    "Microsoft Azure": "#0072B2",
    "Azure": "#0072B2",
    "Google Cloud": "#009E73",
    "Google Cloud Platform": "#009E73",
    "Oracle Cloud Infrastructure": "#D55E00",
    ON_PREM: "#CC79A7",
    SAAS: "#56B4E9",
}
# models.rules.AI_CLASSES, by their codes and their words.
AI_CLASSES: dict[str, str] = {
    "gpu_compute": "#0072B2",
    "managed_ai": "#E69F00",
    "saas_tool": "#56B4E9",
    "egress": "#D55E00",
    "storage": "#009E73",
    "cpu_compute": "#CC79A7",
    "other": OTHER_GREY,
}
WORKLOADS: dict[str, str] = {
    "training": "#0072B2",
    "inference": "#E69F00",
    "experimentation": "#009E73",
    "unknown": OTHER_GREY,
}
KNOWN: dict[str, str] = {**PROVIDERS, **AI_CLASSES, **WORKLOADS}


def _words_key(name: str) -> str:
    return name.strip().lower().replace(" ", "_")


def _known(name: str) -> str | None:
    if name in KNOWN:
        return KNOWN[name]
    return KNOWN.get(_words_key(name))  # "GPU compute" as gpu_compute


def _order(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big")


def colours(names: Iterable[object], groups: dict[str, str] | None = None) -> dict[str, str]:
    """A colour for each name of one chart, none repeated: known names their own colour (or
    their group's: an on-prem site takes ON_PREM's), the rest the first free one from their
    stable hash; past the palette, grey."""
    listed = list(dict.fromkeys(str(n) for n in names))
    groups = groups or {}
    out: dict[str, str] = {}
    taken: set[str] = set()
    for name in listed:
        colour = _known(groups.get(name, name))
        if colour is not None and colour not in taken:
            out[name] = colour
            taken.add(colour)
    for name in listed:
        if name in out:
            continue
        free = [c for c in COLOURS if c not in taken]
        if not free:
            out[name] = OTHER_GREY
            continue
        colour = free[_order(name) % len(free)]
        out[name] = colour
        taken.add(colour)
    return out


def provider_group(provider: str, source: str | None) -> str:
    """The provider chart's series: SaaS vendors as one, each cloud and on-prem site as
    itself. `source` is the cost lines' x_Source ("saas", "onprem", "aws-cur2" ...)."""
    return SAAS if source == "saas" else provider


def rgba(colour: str, alpha: float) -> str:
    """'#0072B2' at `alpha` as plotly's 'rgba(0,114,178,0.2)' (an interval band)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"

"""Workload placement: what each GPU workload would cost a year placed elsewhere.

A workload is a team's GPUs of one model where they run today (team × GPU model × place),
measured over a window of `hours`: the GPU-hours paid, the useful ones, and their cost.
Its alternatives, a year each (k = 8760 / hours):

    today      = cost · k
    on demand  = price · paid GPU-hours · k           the same allocation, rented by the hour
    committed  = price · ceil(paid GPU-hours / hours) · 8760
                                                      a commitment billed every hour for the
                                                      GPUs the workload holds on average
    owned      = n · (F + m·N·8760·u), n = ceil(mean GPUs held / N), u = useful · k / (n·N·8760)
                                                      the own-vs-rent model (models.own_vs_rent)
    + one-off data movement = dataset GB · the per-GB egress rate billed where it runs today,
      when the alternative is elsewhere (the dataset size is a setting: billing cannot know it)

Ranked by first-year saving (today - alternative - one-off), largest first; ties by team,
GPU, place and option name, so the order never depends on input order. USD only: the price
book is in USD.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from models.demand import gpu_pattern
from models.own_vs_rent import HOURS_PER_YEAR, annual_cost_owned, money, owned_node
from models.price_book import PriceBook

PLACED_MODELS = ("on_demand", "commit_1y", "commit_3y")  # spot and capacity blocks are bursts
OWNED = "owned"
# price-book provider names -> the billing ProviderName of the same cloud
_CLOUD_NAMES = {"aws": "AWS", "azure": "Microsoft", "gcp": "Google Cloud"}


@dataclass(frozen=True)
class Workload:
    team: str
    gpu_model: str  # as billed ("H100 80GB", "NVIDIA A100-SXM4-80GB")
    provider: str  # ProviderName where it runs today
    deployment: str  # cloud | onprem
    paid_gpu_hours: int
    useful_gpu_hours: int
    cost: Decimal  # USD over the window
    hours: int  # window length

    @property
    def annual_factor(self) -> Decimal:
        return Decimal(HOURS_PER_YEAR) / Decimal(self.hours)

    @property
    def mean_gpus(self) -> float:
        return self.paid_gpu_hours / self.hours


@dataclass(frozen=True)
class Alternative:
    workload: Workload
    option: str  # "owned" or a rent option key (rent.H100.gcp_a3_highgpu_on_demand)
    place: str  # where it would run, in words
    pricing: str  # owned | on_demand | commit_1y | commit_3y
    annual_cost: Decimal
    one_off: Decimal | None  # None: moves, but the dataset size is not set
    annual_today: Decimal
    as_of: str  # date of the price used

    @property
    def first_year_saving(self) -> Decimal:
        return self.annual_today - self.annual_cost - (self.one_off or Decimal(0))


def book_gpu(book: PriceBook, gpu_model: str) -> str | None:
    """The price book's name for a billed GPU model ('H100 80GB' -> 'H100'), if it has one."""
    names = sorted({k.split(".")[1] for k in book.entries if k.startswith(("rent.", "node."))})
    return next((g for g in names if re.search(gpu_pattern(g), gpu_model.upper())), None)


def alternatives(
    w: Workload,
    book: PriceBook,
    owned_place: str,
    egress_rate: Mapping[str, Decimal],
    dataset_gb: Mapping[str, Decimal],
) -> list[Alternative]:
    """Every placement of `w` the price book can price, with today's cost beside each.

    `egress_rate` is USD per GB billed out of each place today (from the data-flow map);
    `dataset_gb` the size of each team's datasets that would move with the workload.
    """
    gpu = book_gpu(book, w.gpu_model)
    if gpu is None or w.hours <= 0 or w.paid_gpu_hours <= 0:
        return []
    k = w.annual_factor
    today = money(w.cost * k)
    out: list[Alternative] = []

    def one_off(place: str) -> Decimal | None:
        if place == w.provider:
            return Decimal(0)
        size = dataset_gb.get(w.team)
        rate = egress_rate.get(w.provider, Decimal(0))
        return None if size is None else money(size * rate)

    if w.deployment != "onprem" and gpu in book.gpu_models():
        node = owned_node(book, gpu)
        n = max(1, math.ceil(w.mean_gpus / node.gpus))
        useful_per_year = float(Decimal(w.useful_gpu_hours) * k)
        u = min(1.0, useful_per_year / (n * node.gpus * HOURS_PER_YEAR))
        cost = annual_cost_owned(node, u) * n
        as_of = book.entry(f"node.{gpu}.server_capex").as_of.isoformat()
        out.append(
            Alternative(w, OWNED, owned_place, OWNED, cost, one_off(owned_place), today, as_of)
        )
    for opt in book.rent_options(gpu):
        if opt.pricing_model not in PLACED_MODELS:
            continue
        price = Decimal(repr(opt.value))
        if opt.committed:
            cost = money(price * math.ceil(w.mean_gpus) * HOURS_PER_YEAR)
        else:
            cost = money(price * Decimal(w.paid_gpu_hours) * k)
        place = _CLOUD_NAMES.get(opt.provider.lower(), opt.provider)
        out.append(
            Alternative(
                w,
                opt.key,
                place,
                opt.pricing_model,
                cost,
                one_off(place),
                today,
                opt.as_of.isoformat(),
            )
        )
    return out


def rank(alts: Sequence[Alternative]) -> list[Alternative]:
    """Largest first-year saving first; ties broken by team, GPU, place today and option."""
    return sorted(
        alts,
        key=lambda a: (
            -a.first_year_saving,
            a.workload.team,
            a.workload.gpu_model,
            a.workload.provider,
            a.option,
        ),
    )


def best_per_workload(ranked: Sequence[Alternative]) -> list[Alternative]:
    """The first (best) alternative of each workload, in ranked order."""
    seen: set[tuple[str, str, str]] = set()
    out = []
    for a in ranked:
        key = (a.workload.team, a.workload.gpu_model, a.workload.provider)
        if key not in seen:
            seen.add(key)
            out.append(a)
    return out


ASSUMPTIONS = (
    "A workload is a team's GPUs of one model where they run today, over the measured window, "
    "scaled to a year.",
    "On demand elsewhere: the same paid GPU-hours at the price book's rate.",
    "Committed: the GPUs the workload holds on average (rounded up), billed every hour.",
    "Owned: enough nodes for the GPUs held on average, at the workload's measured useful "
    "GPU-hours (the own-vs-rent model, price book inputs).",
    "Moving costs the dataset's size (finops.toml [flows.datasets]) times the per-GB egress "
    "billed where it runs today, once, counted in the first year; the monthly traffic after "
    "the move is not modelled.",
    "USD only: workloads billed in another currency are not compared.",
)

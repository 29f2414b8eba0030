"""The global filters (date range, providers, teams, environments, cost basis) and their URL
form.

Every page reads the same `Filters`; they live in the query string so a copied link
reproduces the view. Parsing is forgiving (a bad date in a hand-edited link falls back to the
default) because a link is not a place to raise errors at a user.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from models.cost_basis import DEFAULT, CostBasis, lenient_basis

KEYS = ("from", "to", "provider", "team", "env", "basis")


@dataclass(frozen=True)
class Filters:
    start: date | None = None  # inclusive day; None = from the first data
    end: date | None = None  # inclusive day; None = to the last data
    providers: tuple[str, ...] = ()  # empty = all
    teams: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    basis: CostBasis = DEFAULT  # which cost every money figure sums (amortised or billed)

    def params(self) -> dict[str, object]:
        """Bound parameters for the SQL in dashboard/queries/spend.py."""
        return {
            "start": self.start,
            "end": self.end,
            "providers": list(self.providers),
            "teams": list(self.teams),
            "envs": list(self.environments),
        }

    def with_range(self, start: date, end: date) -> Filters:
        return replace(self, start=start, end=end)


def _date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _many(value: str | list[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    out: list[str] = []
    for item in items:
        out.extend(p for p in item.split(",") if p)
    return tuple(dict.fromkeys(out))


def from_query(query: Mapping[str, str | list[str]]) -> Filters:
    """Filters from a query string mapping (`st.query_params.to_dict()` or a parsed URL)."""
    start, end = _date(_one(query.get("from"))), _date(_one(query.get("to")))
    if start and end and start > end:
        start, end = end, start
    return Filters(
        start=start,
        end=end,
        providers=_many(query.get("provider")),
        teams=_many(query.get("team")),
        environments=_many(query.get("env")),
        basis=lenient_basis(_one(query.get("basis"))),
    )


def _one(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def to_query(filters: Filters) -> dict[str, str]:
    """The query string form; empty filters are left out so default links stay short."""
    out: dict[str, str] = {}
    if filters.start:
        out["from"] = filters.start.isoformat()
    if filters.end:
        out["to"] = filters.end.isoformat()
    if filters.providers:
        out["provider"] = ",".join(filters.providers)
    if filters.teams:
        out["team"] = ",".join(filters.teams)
    if filters.environments:
        out["env"] = ",".join(filters.environments)
    if filters.basis != DEFAULT:
        out["basis"] = filters.basis.value
    return out

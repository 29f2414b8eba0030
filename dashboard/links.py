"""The dashboard's link: the names in its query string, and what a value in it may be.

A copied link reproduces the view: the filters (dashboard/queries/filters.py has their form),
the Idle GPUs page's resource and threshold, the explorer's breakdown, drill-down and page.
A link is text anyone can edit, so every value is checked here against what the page can
show (the resources ranked, the dimensions offered, the data's dates); what fails is refused
in words (one sentence each, the value shortened and made inert) and the default is shown
instead. A value reaches a query only as one of the choices it was checked against, or as a
bound parameter, never as SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TypeVar

from dashboard.queries.filters import KEYS as FILTERS
from dashboard.queries.filters import Filters, from_query
from models.cost_basis import CostBasis, parse_basis
from models.errors import InputError

# The names in the query string, one definition each (the filters' are FILTERS).
CURRENCY = "cur"
RESOURCE = "resource"  # Idle GPUs: the resource opened
THRESHOLD = "threshold"  # Idle GPUs: idle below this mean GPU activity, in whole percent
BY = "by"  # Spend explorer: the breakdown
TAG = "tag"  # Spend explorer: the tag key broken down by
DRILL = "drill"  # Spend explorer: the value drilled into
PAGE = "page"  # Spend explorer: the page of line items
NAMES = (*FILTERS, CURRENCY, RESOURCE, THRESHOLD, BY, TAG, DRILL, PAGE)

LONGEST = 512  # an Azure resource id is under 300 characters; anything longer is not a value
SHOWN = 40  # characters of a refused value quoted back
_WHOLE = re.compile(r"[0-9]{1,9}")  # ASCII digits only: "٣" is a digit to str.isdigit
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~$:-])")

Query = Mapping[str, str | list[str]]
T = TypeVar("T")


def quoted(value: str) -> str:
    """A refused value as the message shows it: shortened, control characters dropped and
    Markdown escaped, so that a link cannot draw on the page."""
    text = _UNSAFE.sub("", value)
    text = text if len(text) <= SHOWN else text[:SHOWN] + "…"
    return "“" + _MARKDOWN.sub(r"\\\1", text) + "”"


class Link:
    """One reading of a query string: each method returns what a name asked for when the page
    can show it, else None, and says why in `problems`."""

    def __init__(self, query: Query):
        self.query = query
        self.problems: list[str] = []

    def refuse(self, what: str, value: str, why: str) -> None:
        self.problems.append(f"{what} {quoted(value)} {why}")

    def text(self, name: str, what: str) -> str | None:
        """The one value of `name`, stripped; None when absent or empty."""
        value = self.query.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or not value.strip():
            return None
        if len(value) > LONGEST or _UNSAFE.search(value):
            self.refuse(what, value, "is not a value this dashboard ever writes in a link")
            return None
        return value.strip()

    def choice(self, name: str, choices: Sequence[T], what: str, among: str) -> T | None:
        """One of `choices` (compared as text), or None; `among` says what they are."""
        value = self.text(name, what)
        if value is None:
            return None
        for c in choices:
            if str(c) == value:
                return c
        self.refuse(what, value, f"is not {among}")
        return None

    def whole(self, name: str, lo: int, hi: int, what: str) -> int | None:
        """A whole number from `lo` to `hi`, or None."""
        value = self.text(name, what)
        if value is None:
            return None
        if not _WHOLE.fullmatch(value) or not lo <= int(value) <= hi:
            self.refuse(what, value, f"is not a whole number from {lo} to {hi}")
            return None
        return int(value)

    def filters(
        self,
        first: date,
        last: date,
        providers: Iterable[str],
        teams: Iterable[str],
        environments: Iterable[str],
    ) -> Filters:
        """The filters the link asks for, each kept only where the data has it: a date within
        the data's span, providers, teams and environments the data holds, a known basis."""
        asked = from_query(self.query)
        start, end = asked.start, asked.end
        for name, day, what in (("from", start, "the start date"), ("to", end, "the end date")):
            text = self.text(name, what)
            if text is None:
                continue
            if day is None:
                self.refuse(what, text, "is not a date (year-month-day, as 2026-10-31)")
            elif not first <= day <= last:
                self.refuse(what, text, f"is outside the data ({first} to {last})")
                start, end = (None, end) if name == "from" else (start, None)
        kept = {}
        for kind, got, have in (
            ("provider", asked.providers, set(providers)),
            ("team", asked.teams, set(teams)),
            ("environment", asked.environments, set(environments)),
        ):
            kept[kind] = tuple(v for v in got if v in have)
            for v in got:
                if v not in have:
                    self.refuse(f"the {kind}", v, "is not in the data")
        basis = self.text("basis", "the cost basis")
        if basis is not None:
            try:
                parse_basis(basis)
            except InputError:
                self.refuse("the cost basis", basis, "is neither amortised nor billed")
        return Filters(
            start=start,
            end=end,
            providers=kept["provider"],
            teams=kept["team"],
            environments=kept["environment"],
            basis=CostBasis(asked.basis),
        )


def message(problems: Sequence[str]) -> str:
    """The one message a page shows for a link it could not follow whole."""
    listed = "; ".join(problems)
    return (
        f"This link asks for something this dashboard cannot show, so the default is shown "
        f"instead: {listed}. Choose again on the page; the address bar follows."
    )

"""Billing periods: a `YYYY-MM` month as UTC bounds (the end is exclusive)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from models.errors import InputError


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """UTC start and exclusive end of a YYYY-MM month."""
    try:
        if len(month) != 7:
            raise ValueError
        first = date.fromisoformat(month + "-01")
    except (TypeError, ValueError):
        raise InputError(
            "not a month", location="--month", expected="YYYY-MM", found=repr(month)
        ) from None
    start = datetime(first.year, first.month, 1, tzinfo=UTC)
    end = datetime(first.year + first.month // 12, first.month % 12 + 1, 1, tzinfo=UTC)
    return start, end

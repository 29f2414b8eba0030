"""What a provider's delivery layout leaves unread: older deliveries, incomplete runs.

Providers keep every delivery of a month side by side (AWS Data Exports' "create new file"
preference, Azure exports with overwrite off). A reader takes the newest complete delivery of
each period and reports the rest here, so the load summary can say what it skipped and why;
a skipped file is never read.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T", bound=Hashable)


@dataclass(frozen=True)
class Skipped:
    """Files of one delivery left unread, with the reason in the user's terms."""

    reason: str  # e.g. "older delivery of BILLING_PERIOD=2026-09 (execution 1a2b…)"
    files: tuple[str, ...]  # display names (paths or URIs), in listing order

    def note(self) -> str:
        count = len(self.files)
        example = f", e.g. {self.files[0]}" if self.files else ""
        return f"skipped {count} file{'s' * (count != 1)}: {self.reason}{example}"


class Loads(list):
    """The PeriodLoads of an export (a plain list to every caller) and what was skipped."""

    def __init__(self, loads: Iterable = (), skipped: Iterable[Skipped] = ()):
        super().__init__(loads)
        self.skipped: list[Skipped] = list(skipped)


def skipped_of(batches: object) -> list[Skipped]:
    """The skipped deliveries a reader reported with its loads (none for a plain list)."""
    return list(getattr(batches, "skipped", ()))


def once(named: Iterable[T]) -> list[T]:
    """A manifest's files, each once, in its order: a file named twice (a duplicated entry,
    two manifests of one period) is still one file, and reading it twice would count its
    charges twice."""
    return list(dict.fromkeys(named))

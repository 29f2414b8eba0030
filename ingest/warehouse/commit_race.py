"""Two writers racing for one warehouse on object storage, where no lock file can keep them
apart: each Delta commit is a conditional write (put-if-absent of the next log entry), so
exactly one of two commits of the same version lands (DESIGN §5).

deltalake itself retries a losing commit on the fresh snapshot when the winner touched none
of what it read or replaces (two loads of different periods both land). When it did (the
same period), the loser is told once, by period, and nothing of it is stored; derived data is
rebuilt from what is committed, so a refresh that lost simply runs again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from deltalake.exceptions import CommitFailedError, DeltaError

from models.errors import WarehouseError

T = TypeVar("T")
REFRESH_TRIES = 5


def lost(exc: BaseException) -> bool:
    """Whether `exc` is a commit that another writer's commit beat."""
    if isinstance(exc, CommitFailedError):
        return True
    # two first loads both creating a table: the second finds it made
    return isinstance(exc, DeltaError) and "already exists" in str(exc).lower()


def period_lost(source: str, account: str, period: str) -> WarehouseError:
    return WarehouseError(
        f"the load of {source} account {account} period {period} did not commit: another load "
        "of the same period committed first; nothing of yours was stored for that period",
        hint="`finops loads` shows the load that won; run this ingest again to replace it, "
        "if yours is the newer export",
        retryable=True,
    )


def retried(step: Callable[[], T], tries: int = REFRESH_TRIES) -> T:
    """Run `step` (an idempotent rebuild) again when its commit lost a race."""
    for attempt in range(1, tries + 1):
        try:
            return step()
        except Exception as exc:
            if not lost(exc) or attempt == tries:
                raise
            time.sleep(random.uniform(0.1, 0.5) * attempt)  # let the winner finish its refresh
    raise AssertionError("unreachable")

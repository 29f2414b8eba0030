"""Domain errors: raised where a problem is found, shown in one place (CLI, dashboard).

Every error carries what a user needs to act: which file, which row or column, what was
expected, what was found and what to do. `retryable` says whether trying again can help
(a timeout can; a malformed file cannot).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from models.urls import redact


@dataclass
class FinopsError(Exception):
    """Base of every error the product reports to a user."""

    message: str
    file: str | None = None
    location: str | None = None  # "row 12", "column lineItem/UnblendedCost", "row 3, column Cost"
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    retryable: bool = False
    details: dict[str, object] = field(default_factory=dict)

    title = "Error"
    exit_code = 1

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.render()

    def render(self) -> str:
        """One message: where, what, expected vs found, what to do; a credential carried by
        a URL in any part of it is masked (messages are printed, stored and shown)."""
        where = ", ".join(p for p in (self.file, self.location) if p)
        head = f"{where}: {self.message}" if where else self.message
        parts = [head]
        said = [
            f"{k} {v or '(empty)'}"
            for k, v in (("expected", self.expected), ("found", self.found))
            if v is not None
        ]
        if said:  # one side alone is said alone, not beside a "?"
            parts.append(", ".join(said))
        if self.hint:
            parts.append(self.hint)
        return redact(_CONTROL.sub(_escaped, " — ".join(parts)))


# Text quoted from a damaged file may hold control characters; a terminal would act on them
# (an escape sequence), so a message shows them as \xNN. Line breaks and tabs stay.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


class InputError(FinopsError):
    """A source file, API answer or argument that cannot be read as what it claims to be."""

    title = "Bad input"
    exit_code = 2


class ReconciliationError(FinopsError):
    """Warehouse totals would not equal the source totals; nothing was committed."""

    title = "Reconciliation failed"
    exit_code = 3


class ConfigError(FinopsError):
    """finops.toml or a command-line setting is wrong."""

    title = "Configuration error"
    exit_code = 2


class WarehouseError(FinopsError):
    """The warehouse cannot be read or written (missing, locked, corrupt)."""

    title = "Warehouse error"
    exit_code = 4


class DamagedWarehouseError(WarehouseError):
    """A table's Delta log or data files are broken or missing: nothing may read or write it
    until it is restored (`finops check` says what to do)."""

    title = "Warehouse damaged"


class SourceUnavailableError(FinopsError):
    """A remote source (S3, Blob, an API) refused or failed; names the credential chain tried."""

    title = "Source unavailable"
    exit_code = 5


def did_you_mean(word: str, choices: list[str] | tuple[str, ...] | set[str]) -> str:
    """' (did you mean "x"?)' when a close match exists, else ''."""
    import difflib

    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""

"""Tables printed on the terminal: every cell shown as it is, never cut.

Cells are plain text, never rich markup: a rule's regex `[a-z]`, a TOML section `[classify]`
or a tag value would otherwise be taken for a style and vanish. Numbers are right-aligned and
never wrapped; long text wraps inside its column. A table that cannot fit the terminal even so
(many columns on an 80-column terminal) is printed one record per line, as `name value` pairs,
rather than with digits or ids replaced by an ellipsis.

Money is shown at its currency's minor units (ISO 4217: JPY 0 digits, USD 2, KWD 3), rounded
half-even; an amount whose currency is not known is shown exactly. Commands that print money
offer `--format csv|json` for the exact values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import click
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from models.currency import minor_units, to_minor_units


@dataclass(frozen=True)
class Column:
    name: str
    number: bool = False


def money(value: Decimal | float | int | None, currency: str | None = None) -> str:
    """1234.5 USD -> '1,234.50'; 1234.5 JPY -> '1,234' (half-even); no currency -> exact,
    without trailing zeros ('1,234.5')."""
    if value is None:
        return ""
    text = f"{to_minor_units(Decimal(str(value)), currency):,f}"
    if minor_units(currency) is None and "." in text:  # exact: no zeros the data did not need
        text = text.rstrip("0").rstrip(".")
    return text


def money_with_code(value: Decimal | float | int | None, currency: str | None) -> str:
    """'USD 1,234.50': an amount in a sentence, its currency first."""
    text = money(value, currency)
    return f"{currency} {text}" if currency and text else text


# a text column is as wide as its longest word, so that words are not cut, up to this
_TEXT_MAX_WORD = 20


def _width(texts: Sequence[str]) -> int:
    return max((cell_len(t) for t in texts), default=0)  # terminal cells: wide characters are 2


def show(
    console: Console,
    columns: Sequence[Column | str],
    rows: Sequence[Sequence[str]],
    title: str | None = None,
) -> None:
    """Print `rows` (cells already formatted) under `columns`, as a table when it fits."""
    cols = [c if isinstance(c, Column) else Column(c) for c in columns]
    table = Table(title=title)
    needed = 3 * len(cols) + 1  # borders and padding
    for i, c in enumerate(cols):
        cells = [row[i] for row in rows]
        if c.number:
            width = max(_width(cells), _width([c.name]))  # no_wrap holds the header whole too
            table.add_column(c.name, justify="right", no_wrap=True, min_width=width)
        else:
            words = [w for cell in cells for w in cell.split()]  # text wraps between words
            width = min(max(_width(words), _width(c.name.split())), _TEXT_MAX_WORD)
            table.add_column(c.name, overflow="fold", min_width=width)
        needed += width
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    if needed <= console.width:
        console.print(table)
        return
    if title:
        console.print(Text(title, style="bold"))
    for row in rows:
        _record(console, [(c.name, cell) for c, cell in zip(cols, row, strict=True) if cell])


def _record(console: Console, pairs: list[tuple[str, str]]) -> None:
    """One record as `name value` pairs filling lines, a pair never split across two."""
    line, used = Text("- "), 2
    for name, cell in pairs:
        size = cell_len(name) + 1 + cell_len(cell)
        if used > 2 and used + 2 + size > console.width:
            console.print(line, soft_wrap=True)
            line, used = Text("  "), 2
        elif used > 2:
            line.append("  ")
            used += 2
        line.append(f"{name} ", style="dim")
        line.append(cell)
        used += size
    console.print(line, soft_wrap=True)


def format_option(help_text: str | None = None):
    """`--format table|csv|json`: the table for people (money at minor units), csv and json
    exact, for scripts. One definition for every command that prints rows."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
        help=help_text,
    )

"""The pack as XLSX: a cover sheet, then one sheet per section.

Numbers are numbers (currency, percent and count formats), header rows are frozen, columns
sized to their content, and no cell holds a formula: totals are computed here, exactly, and
written as values. Every text cell is written with `write_string`, so a tag such as
`=HYPERLINK(...)` is stored as text and no spreadsheet evaluates it.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import xlsxwriter

from dashboard import labels
from dashboard.report.model import Pack, Section, cents, digits

HEADER_ROW = 3  # title, note, blank, header
MAX_WIDTH = 60


def _formats(book: xlsxwriter.Workbook, currency: str) -> dict:
    places = "." + "0" * digits(currency) if digits(currency) else ""
    money = f"[${currency}] #,##0{places};[Red][${currency}] -#,##0{places}"
    exact = f"[${currency}] #,##0.00##########;[Red][${currency}] -#,##0.00##########"
    return {
        "currency": currency,
        "title": book.add_format({"bold": True, "font_size": 14}),
        "note": book.add_format({"italic": True, "font_color": "#555555"}),
        "header": book.add_format(
            {"bold": True, "bg_color": "#DDE5F0", "bottom": 1, "text_wrap": True}
        ),
        "money": book.add_format({"num_format": money}),
        "exact": book.add_format({"num_format": exact}),
        "percent": book.add_format({"num_format": "0.0%"}),
        "int": book.add_format({"num_format": "#,##0"}),
        "text": book.add_format({}),
        "total_label": book.add_format({"bold": True, "top": 1}),
        "total_money": book.add_format({"bold": True, "top": 1, "num_format": money}),
        "total_blank": book.add_format({"top": 1}),
    }


def _basis(pack: Pack) -> str:
    """'amortised cost (USD): ...' for the cover, the one place both bases meet."""
    return (
        f"{pack.basis.words.lower()} ({pack.currency}) (reconciliation is billed cost; "
        "idle GPU and on-prem parts are amortised)"
    )


def heading(section: Section, name: str, currency: str) -> str:
    """A column's heading in words with its unit (dashboard/labels.py): 'Amortised cost (USD)',
    'Change (%)'. The CSV files keep the column names, for the systems that import them."""
    text = labels.label(name)
    if (name in section.money or name in section.exact) and "(" not in text:
        return f"{text} ({currency})"
    if name in section.percent and "(%)" not in text:
        return f"{text} (%)"
    return text


def _sheet_name(section: Section) -> str:
    return section.name.replace("_", " ").title()[:31]


def _write_value(ws, row: int, col: int, section: Section, name: str, value, fmt: dict) -> int:
    """Write one cell; returns its display width."""
    if value is None:
        ws.write_blank(row, col, None)
        return 0
    if name in section.exact:
        ws.write_number(row, col, float(Decimal(value)), fmt["exact"])
        return 18
    if name in section.money:
        ws.write_number(row, col, float(cents(value, fmt["currency"])), fmt["money"])
        return 16
    if name in section.percent:
        ws.write_number(row, col, float(value), fmt["percent"])
        return 8
    if isinstance(value, bool):
        ws.write_string(row, col, "yes" if value else "no")
        return 3
    if isinstance(value, int):
        ws.write_number(row, col, value, fmt["int"])
        return len(f"{value:,}")
    if isinstance(value, float):
        ws.write_number(row, col, value)
        return 12
    text = str(value)
    ws.write_string(row, col, text, fmt["text"])
    return len(text)


def _section_sheet(book: xlsxwriter.Workbook, section: Section, fmt: dict) -> None:
    ws = book.add_worksheet(_sheet_name(section))
    ws.write_string(0, 0, section.title, fmt["title"])
    ws.write_string(1, 0, section.note, fmt["note"])
    columns = section.frame.columns
    headings = [heading(section, c, fmt["currency"]) for c in columns]
    widths = [min(len(h), 24) + 2 for h in headings]  # a long heading wraps in its cell
    for col, text in enumerate(headings):
        ws.write_string(HEADER_ROW, col, text, fmt["header"])
    row = HEADER_ROW
    for row, record in enumerate(section.frame.iter_rows(), HEADER_ROW + 1):
        for col, value in enumerate(record):
            width = _write_value(ws, row, col, section, columns[col], value, fmt)
            widths[col] = max(widths[col], width + 2)
    if section.totals and columns:
        row += 1
        for col, name in enumerate(columns):
            if name in section.totals:
                total = cents(section.total(name), fmt["currency"])
                ws.write_number(row, col, float(total), fmt["total_money"])
            elif col == 0:
                ws.write_string(row, col, "Total", fmt["total_label"])
            else:
                ws.write_blank(row, col, None, fmt["total_blank"])
    for col, width in enumerate(widths):
        ws.set_column(col, col, min(width, MAX_WIDTH))
    ws.freeze_panes(HEADER_ROW + 1, 0)
    if columns:
        ws.autofilter(HEADER_ROW, 0, max(row, HEADER_ROW), len(columns) - 1)


def _cover(book: xlsxwriter.Workbook, pack: Pack, fmt: dict) -> None:
    ws = book.add_worksheet("Cover")
    ws.write_string(0, 0, f"AI spend finance pack {pack.month}", fmt["title"])
    ws.write_string(1, 0, f"Currency {pack.currency}; spend on {_basis(pack)}", fmt["note"])
    ws.write_string(2, 0, f"Generated at {pack.generated_at:%Y-%m-%d %H:%M:%S} UTC", fmt["note"])
    ws.write_string(4, 0, "measure", fmt["header"])
    ws.write_string(4, 1, "amount", fmt["header"])
    row = 4
    for row, (label, value) in enumerate(pack.headline.items(), 5):
        ws.write_string(row, 0, label)
        ws.write_number(row, 1, float(cents(value, fmt["currency"])), fmt["money"])
    start = row + 2
    ws.write_string(start, 0, "sheet", fmt["header"])
    ws.write_string(start, 1, "what it shows", fmt["header"])
    for row, section in enumerate(pack.sections.values(), start + 1):
        ws.write_string(row, 0, _sheet_name(section))
        ws.write_string(row, 1, section.note)
    ws.set_column(0, 0, 34)
    ws.set_column(1, 1, 90)
    ws.freeze_panes(5, 0)


def write(pack: Pack, path: Path) -> Path:
    tmp = path.with_suffix(".xlsx.part")
    book = xlsxwriter.Workbook(
        str(tmp),
        {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
    )
    book.set_properties(
        {
            "title": f"AI spend finance pack {pack.month}",
            "created": pack.generated_at.replace(tzinfo=None),
        }
    )
    fmt = _formats(book, pack.currency)
    _cover(book, pack, fmt)
    for section in pack.sections.values():
        _section_sheet(book, section, fmt)
    book.close()
    tmp.replace(path)
    return path

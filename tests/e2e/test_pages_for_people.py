"""Every page of the sample enterprise read in a real Chromium at 1440×900, as a CIO would:
words, not code names; tables that fit their frame; money at its minor units and shares at
one decimal. Each page is saved as a screenshot (the README's come from here with
FINOPS_SCREENSHOTS set).

Tables are drawn on a canvas; what they hold is read from the accessible table Streamlit
keeps beside it (the values sent to the browser, before the column's number format).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.fixtures.served import HEIGHT, PAGE_TITLES, WIDTH, Served, settle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PAGES = PAGE_TITLES
CODE_NAME = re.compile(r"\b[a-z]+_[a-z_]+\b|\bx_[A-Z]")
NUMBER = re.compile(r"^-?\d+(?:\.(\d+))?$")
# Columns of identifiers, shown exactly as the provider spells them (an Azure SKU is
# Standard_ND96asr_v4, a usage type USE1-DataTransfer-Out-Bytes): the code-name check skips
# their cells, never their headings.
ID_COLUMNS = re.compile(r"\bID$|^SKU$|^Usage type$|^Resource$|^Billing account$|^Unit$")

# Text a person sees: the page but its code blocks (commands to type are code), the charts'
# own text (titles, axes, legends), and each table's headings and visible cells by column.
READ = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  const side = document.querySelector('[data-testid="stSidebar"]');
  const text = [];
  for (const root of [main, side]) {
    if (!root) continue;
    const copy = root.cloneNode(true);
    copy.querySelectorAll('code, pre, [data-testid="stDataFrame"], svg, script, style')
        .forEach(e => e.remove());
    text.push(copy.innerText);
  }
  main.querySelectorAll('.js-plotly-plot svg text').forEach(t => text.push(t.textContent));
  const tables = [...main.querySelectorAll('[data-testid="stDataFrame"]')].map(d => {
    const s = d.querySelector('.dvn-scroller');
    const t = d.querySelector('table');
    const heads = t ? [...t.querySelectorAll('thead th')].map(th => th.innerText.trim()) : [];
    const rows = t ? [...t.querySelectorAll('tbody tr')].map(
        tr => [...tr.querySelectorAll('td')].map(td => td.innerText.trim())) : [];
    return {frame: s ? s.clientWidth : 0, content: s ? s.scrollWidth : 0, heads, rows,
            right: d.getBoundingClientRect().right};
  });
  return {text: text.join('\\n'), tables, main: main.getBoundingClientRect().right};
}"""


def problems(seen: dict) -> list[str]:
    """What a person would stumble on, in words."""
    found = [f"code name on the page: {m}" for m in sorted(set(CODE_NAME.findall(seen["text"])))]
    for i, t in enumerate(seen["tables"], 1):
        if t["content"] > t["frame"] + 1:
            found.append(
                f"table {i} ({', '.join(t['heads'][:3])} ...) is {t['content']} px wide in a "
                f"{t['frame']} px frame"
            )
        if t["right"] > seen["main"] + 1:
            found.append(f"table {i} runs past the page's edge")
        for head in t["heads"]:
            if CODE_NAME.search(head):
                found.append(f"table {i}: heading {head!r} is a code name")
        for row in t["rows"]:
            for head, cell in zip(t["heads"], row, strict=False):
                number = NUMBER.match(cell.replace(",", ""))
                digits = len(number.group(1) or "") if number else 0
                # a unit price (per 1k requests, per 1M tokens) reads at 4 decimals, as prices do
                most = 1 if head.endswith("(%)") else 4 if head.startswith("Per ") else 2
                if digits > most:
                    found.append(f"table {i}, {head}: {cell} has {digits} decimals (most {most})")
                if cell == "None":
                    found.append(f"table {i}, {head}: an empty cell reads None")
                if not ID_COLUMNS.search(head) and CODE_NAME.search(cell):
                    found.append(f"table {i}, {head}: cell {cell!r} is a code name")
    return found


def visit(page, shots: Path) -> dict[str, list[str]]:
    """Each page in turn from the sidebar: what is wrong on it, and its screenshot."""
    out: dict[str, list[str]] = {}
    for name, title in PAGES:
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
        settle(page, title)
        out[name] = problems(page.evaluate(READ))
        screenshot(page, shots / f"{name}.png")
    return out


def screenshot(page, path: Path) -> None:
    """The whole page: the app scrolls inside its own frame, so the window is made as tall as
    the page for the shot, then set back."""
    tall = page.evaluate(
        "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight"
    )  # fmt: skip
    page.set_viewport_size({"width": WIDTH, "height": max(HEIGHT, min(int(tall), 8_000))})
    page.wait_for_timeout(1_000)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})


def test_every_page_reads_for_people(browser, sample_warehouse: Path, shots: Path) -> None:
    # with the settings the demo writes (its budgets), as `finops demo` serves them
    with Served(sample_warehouse, sample_warehouse.parent / "finops-demo.toml") as served:
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(served.url)
        settle(page, "Overview")
        found = visit(page, shots)
        page.close()
    assert {k: v for k, v in found.items() if v} == {}
    assert all((shots / f"{name}.png").stat().st_size > 10_000 for name, _ in PAGES)


def test_the_checks_catch_what_people_stumble_on() -> None:
    """The checks themselves: each finds its problem (and an identifier's cell is let be)."""
    table = {"frame": 900, "content": 1200, "right": 1000, "heads": ["idle_hours",
             "Cost (USD)", "Mean GPU activity (%)", "SKU"],
             "rows": [["3", "100256.904148", "58.12", "Standard_ND96asr_v4"],
                      ["4", "12.5", "58.1", "a"]]}  # fmt: skip
    found = problems({"text": "Break down by x_Team: gpu_compute", "tables": [table],
                      "main": 1000})  # fmt: skip
    assert found == [
        "code name on the page: gpu_compute",
        "code name on the page: x_T",
        "table 1 (idle_hours, Cost (USD), Mean GPU activity (%) ...) is 1200 px wide in a "
        "900 px frame",
        "table 1: heading 'idle_hours' is a code name",
        "table 1, Cost (USD): 100256.904148 has 6 decimals (most 2)",
        "table 1, Mean GPU activity (%): 58.12 has 2 decimals (most 1)",
    ]

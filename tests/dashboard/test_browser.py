"""A real headless Chromium against `finops dashboard`: every page renders without an error
box, one idle resource is opened, and each page is saved as a screenshot.

Screenshots go to $FINOPS_SCREENSHOTS when set (the README's come from there), else to the
test's temporary folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.served import PAGE_TITLES, Served

pytestmark = pytest.mark.slow

PAGES = PAGE_TITLES
ERRORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def settle(page, title: str) -> None:
    """Wait until the page's title is drawn and the script run has finished."""
    page.locator("h1", has_text=title).first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=60_000
    )
    page.wait_for_timeout(500)  # let plotly finish drawing before a screenshot


def test_every_page_in_chromium(browser, small_warehouse: Path, shots: Path) -> None:
    with Served(small_warehouse) as served:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(served.url)
        settle(page, "Overview")
        for name, title in PAGES:
            page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
            settle(page, title)
            assert page.locator(ERRORS).count() == 0, f"error box on {title}"
            assert name == "overview" or f"/{name}" in page.url
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
            assert (shots / f"{name}.png").stat().st_size > 10_000

        # An engineer opens the idle GPUs page and picks a resource.
        page.locator('[data-testid="stSidebarNav"] a', has_text="Idle GPUs").first.click()
        settle(page, "Idle GPUs")
        assert page.get_by_text("i-gpu2", exact=True).first.is_visible()  # top idle resource
        page.locator('[data-testid="stSelectbox"]').filter(has_text="Resource").click()
        page.get_by_role("option", name="i-gpu1").click()
        page.locator(".gtitle", has_text="i-gpu1: activity and cost per hour").wait_for(
            timeout=60_000
        )
        settle(page, "Idle GPUs")
        assert page.locator(ERRORS).count() == 0
        page.screenshot(path=str(shots / "idle_resource.png"), full_page=True)
        page.close()

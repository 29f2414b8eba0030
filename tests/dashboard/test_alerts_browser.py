"""The Alerts page as a browser shows it, served by `finops dashboard` after `finops watch`
ran over the small warehouse: the sentence, the table with its links, no error box."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.cli.finops import main
from tests.fixtures.served import HEIGHT, WIDTH, Served, settle
from tests.fixtures.watch_rules import STDOUT, copy_of, rules

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_alerts_page_in_a_browser(
    built_warehouse: Path, tmp_path: Path, browser, shots: Path, capsys
) -> None:
    root = copy_of(built_warehouse, tmp_path)
    config = tmp_path / "finops.toml"
    config.write_text(rules() + STDOUT, encoding="utf-8")
    assert main(["--warehouse", str(root), "--config", str(config), "watch"]) == 1
    capsys.readouterr()
    with Served(root, config) as served:
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(f"{served.url}/alerts")
        settle(page, "Alerts")
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert "3 alert conditions hold (1 critical, 2 warning)" in text
        assert "Recent alerts" in text
        page.screenshot(path=str(shots / "alerts.png"), full_page=True)
        page.close()

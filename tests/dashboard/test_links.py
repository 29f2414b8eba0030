"""The dashboard's link (dashboard/links.py): a link opened in a new session shows the view it
was copied from, and a bad or hostile value in it is refused in one sentence on the page, the
default shown instead, never an error trace and never SQL.

The small warehouse (tests/fixtures/small_warehouse.py): at the configured 5% threshold i-gpu2
idles USD 160 and i-gpu1 USD 120; at 21% i-gpu2 idles USD 320.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.links import LONGEST, SHOWN, Link, quoted
from tests.fixtures.app_pages import APP, episodes_shown, metrics, no_errors, page
from tests.fixtures.small_warehouse import expected_total

AMORTISED = "Amortised cost (USD)"


def opened(name: str, **query: str) -> AppTest:
    """A new session opened on `name` by a link holding `query`, as a browser opens it."""
    at = AppTest.from_string(f"import runpy; runpy.run_path({APP!r})", default_timeout=60)
    at.query_params.update(query)
    return at.switch_page(str(Path(APP).parent / "pages" / f"{name}.py")).run()


def refusal(at: AppTest) -> str:
    """The page's one message about its link (and no other warning, no error, no trace)."""
    no_errors(at)
    (warning,) = [w.value for w in at.warning]
    return warning


# ---- a link reproduces the view ----------------------------------------------------------------


def test_a_link_opens_the_idle_resource_at_its_threshold(small_warehouse: Path) -> None:
    at = opened("idle", threshold="21", resource="i-gpu1")
    no_errors(at)
    assert not at.warning
    assert at.slider(key="idle_thr").value == pytest.approx(0.21)
    assert at.selectbox(key="idle_resource").value == "i-gpu1"
    shown = metrics(at)
    assert (shown["Idle GPU cost"], shown["Top idle resource"]) == ("USD 440.00", "i-gpu2")
    # i-gpu1's own hours and episodes, not the top resource's: GPUs 0-2 idle 4 hours
    assert [e[:5] for e in episodes_shown(at)] == [
        ("0, 1, 2", "2026-10-02T00:00:00+00:00", 4, 12, 120)
    ]
    assert at.query_params == {"threshold": "21", "resource": "i-gpu1"}


def test_the_link_follows_the_idle_page(small_warehouse: Path) -> None:
    at = page(AppTest.from_string(f"import runpy; runpy.run_path({APP!r})").run(), "idle")
    assert at.query_params == {}  # the defaults keep a link short
    at.slider(key="idle_thr").set_value(0.21).run()
    at.selectbox(key="idle_resource").set_value("i-gpu1").run()
    assert at.query_params == {"threshold": "21", "resource": "i-gpu1"}
    at.selectbox(key="idle_resource").set_value("i-gpu2").run()  # the top one: the default
    assert at.query_params == {"threshold": "21"}
    # another page keeps the filters, not the Idle page's state
    assert page(at, "explorer").query_params == {}


def test_a_link_opens_the_explorer_breakdown_and_drill_down(small_warehouse: Path) -> None:
    at = opened("explorer", by="service", drill="Azure OpenAI", provider="Microsoft")
    no_errors(at)
    assert not at.warning
    assert at.selectbox(key="ex_by").value == "service"
    assert at.selectbox(key="ex_key").value == "Azure OpenAI"
    assert at.multiselect(key="f_provider").value == ["Microsoft"]
    lines = at.dataframe[1].value
    assert sorted(float(c) for c in lines["EffectiveCost"]) == [155, 310]
    assert at.query_params == {"by": "service", "drill": "Azure OpenAI", "provider": "Microsoft"}


def test_a_link_opens_a_tag_breakdown(small_warehouse: Path) -> None:
    hostile = "team' OR 1=1 --"  # a tag key is any text: it reaches DuckDB as a parameter
    at = opened("explorer", by="tag", tag=hostile)
    no_errors(at)
    assert at.text_input(key="ex_tag").value == hostile
    table = at.dataframe[0].value
    assert table[hostile].to_list() == ["(not set)"]
    assert table[AMORTISED].sum() == expected_total()
    assert at.query_params == {"by": "tag", "tag": hostile}


def test_names_no_page_keeps_leave_the_link(small_warehouse: Path) -> None:
    at = opened("overview", team="nlp", resource="i-gpu1", evil="<script>")
    no_errors(at)
    assert at.query_params == {"team": "nlp"}


def test_the_overview_links_to_its_costliest_idle_resource(small_warehouse: Path) -> None:
    at = opened("overview", provider="AWS")
    links = {
        e.proto.label: (Path(e.proto.page).name, e.proto.query_string) for e in at.get("page_link")
    }
    assert links["i-gpu2: USD 160.00 idle"] == ("idle", "provider=AWS&resource=i-gpu2")
    assert links["Spend by team"] == ("explorer", "provider=AWS&by=team")
    idle = opened("idle", provider="AWS", resource="i-gpu2")
    assert idle.selectbox(key="idle_resource").value == "i-gpu2"


# ---- bad and hostile values: one sentence, the default, nothing else ---------------------------

DROP = "'; DROP TABLE cost_lines; --"


@pytest.mark.parametrize(
    ("name", "query", "said"),
    [
        ("idle", {"resource": DROP}, "the GPU resource “'; DROP TABLE cost\\_lines; \\-\\-” is "
         "not among the resources ranked for these filters and this threshold"),
        ("idle", {"resource": "i-gpu9"}, "the GPU resource “i\\-gpu9” is not among"),
        ("idle", {"threshold": "abc"}, "the idle threshold (in %) “abc” is not a whole number "
         "from 1 to 50"),
        ("idle", {"threshold": "51"}, "“51” is not a whole number from 1 to 50"),
        ("idle", {"threshold": "0.2"}, "“0.2” is not a whole number from 1 to 50"),
        ("idle", {"threshold": "-3"}, "“\\-3” is not a whole number from 1 to 50"),
        ("overview", {"from": "2019-01-01"}, "the start date “2019\\-01\\-01” is outside the "
         "data (2026-"),
        ("overview", {"to": "31/10/2026"}, "the end date “31/10/2026” is not a date"),
        ("overview", {"provider": "Nope"}, "the provider “Nope” is not in the data"),
        ("overview", {"basis": "invoice"}, "the cost basis “invoice” is neither amortised nor "
         "billed"),
        ("explorer", {"by": "1; SELECT 1"}, "the breakdown “1; SELECT 1” is not one the "
         "explorer offers"),
        ("explorer", {"by": "service", "drill": "Nope"}, "the value drilled into “Nope” is not "
         "among the values of this breakdown in the period"),
        ("explorer", {"page": "99999"}, "the page of line items “99999” is not a whole number "
         "from 1 to 1"),
    ],
)  # fmt: skip
def test_a_bad_value_is_refused_in_words(
    small_warehouse: Path, name: str, query: dict, said: str
) -> None:
    at = opened(name, **query)
    warning = refusal(at)
    assert warning.startswith("This link asks for something this dashboard cannot show, so the "
                              "default is shown instead: ")  # fmt: skip
    assert said in warning
    for bad in query:  # the refused value leaves the link; the defaults are shown
        if bad not in ("by",) or name != "explorer" or "drill" not in query:
            assert bad not in at.query_params
    at.run()  # said once: the next run follows the page, not the link
    assert not at.warning
    assert metrics(opened("overview"))["Spend in the period"] == f"USD {expected_total():,.2f}"


def test_the_defaults_are_shown_for_a_refused_idle_link(small_warehouse: Path) -> None:
    at = opened("idle", resource=DROP, threshold="abc")
    warning = refusal(at)
    assert warning.count("“") == 2  # both refusals in one message
    assert at.slider(key="idle_thr").value == pytest.approx(0.05)
    assert at.selectbox(key="idle_resource").value == "i-gpu2"  # the costliest
    assert metrics(at)["Its idle cost"] == "USD 160.00"
    assert at.query_params == {}


def test_a_huge_value_is_refused_short(small_warehouse: Path) -> None:
    at = opened("idle", resource="x" * 100_000, provider="AWS")
    warning = refusal(at)
    assert "is not a value this dashboard ever writes in a link" in warning
    assert len(warning) < 400  # quoted back shortened, not 100,000 characters
    assert at.query_params == {"provider": "AWS"}


def test_a_value_cannot_draw_on_the_page(small_warehouse: Path) -> None:
    at = opened("idle", resource="[click](https://evil.example) **bold** :red[x] <b>")
    warning = refusal(at)
    assert "](" not in warning and "**" not in warning and ":red[" not in warning
    assert "<b>" not in warning


# ---- the contract itself -----------------------------------------------------------------------


def test_quoted_values_are_short_and_inert() -> None:
    assert quoted("i-gpu1") == "“i\\-gpu1”"
    assert quoted("a" * 100) == "“" + "a" * SHOWN + "…”"
    assert quoted("x\x00\ny`$") == "“xy\\`\\$”"


@pytest.mark.parametrize(
    ("value", "kept"),
    [("i-gpu1", "i-gpu1"), ([" i-gpu1 ", "i-gpu2"], "i-gpu1"), ("", None), ([], None),
     ("i-gpu1\x00", None), ("x" * (LONGEST + 1), None), ("i-gpu3", None)],
)  # fmt: skip
def test_a_choice_is_one_of_the_choices(value: object, kept: str | None) -> None:
    link = Link({"resource": value})
    assert link.choice("resource", ["i-gpu1", "i-gpu2"], "the resource", "ranked") == kept
    assert len(link.problems) == (0 if kept or value in ("", []) else 1)


@pytest.mark.parametrize(
    ("value", "kept"),
    [("1", 1), ("50", 50), ("0", None), ("51", None), ("5%", None), ("٣", None), ("+5", None)],
)
def test_a_whole_number_within_its_range(value: str, kept: int | None) -> None:
    assert Link({"n": value}).whole("n", 1, 50, "the number") == kept

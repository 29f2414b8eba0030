"""The finance pack read back: every total in the XLSX and CSVs equals the warehouse to the cent."""

from __future__ import annotations

import csv
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from pypdf import PdfReader

from dashboard.report.model import cents, money_text
from dashboard.report.pack import build_pack
from ingest.warehouse.connection import connect
from models.settings import parse_settings
from tests.fixtures.pack_sheets import sheet_rows
from tests.fixtures.report_world import classified, shared

MONTH = "2026-09"
STAMP = datetime(2026, 10, 3, 9, 30, tzinfo=UTC)
# the 'shared' team's costs are split over the other teams in proportion to their spend
SETTINGS = parse_settings(
    {"allocation": {"shared": [{"id": "shared.storage", "match": {"x_Team": "shared"}}]}}
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared(tmp_path_factory)


@pytest.fixture(scope="module")
def pack(world: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("pack")
    return build_pack(classified(world), MONTH, out_dir=out, settings=SETTINGS, generated_at=STAMP)


@pytest.fixture(scope="module")
def billed_pack(world: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("billed-pack")
    return build_pack(
        classified(world), MONTH, out_dir=out, settings=SETTINGS, generated_at=STAMP, basis="billed"
    )


def truth(world: Path, sql: str, **params) -> Decimal:
    """An independent answer from the warehouse (plain SQL, not the report's queries)."""
    ((value,),) = connect(world).execute(sql, params).fetchall()
    return Decimal(value or 0)


def warehouse_total(world: Path, where: str = "true", column: str = "BilledCost") -> Decimal:
    return truth(
        world,
        f"select sum({column}) from cost_lines where strftime(BillingPeriodStart, '%Y-%m') = $m "
        f"and BillingCurrency = 'USD' and {where}",
        m=MONTH,
    )


def sheet(path: Path, name: str, pack) -> tuple[list[dict], dict]:
    """Data rows (header on row 4, in words) and the closing Total row of one sheet."""
    header, records = sheet_rows(path, name, pack)
    rows, total = [], {}
    for record in records:
        if record[header[0]] == "Total":
            total = record
        elif any(v is not None for v in record.values()):
            rows.append(record)
    return rows, total


def csv_rows(pack, section: str) -> list[dict]:
    path = next(p for p in pack.files["csv"] if p.name.endswith(f"-{section}.csv"))
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def c(value) -> Decimal:
    """A cell or CSV value as cents."""
    return cents(Decimal(str(value)))


def test_summary_totals_equal_the_warehouse_to_the_cent(world: Path, billed_pack, pack) -> None:
    amortised_rows, _ = sheet(pack.files["xlsx"][0], "Summary", pack)
    amortised = next(r for r in amortised_rows if r["dimension"] == "total")
    assert "billed_cost" not in amortised  # one basis per table, named in its columns
    assert c(amortised["amortised_cost"]) == cents(warehouse_total(world, column="EffectiveCost"))
    pack = billed_pack
    billed = warehouse_total(world)
    assert billed == Decimal("9818.675456789001")  # the world as built, by hand
    rows, _ = sheet(pack.files["xlsx"][0], "Summary", pack)
    total = next(r for r in rows if r["dimension"] == "total")
    assert c(total["billed_cost"]) == cents(billed) == Decimal("9818.68")
    previous = truth(
        world,
        "select sum(BilledCost) from cost_lines where strftime(BillingPeriodStart, '%Y-%m') = "
        "'2026-08' and BillingCurrency = 'USD'",
    )
    assert c(total["previous_billed_cost"]) == cents(previous) == Decimal("11340.74")
    assert c(total["change"]) == cents(billed - previous)
    for dim in ("provider/site", "ai class", "team"):  # each dimension adds up to the total
        parts = [Decimal(r["billed_cost"]) for r in csv_rows(pack, "summary")
                 if r["dimension"] == dim]  # fmt: skip
        assert abs(sum(parts) - cents(billed)) <= Decimal("0.01") * len(parts) / 2
    by_provider = {r["value"]: c(r["billed_cost"]) for r in rows
                   if r["dimension"] == "provider/site"}  # fmt: skip
    assert by_provider == {
        "Microsoft": cents(warehouse_total(world, "ProviderName = 'Microsoft'")),
        "AWS": cents(warehouse_total(world, "ProviderName = 'AWS'")),
        "SaaS": Decimal("790.00"),
        "On-premises / fra1": Decimal("1025.50"),
    }
    csv_total = next(r for r in csv_rows(pack, "summary") if r["dimension"] == "total")
    assert Decimal(csv_total["billed_cost"]) == cents(billed)


def test_chargeback_splits_shared_cost_and_shows_unallocated(world: Path, pack) -> None:
    amortised = warehouse_total(world, column="EffectiveCost")
    rows, total = sheet(pack.files["xlsx"][0], "Chargeback", pack)
    assert c(total["total_cost"]) == cents(amortised)
    assert c(total["shared_cost"]) == Decimal("40.00")  # the 'shared' team's storage
    unallocated = next(r for r in rows if r["team"] == "unallocated")
    untagged = warehouse_total(
        world, "json_extract_string(Tags, '$.team') is null", "EffectiveCost"
    )
    assert untagged == Decimal("37.123456789")  # egress line + unused reservation
    assert c(unallocated["total_cost"]) == cents(untagged)
    assert "shared" not in {r["team"] for r in rows}
    platform = next(r for r in rows if r["team"] == "platform")
    direct = Decimal("9277.112000000001") + Decimal(460) + 4 * Decimal("1.11")  # teams only
    assert c(platform["shared_cost"]) == cents(40 * Decimal(460) / direct) == Decimal("1.89")
    assert platform["cost_centre"] == "CC-200"
    section = pack.sections["chargeback"]
    assert section.total("total_cost") == amortised  # exact, not just to the cent
    assert section.total("shared_cost") == Decimal(40)
    csv_sum = sum(Decimal(r["total_cost"]) for r in csv_rows(pack, "chargeback"))
    assert abs(csv_sum - cents(amortised)) <= Decimal("0.05")


def test_reconciliation_lists_every_source_account_with_exact_totals(world: Path, pack) -> None:
    rows, _ = sheet(pack.files["xlsx"][0], "Reconciliation", pack)
    got = {(r["source"], r["billing_account"], r["currency"]): r for r in rows}
    assert set(got) == {
        ("aws-cur2", "111122223333", "USD"), ("aws-cur2", "999900001111", "EUR"),
        ("azure-cost-details", "ea-1", "USD"), ("onprem", "dc-1", "USD"),
        ("saas", "saas-invoices", "USD"),
    }  # fmt: skip
    assert {r["status"] for r in rows} == {"ok"}
    aws = got[("aws-cur2", "111122223333", "USD")]
    assert c(aws["warehouse_total"]) == cents(warehouse_total(world, "x_Source = 'aws-cur2'"))
    csv_aws = next(r for r in csv_rows(pack, "reconciliation") if r["currency"] == "USD")
    assert Decimal(csv_aws["warehouse_total"]) == Decimal("501.675456789")  # full scale
    onprem = next(r for r in csv_rows(pack, "reconciliation") if r["source"] == "onprem")
    assert onprem["source_total"] == onprem["warehouse_total"] == "1025.500000000001"


def test_waste_sections_carry_the_planted_figures(world: Path, pack) -> None:
    xlsx = pack.files["xlsx"][0]
    idle, idle_total = sheet(xlsx, "Idle Gpu", pack)
    assert [(r["team"], r["resource"], r["idle_hours"], r["unmonitored_hours"]) for r in idle] == [
        ("ml-research", "i-gpu-1", 100, 20)
    ]
    assert c(idle_total["idle_cost"]) == Decimal("250.00")  # 100 idle hours x 2.50
    commitments, _ = sheet(xlsx, "Commitments", pack)
    assert [(r["commitment_id"], c(r["billed_cost"]), c(r["unused_cost"])) for r in commitments
            ] == [("ri-1", Decimal("100.00"), Decimal("30.00"))]  # fmt: skip
    assert commitments[0]["utilisation"] == pytest.approx(0.7)
    assert c(commitments[0]["used_cost"]) == Decimal("70.00")  # amortised onto its usage
    egress, egress_total = sheet(xlsx, "Egress", pack)
    assert [(r["kind"], r["provider"]) for r in egress] == [("internet", "AWS")]
    assert c(egress_total["amortised_cost"]) == Decimal("7.12")
    tools, _ = sheet(xlsx, "Tools", pack)
    assert {r["tool"]: (r["unused_seats"], r["sprawl"]) for r in tools} == {
        "Cursor": (1, "overlap: 2 tools"),
        "GitHub Copilot": (6, "overlap: 2 tools"),
    }
    parts, parts_total = sheet(xlsx, "Onprem Parts", pack)
    assert {r["part"]: c(r["cost"]) for r in parts} == {
        "depreciation": Decimal("800.00"), "colo": Decimal("120.00"),
        "power": Decimal("65.50"), "ops": Decimal("40.00"),
    }  # fmt: skip
    assert c(parts_total["cost"]) == cents(warehouse_total(world, "x_Source = 'onprem'"))


def test_notes_list_the_data_gaps(pack) -> None:
    notes = {(r["kind"], r["scope"]): r for r in csv_rows(pack, "notes")}
    gap = notes[("missing days", "aws-cur2 111122223333")]
    assert gap["detail"] == "no usage lines on 2026-09-10..2026-09-11" and gap["count"] == "2"
    unmonitored = notes[("unmonitored GPU-hours", "all teams")]
    assert (unmonitored["count"], unmonitored["cost"]) == ("20", "50.00")
    other = notes[("other currency", "EUR")]
    assert other["cost"] == "55.55"


def test_sheets_have_frozen_headers_formats_and_widths(pack) -> None:
    book = openpyxl.load_workbook(pack.files["xlsx"][0])
    assert book.sheetnames[0] == "Cover"
    assert book["Cover"]["A2"].value.startswith("Currency USD; spend on amortised cost (USD) (")
    for name in book.sheetnames[1:]:
        assert book[name].freeze_panes == "A5", name
    ws = book["Summary"]
    assert ws["C5"].number_format.startswith("[$USD] #,##0.00")
    assert ws["F6"].number_format == "0.0%"
    assert ws.column_dimensions["B"].width >= len('=HYPERLINK("http://x","y")')
    formulas = [cell.coordinate for ws in book for row in ws.iter_rows() for cell in row
                if cell.data_type == "f"]  # fmt: skip
    assert formulas == []


def test_pdf_text_carries_the_headline_totals(world: Path, pack) -> None:
    reader = PdfReader(pack.files["pdf"][0])
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert 2 <= len(reader.pages) <= 6
    assert money_text(warehouse_total(world), "USD") == "USD 9,818.68"
    for figure in ("USD 9,818.68", "USD 11,340.74", "USD 250.00", "USD 30.00", "USD 37.12"):
        assert figure in text
    assert "Reconciliation: all 5 source accounts match." in text
    assert "501.675456789" in text  # the reconciliation table, at full scale


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_pack_is_deterministic(world: Path, pack, tmp_path: Path) -> None:
    again = build_pack(
        classified(world), MONTH, out_dir=tmp_path / "a", settings=SETTINGS, generated_at=STAMP
    )
    for fmt in ("xlsx", "pdf", "csv"):
        for p, q in zip(pack.files[fmt], again.files[fmt], strict=True):
            assert p.name == q.name and _digest(p) == _digest(q), p.name
    later = build_pack(
        classified(world),
        MONTH,
        out_dir=tmp_path / "b",
        settings=SETTINGS,
        generated_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    for p, q in zip(pack.files["csv"], later.files["csv"], strict=True):
        assert p.read_bytes() == q.read_bytes()
    first, second = (openpyxl.load_workbook(x.files["xlsx"][0]) for x in (pack, later))
    for name in first.sheetnames:
        a = [[c.value for c in r] for r in first[name].iter_rows()]
        b = [[c.value for c in r] for r in second[name].iter_rows()]
        if name == "Cover":  # only the stamp differs
            a, b = a[:2] + a[3:], b[:2] + b[3:]
        assert a == b, name


def test_idle_gpu_waste_keeps_each_gpu_in_its_billing_currency(world: Path, tmp_path: Path) -> None:
    from tests.fixtures.report_world import GPU_HOURS

    con = classified(world)
    # a second GPU, billed in euros, with the same month of hours as the first
    hours = GPU_HOURS.split(" as\n", 1)[1]
    con.execute(
        f"create or replace view gpu_hours as {hours} union all "
        f"select * replace ('i-gpu-eur' as resource_id, 'EUR' as currency) from ({hours})"
    )
    for currency, resource in (("USD", "i-gpu-1"), ("EUR", "i-gpu-eur")):
        pack = build_pack(
            con, MONTH, formats=("csv",), out_dir=tmp_path / currency, currency=currency,
            settings=SETTINGS, generated_at=STAMP,
        )  # fmt: skip
        idle = pack.sections["idle_gpu"].frame
        assert idle["resource"].to_list() == [resource]  # not both, added as one currency
        assert pack.headline["Idle GPU waste"] == Decimal("250")  # 100 idle hours x 2.50


def test_idle_gpu_waste_of_a_gpu_hours_table_without_currencies_is_a_gap(
    world: Path, tmp_path: Path
) -> None:
    from tests.fixtures.report_world import GPU_HOURS

    con = classified(world)
    hours = GPU_HOURS.split(" as\n", 1)[1]  # as a warehouse built before the column reads
    con.execute(
        "create or replace view gpu_hours as "
        f"select * replace (NULL::VARCHAR as currency) from ({hours})"
    )
    pack = build_pack(
        con, MONTH, formats=("csv",), out_dir=tmp_path, currency="USD", settings=SETTINGS,
        generated_at=STAMP,
    )  # fmt: skip
    assert pack.sections["idle_gpu"].frame.height == 0
    assert pack.headline["Idle GPU waste"] == 0
    notes = " ".join(pack.sections["notes"].frame["detail"].to_list())
    assert "gpu_hours was built before it kept each GPU-hour's currency" in notes
    assert "billed in None" not in notes


def test_money_never_shows_as_minus_zero() -> None:
    # a GCP rounding line of -0.0031 rounds to the cent as 0.00, not -0.00
    assert str(cents(Decimal("-0.0031"))) == "0.00"
    assert money_text(Decimal("-0.0031"), "USD") == "USD 0.00"
    assert money_text(Decimal("-0.005"), "USD") == "USD 0.00"  # half to even
    assert money_text(Decimal("-0.0051"), "USD") == "USD -0.01"


def test_pdf_tables_fit_the_page_and_keep_numbers_apart() -> None:
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.pdfbase.pdfmetrics import stringWidth
    from reportlab.platypus import Paragraph

    from dashboard.report.pdf import WIDTH, _widths

    small = getSampleStyleSheet()["BodyText"]
    exact = "40480.239995921882"  # the reconciliation's exact totals ran into the currency
    rows = [
        ["currency", "source total", "detail"],
        ["USD", exact, Paragraph("a failed load's long message " * 20, small)],
    ]
    widths = _widths(rows)
    assert widths[0] >= stringWidth("currency", "Helvetica-Bold", 7.5) + 12
    assert widths[1] >= stringWidth(exact, "Helvetica", 7.5) + 12
    assert sum(widths) <= WIDTH + 0.01  # the wrapped text gives way, the numbers do not


def test_pdf_bars_leave_out_rounding_lines_and_name_credits() -> None:
    from reportlab.graphics.charts.barcharts import HorizontalBarChart

    from dashboard.report.charts import bars

    drawing = bars("Spend by AI class", [("gpu", 5100.0), ("cpu", -1850.0), ("x", -0.0031)], "USD")
    (chart,) = [c for c in drawing.contents if isinstance(c, HorizontalBarChart)]
    # a -0.0031 rounding line is no bar; a credit's amount sits by its name, not on the names
    assert chart.categoryAxis.categoryNames == ["cpu (USD -1,850)", "gpu"]
    assert [chart.barLabelFormat(v) for v in (5100.0, -1850.0)] == ["USD 5,100", ""]

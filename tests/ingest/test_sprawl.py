"""Tool sprawl over lines classified with the shipped rules and catalogue."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl

from ingest.derive.classified import rulebook
from models.schema import MONEY, UTC_TS
from models.settings import Settings
from models.sprawl import sprawl
from tests.oracles.classify import classify

SEP, OCT = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)


def invoices(rows: list[tuple]) -> pl.LazyFrame:
    """(publisher, service, team, period, amount, currency, seats, active)"""
    frame = pl.DataFrame(
        rows,
        schema={"PublisherName": pl.String, "ServiceName": pl.String, "team": pl.String,
                "BillingPeriodStart": UTC_TS, "amount": pl.String, "BillingCurrency": pl.String,
                "x_Seats": pl.Int64, "x_ActiveSeats": pl.Int64},
        orient="row",
    ).with_row_index("x_LineId")  # fmt: skip
    return frame.lazy().with_columns(
        pl.col("x_LineId").cast(pl.Int64),
        pl.lit("saas").alias("x_Source"),
        pl.lit("Purchase").alias("ChargeCategory"),
        pl.col("amount").str.to_decimal(scale=12).cast(MONEY).alias("EffectiveCost"),
        pl.concat_str(pl.lit('{"team": "'), "team", pl.lit('"}')).alias("Tags"),
    )


def test_families_with_two_or_more_tools_and_their_saving() -> None:
    lines = invoices([
        ("Weights & Biases", "W&B Teams", "vision", SEP, "1250.00", "USD", 25, 20),
        ("Weights & Biases", "W&B Teams", "vision", OCT, "1250.00", "USD", 25, 15),
        ("Comet ML", "Comet Enterprise", "recsys", OCT, "1062.00", "USD", 18, 9),
        ("Neptune Labs", "neptune.ai Scale", "speech", OCT, "588.00", "USD", 12, 6),
        ("Weaviate", "Weaviate Cloud Standard", "search", OCT, "2000.00", "USD", None, None),
        ("Mistral AI", "La Plateforme", "recsys", OCT, "900.00", "EUR", None, None),
        ("Cohere", "Cohere Rerank API", "search", OCT, "700.00", "USD", None, None),
        ("OpenAI", "OpenAI API", "search", OCT, "6000.00", "USD", None, None),
    ])  # fmt: skip
    book = rulebook(Settings())
    classes = classify(
        lines, book.ruleset, book.settings, book.catalogue, book.tools,
        keep=("x_LineId",),
    )  # fmt: skip
    classified = lines.join(classes, on="x_LineId")
    out = sprawl(classified, book.families).sort("family", "currency")
    assert out.select("family", "currency", "tools", "n_tools").rows() == [
        ("experiment_tracking", "USD", ["Comet ML", "Neptune Labs", "Weights & Biases"], 3),
        ("llm_api", "EUR", ["Cohere", "Mistral AI", "OpenAI"], 3),
        ("llm_api", "USD", ["Cohere", "Mistral AI", "OpenAI"], 3),
    ]
    exp = out.row(0, named=True)
    assert exp["teams"] == ["recsys", "speech", "vision"]
    assert exp["spend"] == Decimal("4150")
    assert exp["primary_tool"] == "Weights & Biases"
    assert exp["other_tools_spend"] == Decimal("1650")
    assert exp["estimated_saving"] == Decimal("1155.00")  # 70% of the other tools' spend
    assert "70%" in exp["assumption"] and "Weights & Biases" in exp["assumption"]
    assert (exp["seats"], exp["active_seats"]) == (55, 30)  # latest month of each tool


def test_a_family_split_across_currencies_is_still_sprawl_and_never_summed() -> None:
    lines = invoices([
        ("OpenAI", "OpenAI API", "search", OCT, "6000.00", "USD", None, None),
        ("Mistral AI", "La Plateforme", "recsys", OCT, "900.00", "EUR", None, None),
    ])  # fmt: skip
    book = rulebook(Settings())
    classes = classify(lines, book.ruleset, book.settings, book.catalogue, book.tools)
    out = sprawl(lines.join(classes, on="x_LineId"), book.families).sort("currency")
    assert out.select("family", "currency", "tools", "spend", "estimated_saving").rows() == [
        ("llm_api", "EUR", ["Mistral AI", "OpenAI"], Decimal("900"), Decimal("270.00")),
        ("llm_api", "USD", ["Mistral AI", "OpenAI"], Decimal("6000"), Decimal("0.00")),
    ]

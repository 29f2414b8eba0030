"""SaaS invoices: overlapping AI tools bought separately by different teams."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import numpy as np

from ingest.sample.company import Company
from ingest.sample.truth import Ledger

COLUMNS = [
    "vendor",
    "product",
    "team",
    "month",
    "amount",
    "currency",
    "seats",
    "active_seats",
    "invoice_id",
]
# vendor, product, family, team, currency, seats (0 = usage-billed), $/seat or usage range
TOOLS = [
    ("Weights & Biases", "W&B Teams", "experiment_tracking", "vision", "USD", 25, "50"),
    ("Comet ML", "Comet Enterprise", "experiment_tracking", "recsys", "USD", 18, "59"),
    ("Neptune Labs", "neptune.ai Scale", "experiment_tracking", "speech", "USD", 12, "49"),
    ("Weaviate", "Weaviate Cloud Standard", "vector_db", "search", "USD", 0, "1800-2600"),
    ("Scale AI", "Scale Data Engine", "labeling", "vision", "USD", 0, "9000-16000"),
    ("OpenAI", "OpenAI API", "llm_api", "search", "USD", 0, "6000-11000"),
    ("OpenAI", "ChatGPT Team", "llm_api", "platform", "USD", 60, "30"),
    ("Anthropic", "Claude API", "llm_api", "research", "USD", 0, "4000-9000"),
    ("Cohere", "Cohere Rerank API", "llm_api", "search", "USD", 0, "700-1400"),
    ("Mistral AI", "La Plateforme", "llm_api", "recsys", "EUR", 0, "900-1600"),
    ("GitHub", "GitHub Copilot Business", "coding_assistant", "platform", "USD", 140, "19"),
    ("Anysphere", "Cursor Business", "coding_assistant", "research", "USD", 35, "40"),
    ("Tabnine", "Tabnine Enterprise", "coding_assistant", "vision", "USD", 20, "39"),
]


def write_saas(out: Path, company: Company, ledger: Ledger) -> None:
    d = out / "saas"
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([company.seed, 51])
    with open(d / "invoices.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        n = 0
        for month in company.cal.months:
            for vendor, product, family, team, cur, seats, price in TOOLS:
                n += 1
                if seats:
                    amount = Decimal(price) * seats
                    active = int(seats * rng.uniform(0.45, 0.95))
                else:
                    lo, hi = (int(x) for x in price.split("-"))
                    amount = Decimal(int(rng.integers(lo * 100, hi * 100 + 1))) / 100
                    active = 0
                w.writerow(
                    [
                        vendor,
                        product,
                        team,
                        month,
                        f"{amount:.2f}",
                        cur,
                        seats or "",
                        active or "",
                        f"INV-{month.replace('-', '')}-{n:05d}",
                    ]
                )
                ledger.charge(
                    provider=vendor,
                    source="saas",
                    period=month,
                    billed=amount,
                    effective=amount,
                    currency=cur,
                    team=team,
                )
                ledger.tool(family, vendor, team, amount, "saas", cur)

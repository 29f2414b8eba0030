"""What kind of provider each provider of the rollups is: a SaaS vendor, an on-prem site, or
a cloud (every other). The provider chart folds the SaaS vendors into one series.

Read from the small tables only (tools_monthly, loads), never the cost lines."""

from __future__ import annotations

import duckdb

from dashboard.queries.spend import relations

SAAS, ON_PREM = "saas", "onprem"


def kinds(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """provider -> "saas" | "onprem" for the providers that are not clouds. A SaaS vendor is
    one whose lines are tools (tools_monthly) and that is no cloud the palette knows; an
    on-prem site is one loaded from an on-prem inventory (its site is the provider name, a
    region may follow it)."""
    from dashboard.palette import PROVIDERS

    have = relations(con)
    sites: list[str] = []
    if "loads" in have:
        sites = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT billing_account FROM loads WHERE source = 'onprem' "
                "AND billing_account IS NOT NULL"
            ).fetchall()
        ]
    out: dict[str, str] = {}
    if "tools_monthly" in have:
        for (provider,) in con.execute(
            "SELECT DISTINCT provider FROM tools_monthly WHERE provider IS NOT NULL"
        ).fetchall():
            if provider not in PROVIDERS and not _on_site(provider, sites):
                out[provider] = SAAS
    if "spend_daily" in have and sites:
        for (provider,) in con.execute("SELECT DISTINCT provider FROM spend_daily").fetchall():
            if provider is not None and _on_site(provider, sites):
                out[provider] = ON_PREM
    return out


def _on_site(provider: str, sites: list[str]) -> bool:
    return any(provider == s or provider.startswith(f"{s} · ") for s in sites)

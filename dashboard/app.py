"""The Streamlit app (run by `finops dashboard`)."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from ingest import warehouse

st.set_page_config(page_title="hybrid-finops", layout="wide")
st.title("AI spend")
root = Path(os.environ.get("FINOPS_WAREHOUSE", "data/warehouse"))
if not root.exists():
    st.info(
        "The warehouse is empty. Ingest something first: `finops ingest aws PATH` or `finops demo`."
    )
else:
    con = warehouse.connect(root)
    frame = con.execute(
        "select ProviderName, BillingCurrency, sum(BilledCost) as billed from cost_lines "
        "group by all order by billed desc"
    ).pl()
    st.dataframe(frame)

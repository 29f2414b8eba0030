"""What people use: the `finops` commands (cli/), the Streamlit app (app/), the queries
behind both (queries/) and the finance pack (report/). Imports ingest/ and models/.
"""

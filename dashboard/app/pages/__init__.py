"""The Streamlit pages, each run as a script: read the filters, ask dashboard.queries, render.
Import dashboard.app (session, charts), dashboard.queries and models/.
"""

"""The finance pack: a month's reconciled sections as XLSX, PDF and CSV.
Imports models/, ingest/ and dashboard.queries; never Streamlit.
"""

"""The Streamlit app (main.py, run as a script), its pages and what they share.
The only package that may import Streamlit; imports models/, ingest/ and dashboard.queries.
"""

"""The warehouse: the store (the only writer, split by concern), the read connection, views.
Imports models/, ingest.derive (the refresh's SQL) and ingest.sources.input_path (OS errors).
"""

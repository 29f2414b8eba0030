"""One reader per provider or source: list its files, read them, hand back a load package.
Imports models/, ingest.warehouse's load contract and ingest.derive.host_map; never commits.
"""

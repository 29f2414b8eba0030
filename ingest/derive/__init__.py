"""Derived data rebuilt from what was loaded: classification keys, GPU-hours, idle, lineage.
Imports models/ and ingest.warehouse (its commits go through Store.replace_derived).
"""

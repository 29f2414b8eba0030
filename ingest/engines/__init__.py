"""Engines other than DuckDB for the heavy per-line steps (`finops --engine spark`)."""

"""The pages' queries over the warehouse's rollups and views: a cursor in, plain values out.
Imports models/, ingest/ and (for the Reports page) dashboard.report; no UI library.
"""

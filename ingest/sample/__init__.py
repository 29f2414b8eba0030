"""The sample enterprise generator: a year of native exports, telemetry and inventory plus
the truth they add up to. Imports models/ only; writes files, never the warehouse.
"""

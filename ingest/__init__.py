"""Everything that fills the warehouse: readers (sources/), the one pipeline, the writer and
read connection (warehouse/), derived data (derive/), the sample (sample/). Imports models/ only.
"""

"""Derived warehouse views (classified_costs, gpu_hours, ...) registered with ingest.warehouse.

Each derived dataset registers a function that creates its view on a fresh connection; the
classification and idle layers add theirs here.
"""

from __future__ import annotations

from models.settings import Settings

VIEW_MODULES: tuple[str, ...] = ()


def register_all(settings: Settings) -> None:
    """Register every derived view with the reader, configured by `settings`."""
    import importlib

    for name in VIEW_MODULES:
        importlib.import_module(name).register(settings)

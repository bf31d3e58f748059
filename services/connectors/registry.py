"""Every adapter module, imported once so ADAPTERS holds them (a module that is not there yet is skipped)."""

from __future__ import annotations

import importlib
import importlib.util

from services.connectors.adapters import ADAPTERS, Adapter

# One module per ATS; each registers its adapter at import (services.connectors.adapters.register).
MODULES = ("greenhouse", "recruitee", "lever", "ashby")


def load_adapters() -> dict[str, Adapter]:
    """Import the adapter modules present in this package and return the registry."""
    for module in MODULES:
        name = f"services.connectors.{module}"
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    return ADAPTERS

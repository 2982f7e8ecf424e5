"""CRC-32C (Castagnoli), the checksum of RecordBatch v2 and of kcli's own state files.

The ``crc32c`` package computes it (in hardware where the CPU can).  Its ``__init__`` also
imports ``importlib.metadata`` (for ``__version__``) and ``argparse`` (for its command line),
which together cost more than a one-record ``kcli produce`` spends on everything else of its
own (``benchmarks/bench_cli.py``).  So the package's compiled module is loaded by itself,
exactly as ``import crc32c`` would load it, and registered under its own name so that a later
``import crc32c`` shares it.  Should the package's layout ever change, the ordinary import is
used instead.
"""

from __future__ import annotations

import importlib.machinery
import sys
from collections.abc import Callable

__all__ = ["crc32c"]

_EXTENSION = "crc32c._crc32c"


def _load() -> Callable[..., int]:
    module = sys.modules.get(_EXTENSION)
    if module is None:
        package = importlib.machinery.PathFinder.find_spec("crc32c")
        locations = package.submodule_search_locations if package is not None else None
        spec = (
            importlib.machinery.PathFinder.find_spec(_EXTENSION, locations) if locations else None
        )
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            from crc32c import crc32c as fallback

            return fallback
        module = spec.loader.create_module(spec)
        spec.loader.exec_module(module)
        sys.modules[_EXTENSION] = module
    return module.crc32c


crc32c = _load()

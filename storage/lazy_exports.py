"""A package's public names, each imported from its module on first use (PEP 562).

Used where the start-up benchmark (``benchmarks/bench_cli.py``) shows that importing a
package's modules eagerly costs a command more than it uses: ``storage`` itself and
``kcli.render``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package``, from ``exports``
    (module -> the names it provides).  A name, once loaded, is a plain module attribute."""
    module_of = {name: module for module, names in exports.items() for name in names}
    public = sorted(module_of)

    def getattr_(name: str) -> object:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def dir_() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(public))

    return getattr_, dir_, public

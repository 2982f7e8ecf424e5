"""What the ``kcli`` process does before anything else is imported, to start quickly.

Every command pays for its imports, and ``kcli --help`` is the first command a learner runs.
Two costs here are not kcli's own and are avoidable:

* pydantic (used by typer and by topic configs) looks for plugins through
  ``importlib.metadata`` on first use, which costs tens of milliseconds; kcli uses none, so
  ``PYDANTIC_DISABLE_PLUGINS`` is set unless the user set it.
* typer's help renderer (``typer.rich_utils``) imports ``rich.markdown`` and
  ``rich.traceback`` at module level, which pull in markdown-it and pygments: about a third
  of ``kcli --help``.  typer makes a ``Markdown`` only when an app's ``rich_markup_mode`` is
  ``"markdown"`` (kcli's is ``"rich"``) and a ``Traceback`` only for pretty exceptions (kcli
  turns them off).  So a placeholder module stands in for each until it is really used:
  the first ``Markdown(...)`` (``kcli learn`` makes some), or any other use of the module or
  class, imports the real module and puts it in the placeholder's place.
"""

from __future__ import annotations

import importlib
import os
import sys
import types

# module -> the classes typer imports from it by name
_DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}


def prepare() -> None:
    """Set up the process as described in the module docstring (idempotent)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    import rich

    for name, classes in _DEFERRED.items():
        if name not in sys.modules:
            placeholder = _placeholder(name, classes)
            sys.modules[name] = placeholder
            setattr(rich, name.rpartition(".")[2], placeholder)


def _real(module_name: str) -> types.ModuleType:
    """The real module (imported on first call), in place of its placeholder."""
    module = sys.modules.get(module_name)
    if module is not None and not getattr(module, "_kcli_placeholder", False):
        return module
    sys.modules.pop(module_name, None)
    return importlib.import_module(module_name)


def _placeholder(module_name: str, classes: tuple[str, ...]) -> types.ModuleType:
    module = types.ModuleType(module_name, f"Placeholder for {module_name} (kcli._startup).")
    module._kcli_placeholder = True

    def module_getattr(name: str):
        # The import system probes modules for dunder names (__path__, __file__...): those
        # must not import the real module.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(_real(module_name), name)

    module.__getattr__ = module_getattr
    for class_name in classes:
        setattr(module, class_name, _stand_in(module_name, class_name))
    return module


class _StandInMeta(type):
    """Class attributes of a stand-in (``Traceback.from_exception``) come from the real class."""

    def __getattr__(cls, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(cls._real_class(), name)


def _stand_in(module_name: str, class_name: str) -> type:
    def real_class() -> type:
        return getattr(_real(module_name), class_name)

    def new(cls, *args, **kwargs):
        return real_class()(*args, **kwargs)

    return _StandInMeta(
        class_name,
        (),
        {"__new__": new, "_real_class": staticmethod(real_class), "__module__": module_name},
    )

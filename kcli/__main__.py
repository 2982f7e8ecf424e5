"""``python -m kcli`` and the ``kcli`` console script."""

import os

# pydantic (used by typer and by topic configs) looks for plugins through importlib.metadata
# on first use, which costs tens of milliseconds on every command; kcli uses none.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

from kcli.app import main  # noqa: E402

if __name__ == "__main__":
    main()

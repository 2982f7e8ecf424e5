"""``python -m kcli`` and the ``kcli`` console script."""

from kcli import _startup

_startup.prepare()

from kcli.app import main  # noqa: E402

if __name__ == "__main__":
    main()

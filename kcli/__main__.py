"""``python -m kcli`` and the ``kcli`` console script."""

from kcli.app import main

if __name__ == "__main__":
    main()

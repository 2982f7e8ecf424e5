"""As in tests/cli: every test here runs twice, test[local] on the local store and
test[remote] against a cluster through --bootstrap-server (see tests/cli/conftest.py)."""

from tests.cli.conftest import data_dir, kcli  # noqa: F401  (the same two fixtures)

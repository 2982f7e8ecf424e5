"""The client API over the local store: confluent-kafka's ``Producer``, ``Consumer`` and
``AdminClient`` on a kcli data directory, and ``LocalBackend``, the CLI's view of it.

Use the public names (``kcli.Producer`` ...): they choose this implementation when the
config has no ``bootstrap.servers``."""

"""The client API over a Kafka cluster, through confluent-kafka (librdkafka): kcli's
``Producer`` and ``Consumer`` methods over confluent-kafka's clients, the admin API, and
``RemoteBackend``, the CLI's view of a cluster.

Use the public names (``kcli.Producer`` ...): they choose this implementation when the
config has ``bootstrap.servers``."""

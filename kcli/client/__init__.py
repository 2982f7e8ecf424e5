"""The Python client API: Producer, Consumer and AdminClient over the store, with
confluent-kafka's class names, method names and config keys."""

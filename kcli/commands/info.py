"""`kcli info`."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

from kcli.commands._common import Output, backend, output_option


def info(output: Output | None = output_option()) -> None:
    """Show kcli's version and where the data is: the data directory with its topic count and total size, or the Kafka cluster chosen with --bootstrap-server or --profile (its id, brokers and security protocol; never a secret)."""
    from kcli import __version__, render
    from kcli.connection import config_file

    i = backend().info()
    data = {"version": __version__}
    if i.kind == "local":
        data["data_dir"] = i.location
    else:
        data.update(i.details)
    data.update(cluster_id=i.cluster_id, topics=i.topics, partitions=i.partitions)
    if i.size_bytes is not None:
        data["size_bytes"] = i.size_bytes
    data["config_file"] = str(config_file())
    render.store_info(data, render.resolve(output))

"""`kcli info`."""

from kcli.commands._common import Output, output_option, store


def info(output: Output | None = output_option()) -> None:
    """Show kcli's version, the data directory in use, its topic count and total size."""
    from kcli import __version__, render

    i = store().info()
    render.store_info(
        {
            "version": __version__,
            "data_dir": str(i.data_dir),
            "cluster_id": i.cluster_id,
            "topics": i.topics,
            "partitions": i.partitions,
            "size_bytes": i.size_bytes,
        },
        render.resolve(output),
    )

"""`kcli produce`: write records to a topic, from arguments or from stdin (one per line)."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

from typing import Literal

import typer

from kcli.commands._common import (
    ACKS_HELP,
    COMPRESSION_HELP,
    Acks,
    Compression,
    Output,
    backend,
    output_option,
    producer_settings,
)

INPUT_HELP = (
    "text (default): each VALUE or stdin line is a record's value. json: each is an object "
    '{"value", "key", "headers", "partition", "timestamp"} - exactly what '
    "'kcli consume -o json' prints (other fields are ignored); \"value\": null is a tombstone."
)


def produce(
    topic: str = typer.Argument(..., help="Topic to write to.", metavar="TOPIC"),
    values: list[str] | None = typer.Argument(
        None,
        help="Record values, one record each. Without any, each line of stdin is a record "
        "(empty lines are skipped).",
        show_default=False,
        metavar="VALUE...",
    ),
    key: str | None = typer.Option(
        None,
        "--key",
        "-k",
        help="Key for every record (its hash picks the partition).",
        metavar="KEY",
    ),
    partition: int | None = typer.Option(
        None,
        "--partition",
        "-p",
        help="Write to this partition (default: by key hash, else round-robin).",
        metavar="P",
    ),
    header: list[str] = typer.Option(
        [],
        "--header",
        "-H",
        metavar="KEY=VALUE",
        help="A header for every record. Repeat for several.",
        show_default=False,
    ),
    key_separator: str | None = typer.Option(
        None,
        "--key-separator",
        "-K",
        help="Split each line into KEY and VALUE at the first SEP (e.g. ':').",
        metavar="SEP",
    ),
    input_format: Literal["text", "json"] = typer.Option(
        "text", "--input", "-i", help=INPUT_HELP, metavar="FORM"
    ),
    tombstone: bool = typer.Option(
        False,
        "--tombstone",
        help="Write one record with --key KEY and a null value: a tombstone, which deletes "
        "KEY from a compacted topic.",
        metavar="",
    ),
    compression: Compression | None = typer.Option(
        None, "--compression", "-z", help=COMPRESSION_HELP, metavar="CODEC", show_default=False
    ),
    acks: Acks | None = typer.Option(
        None, "--acks", help=ACKS_HELP, metavar="ACKS", show_default=False
    ),
    output: Output | None = output_option(),
) -> None:
    """Write records to a topic; exit status 0 means every record is stored (fsynced on the local store; on a cluster, acknowledged as --acks asks).

    Values come from the arguments, or else one per line of stdin, streamed in batches (constant memory, any length).

    With -o json one line per record written, {"topic", "partition", "offset"}, in the order they were written (partition by partition); otherwise a summary on stderr.

    Every line is checked before it is queued (JSON fields and their ranges, header keys, a line longer than the topic's max.message.bytes). At a bad line the run stops with one error naming the line and what is wrong: the records of the lines before it are stored and named ("stored lines 1-4"), nothing from the bad line on is written, and the exit status is 1.
    """

    from kcli import produce_input, render
    from kcli.commands._common import parse_pairs

    if key is not None and key_separator is not None:
        raise typer.BadParameter("use either --key or --key-separator, not both")
    if input_format == "json" and (key is not None or key_separator is not None):
        raise typer.BadParameter('with --input json the key comes from each line\'s "key"')
    if key_separator == "":
        raise typer.BadParameter(
            "the key separator cannot be empty", param_hint="'--key-separator'"
        )
    if tombstone and (key is None or values or input_format == "json"):
        raise typer.BadParameter(
            "--tombstone writes one record with --key KEY and no value: give --key and no "
            'VALUE (with --input json, write "value": null on the line instead)',
            param_hint="'--tombstone'",
        )
    try:
        headers = produce_input.command_line_headers(parse_pairs(header, "--header"))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--header'") from None

    from kcli.produce_run import ProduceRequest, produce_records

    produce_records(
        backend(),
        ProduceRequest(
            topic=topic,
            values=None if tombstone else values,
            tombstone=tombstone,
            key=key,
            partition=partition,
            headers=headers,
            key_separator=key_separator,
            json_input=input_format == "json",
            json_output=render.resolve(output) == render.JSON,
            settings=producer_settings(acks, compression),
        ),
    )

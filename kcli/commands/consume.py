"""`kcli consume`: read records by topic, partition and offset, or as a consumer group member."""

# Start-up: every command module is imported for `kcli --help`, so the engine (storage),
# kcli.render and rich are imported inside the commands that use them (benchmarks/bench_cli.py).

from typing import Literal

import typer

from kcli.commands._common import Output, backend, output_option

FORMAT_HELP = (
    "kcat-style format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp "
    "(ms), %h headers, %K/%S key/value length, \\n newline, \\t tab. Example: '%p:%o %s\\n'"
)


def consume(
    topic: str = typer.Argument(..., help="Topic to read.", metavar="TOPIC"),
    partition: int | None = typer.Option(
        None, "--partition", "-p", help="Read only this partition (default: all).", metavar="P"
    ),
    from_offset: int | None = typer.Option(
        None,
        "--from-offset",
        help="Start at offset N of each partition read; negative: N records before the end "
        "(-1 = the last record; all records if a partition holds fewer).",
        metavar="N",
    ),
    from_beginning: bool = typer.Option(
        False,
        "--from-beginning",
        help="Start at each partition's log start offset (default).",
        metavar="",
    ),
    from_end: bool = typer.Option(
        False,
        "--from-end",
        help="Start at the end: only records produced from now on.",
        metavar="",
    ),
    from_time: str | None = typer.Option(
        None,
        "--from-time",
        help="Start at the first record at or after TIME: ISO-8601 (2024-05-01T10:30:00Z) or "
        "a duration before now (-10s, -30m, -1h, -2d); uses the time index.",
        metavar="TIME",
    ),
    max_messages: int | None = typer.Option(
        None, "--max-messages", "-n", help="Stop after N records.", metavar="N"
    ),
    follow: bool = typer.Option(
        False,
        "--follow",
        "-f",
        help="Keep waiting for new records at the end (stop with Ctrl-C).",
        metavar="",
    ),
    fmt: str | None = typer.Option(None, "--format", help=FORMAT_HELP, metavar="FMT"),
    output: Output | None = output_option(),
    print_key: bool = typer.Option(
        False, "--print-key", help="Plain output: print KEY<tab>VALUE.", metavar=""
    ),
    print_headers: bool = typer.Option(
        False,
        "--print-headers",
        help="Plain and table output: print the headers too.",
        metavar="",
    ),
    group: str | None = typer.Option(
        None,
        "--group",
        "-g",
        help="Join consumer group G: read the partitions it assigns, from its committed "
        "offsets, and commit what was printed.",
        metavar="G",
    ),
    assignor: Literal["range", "roundrobin", "sticky", "cooperative-sticky"] = typer.Option(
        "range",
        "--assignor",
        help="With --group: how the group shares the partitions: range, roundrobin, sticky "
        "or cooperative-sticky.",
        metavar="NAME",
    ),
    instance_id: str | None = typer.Option(
        None,
        "--instance-id",
        help="With --group: join as a static member with this group.instance.id (KIP-345). "
        "It does not leave the group on exit; started again within the session timeout it "
        "gets its partitions back with no rebalance.",
        metavar="ID",
    ),
    group_protocol: Literal["classic", "consumer"] = typer.Option(
        "classic",
        "--group-protocol",
        help="With --group and --bootstrap-server: classic (JoinGroup/SyncGroup, the client "
        "assigns) or consumer (KIP-848: the broker assigns, partitions move one at a time).",
    ),
    session_timeout_ms: int = typer.Option(
        45000,
        "--session-timeout-ms",
        help="With --group: after this long without heartbeats a member is considered dead.",
        metavar="MS",
    ),
    reset: Literal["earliest", "latest"] = typer.Option(
        "earliest",
        "--reset",
        help="With --group, where a partition without a committed offset starts (kcli's "
        "default is earliest; Kafka's auto.offset.reset default is latest).",
    ),
) -> None:
    """Print records of a topic, then exit at the end (or keep waiting with --follow).

    Default: every partition from the beginning. Within a partition records come in offset order.

    A terminal shows "partition P offset O  key → value" lines; a pipe gets the values, one per line; -o json gives one object per record: {"topic", "partition", "offset", "timestamp", "key", "value", "headers"}.

    Keys and values that are not UTF-8 are shown with U+FFFD in "key"/"value" and given exactly, base64, in "key_b64"/"value_b64" ("headers_b64" for headers); 'kcli produce --input json' reads them back byte for byte. A record without a value has "value": null in JSON and shows as (tombstone) in the table and plain forms ((null) when it has no key either); --format's %s prints nothing for it and %S prints -1, as kcat does.
    """
    from kcli import render

    starts = [
        name
        for name, given in (
            ("--from-offset", from_offset is not None),
            ("--from-beginning", from_beginning),
            ("--from-end", from_end),
            ("--from-time", from_time is not None),
        )
        if given
    ]
    if len(starts) > 1:
        raise typer.BadParameter(f"choose one start position, not {' and '.join(starts)}")
    if max_messages is not None and max_messages < 1:
        raise typer.BadParameter("must be 1 or more", param_hint="'--max-messages'")
    form = render.resolve(output)
    if fmt is not None and form == render.JSON:
        raise typer.BadParameter("use either --format or -o json, not both")
    if instance_id is not None and group is None:
        raise typer.BadParameter(
            "a group.instance.id belongs to a group member; add --group G",
            param_hint="'--instance-id'",
        )
    if instance_id is not None and not instance_id.strip():
        raise typer.BadParameter("must not be empty", param_hint="'--instance-id'")
    if group_protocol == "consumer" and group is None:
        raise typer.BadParameter(
            "the consumer protocol is a group's protocol; add --group G",
            param_hint="'--group-protocol'",
        )
    if group is not None:
        if partition is not None or starts:
            raise typer.BadParameter(
                "with --group the group assigns partitions and committed offsets say where "
                "to start; drop --partition/--from-* (use --reset earliest|latest)"
            )
        if session_timeout_ms < 1:
            raise typer.BadParameter("must be 1 or more", param_hint="'--session-timeout-ms'")
    try:
        writer = render.RecordWriter(
            form, fmt=fmt, print_key=print_key, print_headers=print_headers
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--format'") from None

    from kcli.consume_loop import ConsumeRequest, consume_topic

    b = backend()
    if group_protocol == "consumer" and b.kind == "local":
        raise typer.BadParameter(
            "the consumer protocol (KIP-848) is served by a broker: add --bootstrap-server "
            "(a Kafka cluster, or a kcli serve of this data directory)",
            param_hint="'--group-protocol'",
        )
    consume_topic(
        b,
        writer,
        ConsumeRequest(
            topic=topic,
            partition=partition,
            from_offset=from_offset,
            from_end=from_end,
            from_time=from_time,
            max_messages=max_messages,
            follow=follow,
            group=group,
            assignor=assignor,
            session_timeout_ms=session_timeout_ms,
            reset=reset,
            instance_id=instance_id,
            group_protocol=group_protocol,
        ),
    )

"""The one place that prints.

Commands hand data to a function here, which picks the form:

* ``table`` — rich tables and pictures, when stdout is a terminal (or ``-o table``);
* ``plain`` — plain lines a shell pipe can cut and grep (the default in a pipe);
* ``json`` — JSON Lines with stable field names (``-o json``).

Data goes to stdout; progress, summaries, hints and errors go to stderr.  Progress bars are
drawn only when stderr is a terminal.  rich is imported only when something is drawn with it,
so plain and JSON output never pay for it.

The pieces live in one module per concept:

* ``output`` — the form to use, consoles, the small writers, generic tables;
* ``progress`` — progress bars;
* ``records`` — consumed records (``RecordWriter``, kcat ``--format`` strings);
* ``topics`` and ``picture`` — ``kcli topic list/describe`` and the partition picture;
* ``groups`` — ``kcli group`` (list, describe, watch, reset, simulate);
* ``log_dump`` — ``kcli log dump``;
* ``reports`` — ``kcli info`` and ``kcli perf``;
* ``check`` — ``kcli check``;
* ``cluster`` — ``kcli cluster`` (start, status, elect-leaders).

Commands import only this package (``from kcli import render``) and use the names below.
"""

from kcli.render.check import check_report
from kcli.render.cluster import cluster_started, cluster_status, cluster_watch, elections
from kcli.render.group_members import group_members, group_state
from kcli.render.group_simulation import group_simulation
from kcli.render.groups import (
    group_describe,
    group_list,
    group_reset,
    group_watch,
)
from kcli.render.log_dump import LogDump, log_dump
from kcli.render.output import (
    JSON,
    PLAIN,
    TABLE,
    colors,
    console,
    data_lines,
    hint,
    human_bytes,
    human_ms,
    json_line,
    line,
    note,
    plain_rows,
    reader_left,
    resolve,
    stderr_is_terminal,
    stdout_is_terminal,
    table,
)
from kcli.render.picture import partition_picture
from kcli.render.progress import progress
from kcli.render.records import FORMAT_TOKENS, RecordWriter, compile_format, record_json_slow
from kcli.render.reports import perf_report, store_info
from kcli.render.topics import topic_compact, topic_describe, topic_list

__all__ = [
    "FORMAT_TOKENS",
    "cluster_started",
    "cluster_status",
    "cluster_watch",
    "elections",
    "JSON",
    "PLAIN",
    "TABLE",
    "LogDump",
    "log_dump",
    "check_report",
    "RecordWriter",
    "colors",
    "compile_format",
    "console",
    "data_lines",
    "group_describe",
    "group_list",
    "group_members",
    "group_reset",
    "group_simulation",
    "group_state",
    "group_watch",
    "hint",
    "human_bytes",
    "human_ms",
    "json_line",
    "line",
    "note",
    "partition_picture",
    "perf_report",
    "plain_rows",
    "progress",
    "reader_left",
    "record_json_slow",
    "resolve",
    "stderr_is_terminal",
    "stdout_is_terminal",
    "store_info",
    "table",
    "topic_compact",
    "topic_describe",
    "topic_list",
]

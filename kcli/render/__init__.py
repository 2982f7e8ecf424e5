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
* ``groups``, ``group_members``, ``group_watch`` and ``group_simulation`` — ``kcli group``
  (list, describe, reset; members and state; watch; simulate), on the tables of
  ``group_tables``;
* ``log_dump`` — ``kcli log dump``;
* ``reports`` — ``kcli info`` and ``kcli perf``;
* ``check`` — ``kcli check``;
* ``cluster`` — ``kcli cluster`` (start, status, elect-leaders).

Commands import only this package (``from kcli import render``) and use the names below.

Each name is loaded from its module on first use (PEP 562), so a command loads only the
renderers it uses: a one-record ``kcli produce`` would otherwise import every one of them at
start-up (``benchmarks/bench_cli.py``).
"""

from __future__ import annotations

from storage.lazy_exports import lazy_exports

# module -> the names it provides
_EXPORTS = {
    "kcli.render.check": ("check_report",),
    "kcli.render.cluster": (
        "cluster_started",
        "cluster_status",
        "cluster_watch",
        "elections",
        "status_view",
    ),
    "kcli.render.group_simulation": ("group_simulation",),
    "kcli.render.group_members": ("group_members", "group_state"),
    "kcli.render.groups": ("group_describe", "group_list", "group_reset"),
    "kcli.render.group_watch": ("group_watch",),
    "kcli.render.log_dump": ("LogDump", "log_dump"),
    "kcli.render.output": (
        "JSON",
        "PLAIN",
        "TABLE",
        "colors",
        "console",
        "data_lines",
        "hint",
        "human_bytes",
        "human_ms",
        "json_line",
        "line",
        "note",
        "plain_rows",
        "reader_left",
        "resolve",
        "stderr_is_terminal",
        "stdout_is_terminal",
        "table",
    ),
    "kcli.render.picture": ("partition_picture",),
    "kcli.render.progress": ("progress",),
    "kcli.render.records": ("FORMAT_TOKENS", "RecordWriter", "compile_format", "record_json_slow"),
    "kcli.render.reports": ("perf_report", "store_info"),
    "kcli.render.topics": ("topic_compact", "topic_describe", "topic_list"),
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)

"""``kcli check``: each partition's offsets and state, then every problem with its file and
what a repair did."""

from __future__ import annotations

from kcli.render.output import JSON, PLAIN, json_line, line, note, plain_rows, table


def _status(partition) -> str:
    if not partition.problems:
        return "ok"
    if partition.ok:
        return "repaired"
    return f"{len(partition.problems)} problem(s)"


def check_report(report, form: str) -> None:
    """A StoreCheck (``storage.store_check``) as a table, plain lines or JSON lines."""
    if form == JSON:
        for p in report.partitions:
            json_line(
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "segments": p.segments,
                    "log_start_offset": p.log_start_offset,
                    "log_end_offset": p.log_end_offset,
                    "ok": p.ok,
                    "problems": [
                        {"file": x.file, "problem": x.problem, "repaired": x.repaired}
                        for x in p.problems
                    ],
                }
            )
        for x in report.store_problems:
            json_line({"file": x.file, "problem": x.problem, "repaired": x.repaired})
        return
    rows = [
        (p.topic, p.partition, p.segments, p.log_start_offset, p.log_end_offset, _status(p))
        for p in report.partitions
    ]
    problems = [
        (f"{p.topic}-{p.partition}", x.file, x.problem, x.repaired or "-")
        for p in report.partitions
        for x in p.problems
    ] + [("-", x.file, x.problem, x.repaired or "-") for x in report.store_problems]
    if form == PLAIN:
        plain_rows(rows)
        for where, file, problem, repaired in problems:
            line(f"{where}\t{file}\t{problem}\t{repaired}")
    else:
        columns = ("Topic", "Partition", "Segments", "LogStartOffset", "LogEndOffset", "Status")
        table(columns, rows, right=columns[1:5])
        if problems:
            table(("Partition", "File", "Problem", "Repaired"), problems)
    if report.ok and not problems:
        note(f"Checked {len(report.partitions)} partition(s): no problems.")
    elif report.ok:
        note(f"Repaired {len(problems)} problem(s).")
    else:
        unrepaired = sum(1 for x in report.problems if not x.repaired)
        hint_text = "" if report.repaired else "; 'kcli check --repair' fixes what loses no data"
        note(f"{unrepaired} problem(s) found{hint_text}.")

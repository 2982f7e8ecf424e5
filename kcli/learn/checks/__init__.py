"""The checks a lesson's front matter names, judged on the store's state.

One module per concept: ``base`` (findings, the context, the registry of kinds), ``store``
(topics and records), ``groups`` (consumer groups), ``jobs`` (what a pipeline wrote) and ``cluster`` (a
``kcli cluster``'s metadata log and broker logs).
Importing this package registers every kind.
"""

from __future__ import annotations

from pathlib import Path

from kcli.errors import KcliError
from kcli.learn.checks import cluster, groups, jobs, store  # noqa: F401 (register their kinds)
from kcli.learn.checks.base import CHECKS, CheckReport, Context, Finding, Missing

__all__ = ["CHECKS", "CheckReport", "Finding", "run_checks"]


def run_checks(
    specs: tuple[dict, ...] | list[dict], data_dir: Path, lesson_number: int | None = None
) -> CheckReport:
    """Judge every check of a lesson against the store in ``data_dir``.

    ``lesson_number`` lets the advice name the lesson (``kcli learn reset N``)."""
    ctx = Context(data_dir, lesson_number)
    findings: list[Finding] = []
    try:
        for spec in specs:
            kind = spec.get("kind")
            fn = CHECKS.get(kind)
            if fn is None:
                raise KcliError(
                    f"unknown check kind {kind!r} in a lesson; known kinds: {', '.join(sorted(CHECKS))}"
                )
            try:
                findings.extend(fn(ctx, spec))
            except Missing as exc:
                findings.append(Finding(False, str(exc)))
    finally:
        ctx.close()
    # Several checks may stop on the same missing topic: say it once.
    unique = list(dict.fromkeys(findings))
    return CheckReport(tuple(unique))

"""Checks on consumer groups: members, assignments, rebalances, committed offsets and lag."""

from __future__ import annotations

from kcli.learn.checks.base import Context, Finding, check, plural


def rerun(ctx: Context, spec: dict, topic: str, group: str) -> str:
    """How to read the rest: the lesson's own job when it has one (a bare consume would
    commit the offsets and skip the job's work), else a plain consume in the group."""
    if spec.get("job"):
        return f"run the {spec['job']} again (kcli learn hint {ctx.lesson_number} --solution)"
    return f"consume the rest with: kcli consume {topic} --group {group}"


@check("group")
def _group(ctx: Context, spec: dict) -> list[Finding]:
    """A consumer group: live members, idle members, committed offsets and lag."""
    group, topic = spec["group"], spec["topic"]
    ctx.topic(topic)
    desc = ctx.describe_group(group)
    out = [Finding(True, f"consumer group '{group}' exists")]
    members = len(desc.members)
    want_members = spec.get("min_members")
    if want_members is not None:
        ok = members >= want_members
        msg = f"group '{group}' has {plural(members, 'live member')}"
        if not ok:
            msg += (
                f"; the exercise wants {want_members} running at the same time (start them "
                f"with --follow in separate terminals and keep them running while you check)"
            )
        out.append(Finding(ok, msg))
    want_idle = spec.get("idle_members")
    if want_idle is not None:
        idle = sum(1 for m in desc.members if not m.assignment)
        ok = idle >= want_idle
        msg = f"group '{group}' has {plural(idle, 'idle member')} (no partitions assigned)"
        if not ok:
            msg += f"; start more consumers than '{topic}' has partitions"
        out.append(Finding(ok, msg))
    if spec.get("owners_unique", False) or want_members:
        owners: dict[tuple[str, int], int] = {}
        for m in desc.members:
            for tp in m.assignment:
                owners[tuple(tp)] = owners.get(tuple(tp), 0) + 1
        shared = [tp for tp, n in owners.items() if n > 1]
        out.append(
            Finding(
                not shared,
                "no partition has two owners in the group"
                if not shared
                else f"partition(s) {shared} have more than one owner",
            )
        )
    want_protocol = spec.get("protocol")
    if want_protocol is not None:
        ok = desc.protocol == want_protocol
        msg = f"group '{group}' rebalances {desc.protocol or 'not at all (no members)'}"
        if not ok:
            msg += (
                f"; the exercise wants {want_protocol} (start every consumer with "
                f"--assignor cooperative-sticky)"
            )
        out.append(Finding(ok, msg))
    if spec.get("two_rounds"):
        out.append(_two_rounds(desc))
    if spec.get("caught_up"):
        out.extend(_caught_up(ctx, spec, group, topic, live=members > 0))
    return out


def _two_rounds(desc) -> Finding:
    """A cooperative rebalance in two rounds: one generation left revoked partitions waiting,
    the next gave every one of them to a member."""
    records = list(desc.rebalances)
    for first, second in zip(records, records[1:], strict=False):
        given = {tp for _mid, tps in second.added for tp in tps}
        if first.waiting and set(first.waiting) <= given:
            moved = ", ".join(f"{t}-{p}" for t, p in first.waiting)
            return Finding(
                True,
                f"generation {first.generation} revoked {moved}, generation "
                f"{second.generation} assigned it: a rebalance in two rounds",
            )
    return Finding(
        False,
        f"no rebalance of group '{desc.group}' moved a partition in two rounds yet; add a "
        f"consumer to the running group (all with --assignor cooperative-sticky)",
    )


def _caught_up(ctx: Context, spec: dict, group: str, topic: str, *, live: bool) -> list[Finding]:
    lag = ctx.lag(group, topic)
    never = [p for p, v in lag.items() if v is None]
    behind = {p: v for p, v in lag.items() if v}
    if live and (never or behind):
        # Running members commit as they go: another consumer started now would only
        # trigger a rebalance, so the advice is to let them work.
        fix = "its running consumers commit every few seconds: wait a moment and check again"
    else:
        fix = rerun(ctx, spec, topic, group)
    if never:
        return [
            Finding(
                False,
                f"group '{group}' has committed no offset for partition(s) "
                f"{', '.join(map(str, never))} of '{topic}'; {fix}",
            )
        ]
    if behind:
        total = sum(behind.values())
        return [
            Finding(
                False,
                f"group '{group}' is {plural(total, 'record')} behind on '{topic}' (lag {total}); "
                f"{fix}",
            )
        ]
    return [Finding(True, f"group '{group}' has read and committed all of '{topic}' (lag 0)")]


@check("groups_caught_up")
def _groups_caught_up(ctx: Context, spec: dict) -> list[Finding]:
    """Each of the named ``groups`` has read the whole topic independently (lag 0)."""
    topic = spec["topic"]
    ctx.topic(topic)
    known = {summary.group for summary in ctx.groups.list_groups()}
    out = []
    for group in spec["groups"]:
        if group not in known:
            others = sorted(g for g in known if not g.startswith("demo-"))
            seen = f" (groups so far: {', '.join(others)})" if others else ""
            out.append(
                Finding(
                    False,
                    f"consumer group '{group}' does not exist yet{seen}; it appears when a "
                    f"consumer runs with: kcli consume {topic} --group {group}",
                )
            )
            continue
        out.extend(_caught_up(ctx, spec, group, topic, live=False))
    return out

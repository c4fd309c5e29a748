"""The trial report as plain text, for a terminal or a mail body."""

from __future__ import annotations

from ledger.observe.timefmt import day_date, stamp
from ledger.ops.report import ADDRESS_NOTE, OUTCOMES, Trial
from ledger.ops.report_verdict import Verdict


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "-"


def render(trial: Trial, verdict: Verdict) -> str:
    t = trial.totals
    first, last = trial.days[0].day, trial.days[-1].day
    mode = trial.unmatched_action
    lines = [
        f"sender-ledger trial report for '{trial.namespace}', {stamp(trial.generated)} UTC",
        f"period: {len(trial.days)} days, {day_date(first)} .. {day_date(last)} "
        f"({trial.observed_days()} with activity)",
        f'mode now: unmatched_action = "{mode}"'
        + (" (a trial: nothing is refused for not matching)" if mode == "tag" else ""),
        ADDRESS_NOTE[trial.log_addresses],
        "",
        f"sent: {t['recorded']} recorded, {t['spooled']} spooled, {t['record_failed']} lost",
        f"decided: {t['candidates']} bounces and autoreplies: {t['matched']} matched, "
        f"{t['unmatched']} unmatched, {t['failed']} undecidable on our side",
        "  " + "  ".join(f"{o} {t[o]}" for o in OUTCOMES),
        f"would have been refused (550 in reject mode): {t['would_reject']}",
        f"  by kind: {_counts(trial.would_reject_kinds)}",
        f"  by cause (log): {_counts(trial.would_reject_causes)}",
        f"  of mail that is ours (real-looking): {trial.real_looking}",
        f"accepted by the envelope check alone (no reference found): {trial.envelope_total}",
    ]
    for e in trial.envelope_listed:
        lines.append(f"  {stamp(e.time)}  {e.queue_id or '-'}  {e.client or '-'}  -> "
                     f"{','.join(e.recipients) or '-'}  {e.kind or '-'}")
    lines += ["", "day          decided  accept     tag  reject tempfail  would-reject  recorded"]
    for d in trial.days:
        o = d.outcomes
        lines.append(f"{day_date(d.day)}  {d.candidates:>7} {o['accept']:>7} {o['tag']:>7} "
                     f"{o['reject']:>7} {o['tempfail']:>8} {d.would_reject:>13} {d.recorded:>9}")
    lines += ["", "our senders that received bounces matching nothing they sent through us:"]
    if trial.recipients:
        width = max(9, *(len(r.recipient) for r in trial.recipients))
        lines.append(f"  {'recipient':<{width}}  unmatched  would-reject  real-looking  matched  kinds")
        for r in trial.recipients:
            lines.append(f"  {r.recipient:<{width}}  {r.unmatched:>9}  {r.would_reject:>12}  "
                         f"{r.real_looking:>12}  {r.matched:>7}  {_counts(dict(r.kinds))}")
    else:
        lines.append("  none")
    oldest = stamp(trial.log_oldest) if trial.log_oldest is not None else "-"
    lines += ["", f"log: {trial.log_read} decisions read, oldest {oldest}"
              + ("" if trial.log_complete else
                 f"; it does not hold all {t['candidates']} decisions of the period (observe.log_days, "
                 "observe.log_entries): the per-recipient figures cover the logged ones only"),
              "spool: " + (f"{trial.spool_records} record(s) waiting, oldest "
                           f"{trial.spool_oldest_seconds:.0f} s" if trial.spool_records else "empty"),
              "", f"verdict: {verdict.text}"]
    lines += [f"  - {o.text}" for o in verdict.obstacles]
    return "\n".join(lines) + "\n"

"""The trial report as one self-contained HTML page, to be mailed to a colleague.

Invariants: inline CSS, an inline SVG chart, no script, no external resource
(no link, image or font is fetched: the page reads the same in a mail client
that blocks them). Every value from Redis is escaped, since log fields such
as the client name come from the other side of an SMTP session.
"""

from __future__ import annotations

from html import escape

from ledger.observe.timefmt import day_date, stamp
from ledger.ops.report import ADDRESS_NOTE, OUTCOMES, DayRow, Trial
from ledger.ops.report_verdict import Verdict

COLOURS = {"accept": "#3a8d3a", "tag": "#e0a020", "reject": "#c0392b", "tempfail": "#7f8c8d"}
STYLE = """
body{font-family:sans-serif;margin:2em;color:#222;max-width:60em}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;margin:.5em 0}
th,td{border:1px solid #ccc;padding:.2em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
.safe{background:#e3f4e3;border:1px solid #3a8d3a;padding:.6em}
.unsafe{background:#fbe5e1;border:1px solid #c0392b;padding:.6em}
.note{color:#666;font-size:.9em}
"""
WIDTH, HEIGHT, PAD = 720, 240, 40


def chart(days: list[DayRow]) -> str:
    """An SVG bar chart: per day the decisions stacked by outcome, with the would-be refusals marked."""
    top = max([d.candidates for d in days] + [d.would_reject for d in days] + [1])
    slot = (WIDTH - 2 * PAD) / max(1, len(days))
    bar = max(2.0, slot * 0.7)
    scale = (HEIGHT - 2 * PAD) / top
    base = HEIGHT - PAD
    parts = [f'<svg width="{WIDTH}" height="{HEIGHT + 20}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT + 20}" role="img" aria-label="decisions per day by outcome">',
             f'<line x1="{PAD}" y1="{base}" x2="{WIDTH - PAD}" y2="{base}" stroke="#444"/>',
             f'<text x="{PAD - 4}" y="{PAD + 4}" font-size="11" text-anchor="end">{top}</text>',
             f'<text x="{PAD - 4}" y="{base}" font-size="11" text-anchor="end">0</text>']
    label_every = max(1, len(days) // 10)
    for i, d in enumerate(days):
        x = PAD + i * slot + (slot - bar) / 2
        y = float(base)
        for outcome in OUTCOMES:
            n = d.outcomes[outcome]
            if not n:
                continue
            h = n * scale
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{COLOURS[outcome]}"><title>{day_date(d.day)} {outcome}: {n}</title></rect>')
        if d.would_reject:
            wy = base - d.would_reject * scale
            parts.append(f'<line x1="{x - 2:.1f}" y1="{wy:.1f}" x2="{x + bar + 2:.1f}" y2="{wy:.1f}" '
                         f'stroke="#000" stroke-width="2" stroke-dasharray="4 2">'
                         f'<title>{day_date(d.day)} would have been refused: {d.would_reject}</title></line>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{base + 14}" font-size="10" '
                         f'text-anchor="middle">{day_date(d.day)[5:]}</text>')
    lx = PAD
    for outcome in OUTCOMES:
        parts.append(f'<rect x="{lx}" y="{HEIGHT + 4}" width="10" height="10" fill="{COLOURS[outcome]}"/>'
                     f'<text x="{lx + 14}" y="{HEIGHT + 13}" font-size="11">{outcome}</text>')
        lx += 90
    parts.append(f'<line x1="{lx}" y1="{HEIGHT + 9}" x2="{lx + 12}" y2="{HEIGHT + 9}" stroke="#000" '
                 f'stroke-width="2" stroke-dasharray="4 2"/><text x="{lx + 16}" y="{HEIGHT + 13}" '
                 'font-size="11">would have been refused</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[object]]) -> str:
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in row) + "</tr>")
    return "".join(out) + "</table>"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "-"


def render(trial: Trial, verdict: Verdict) -> str:
    t = trial.totals
    first, last = day_date(trial.days[0].day), day_date(trial.days[-1].day)
    title = f"sender-ledger trial report: {trial.namespace}, {first} .. {last}"
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="note">generated {escape(stamp(trial.generated))} UTC; mode now: '
        f'unmatched_action = "{escape(trial.unmatched_action)}"; {trial.observed_days()} of '
        f"{len(trial.days)} days with activity; {escape(ADDRESS_NOTE[trial.log_addresses])}</p>",
        f'<div class="{"safe" if verdict.safe else "unsafe"}"><strong>{escape(verdict.text)}</strong>',
    ]
    if verdict.obstacles:
        body.append("<ul>" + "".join(f"<li>{escape(o.text)}</li>" for o in verdict.obstacles) + "</ul>")
    body.append("</div>")
    body += ["<h2>Decisions per day</h2>", chart(trial.days),
             _table(["day", "decided", *OUTCOMES, "would be refused", "recorded"],
                    [[day_date(d.day), d.candidates, *(d.outcomes[o] for o in OUTCOMES), d.would_reject,
                      d.recorded] for d in trial.days]),
             "<h2>Totals</h2>",
             _table(["", "count"], [
                 ["sent messages recorded", t["recorded"]], ["records lost", t["record_failed"]],
                 ["bounces and autoreplies decided", t["candidates"]], ["matched", t["matched"]],
                 ["unmatched", t["unmatched"]], ["undecidable on our side", t["failed"]],
                 ["would have been refused", t["would_reject"]],
                 ["... of mail that is ours (real-looking)", trial.real_looking],
                 ["accepted by the envelope check alone", trial.envelope_total]]),
             f"<p>Would have been refused, by kind: {escape(_counts(trial.would_reject_kinds))}; "
             f"by cause: {escape(_counts(trial.would_reject_causes))}.</p>",
             "<h2>Our senders with bounces that match nothing they sent through us</h2>",
             _table(["recipient", "unmatched", "would be refused", "real-looking", "matched", "kinds"],
                    [[r.recipient, r.unmatched, r.would_reject, r.real_looking, r.matched,
                      _counts(dict(r.kinds))] for r in trial.recipients]) if trial.recipients
             else "<p>none</p>",
             "<h2>Accepted by the envelope check alone</h2>",
             _table(["time", "queue id", "client", "recipients", "kind"],
                    [[stamp(e.time), e.queue_id or "-", e.client or "-", ",".join(e.recipients),
                      e.kind or "-"] for e in trial.envelope_listed]) if trial.envelope_listed
             else "<p>none</p>"]
    if not trial.log_complete:
        body.append(f'<p class="note">The decision log holds {trial.log_read} of the period\'s '
                    f"{t['candidates']} decisions: the per-recipient figures cover those only.</p>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
            + "\n".join(body) + "</body></html>\n")

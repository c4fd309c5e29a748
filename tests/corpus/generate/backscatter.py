"""Turn every backscatter format into its samples, with the expectations."""

from __future__ import annotations

from collections.abc import Iterator

from tests.corpus.generate import common as c
from tests.corpus.generate import notices, realworld, replies, reports, subscriptions, textbounces
from tests.corpus.generate.cases import Format, make_case

ALL_FORMATS: list[Format] = [
    *textbounces.FORMATS,
    *reports.FORMATS,
    *notices.FORMATS,
    *replies.FORMATS,
    *subscriptions.FORMATS,
    *realworld.FORMATS,
]


def samples(formats: list[Format] | None = None) -> Iterator[c.Sample]:
    for fmt in formats or ALL_FORMATS:
        rng = c.rng_for(fmt.name)
        for index in range(fmt.count):
            case = make_case(fmt, rng, index)
            built = fmt.build(case)
            kind = built.kind or fmt.kind
            refs: list[str] = []
            if built.has_ref:
                refs = [case.original.norm_id, *built.extra_refs]
            must_not = ([c.norm(built.own_id)] if built.own_id else []) + case.original.own_ids()
            must_not += built.extra_must_not
            rcpt = built.rcpt or [case.rcpt]
            note = {
                "normal": "",
                "noref": "carries no findable ID of the original",
                "forged": "about a message forged in our user's name (ID never sent)",
                "cross": "quotes a real message of another of our users",
            }[case.mode]
            if not built.form:
                note = (note + "; " if note else "") + "only a heuristic (subject) marks it: at most tagged"
            meta = c.sidecar(
                fmt=fmt.name,
                generated_by=fmt.generated_by,
                mail_from=built.mail_from,
                rcpt=rcpt,
                kind=kind,
                references=refs,
                must_not=must_not,
                rcpts_of_original=built.rcpts_stated,
                original=case.recorded,
                form=built.form,
                note=note,
            )
            yield c.Sample("backscatter", fmt.name, f"{fmt.name}-{index + 1:02d}", built.raw, meta, case.eol)

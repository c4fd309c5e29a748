"""The literal substrings every match of a regular expression must contain.

A detector's marker table is a long alternation searched over a bounce's
whole text, and the regex engine tries every alternative at every position.
Most texts contain none of the markers, and each alternative of a marker
contains a fixed run of characters ("diagnostic information for
administrators"): if the text holds none of those runs, no alternative can
match, and a plain substring test (C speed) says so.

Invariant: :func:`required_literals` never returns a set of literals that a
match could lack all of. It reads the compiled pattern's parse tree
(``re._parser``, the stdlib's own reading): for each top-level alternative,
a run of plain characters outside any repeat, option, lookaround or flag
group, or a plain group all of whose alternatives have such literals (their
union), whichever has the longest shortest literal. It gives up (None:
always run the pattern) when an alternative has no literal of three or more
characters, when the pattern ignores case, or when the parser's internals are
not the ones known here. Cost: once per pattern, at import.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

MIN_LITERAL = 3

_sre: Any
_sre_parse: Any
try:  # the stdlib's own pattern parser; without it every pattern simply always runs
    _sre = importlib.import_module("re._constants")
    _sre_parse = importlib.import_module("re._parser")
except ImportError:  # pragma: no cover - a Python without these modules
    _sre = _sre_parse = None


def _alternatives(items: list[Any]) -> list[list[Any]]:
    """The top-level alternatives of a sequence (one alternative if it is no branch)."""
    assert _sre is not None
    if len(items) == 1:
        op, av = items[0]
        if op is _sre.BRANCH:
            return [list(alternative) for alternative in av[1]]
        if op is _sre.SUBPATTERN and not av[1] and not av[2]:
            return _alternatives(list(av[3]))
    return [items]


def _required(sequence: list[Any]) -> frozenset[str] | None:
    """Literals one of which every match of ``sequence`` contains; the choice whose shortest
    literal is longest. A run of plain characters gives one literal; a plain group whose
    alternatives all have some gives their union."""
    assert _sre is not None
    best: frozenset[str] | None = None

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found and min(map(len, found)) >= MIN_LITERAL and (
                best is None or min(map(len, found)) > min(map(len, best))):
            best = found

    run = ""
    for op, av in sequence:
        if op is _sre.LITERAL:
            run += chr(av)
            consider(frozenset({run}))
            continue
        run = ""
        if op is _sre.BRANCH:  # a non-capturing group of alternatives
            consider(_union([list(alternative) for alternative in av[1]]))
        elif op is _sre.SUBPATTERN and not av[1] and not av[2]:
            consider(_union(_alternatives(list(av[3]))))
    return best


def _union(alternatives: list[list[Any]]) -> frozenset[str] | None:
    found: set[str] = set()
    for alternative in alternatives:
        required = _required(alternative)
        if required is None:
            return None
        found |= required
    return frozenset(found)


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...] | None:
    """Literals one of which is in every text the pattern matches; None when unknown."""
    if _sre is None or _sre_parse is None or pattern.flags & re.IGNORECASE:
        return None
    try:
        found = _union(_alternatives(list(_sre_parse.parse(pattern.pattern, pattern.flags))))
    except Exception:  # the parser's internals changed: no shortcut, the pattern always runs
        return None
    return None if found is None else tuple(sorted(found))

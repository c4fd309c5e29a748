"""The literal pre-check of marker patterns never hides a match (ledger.check.literals)."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from ledger.check import parse, patterns
from ledger.check.detectors import bounce, challenge, subscription, virus
from ledger.check.literals import required_literals
from ledger.check.patterns import Marker, lowered

CORPUS = Path(__file__).parent / "corpus"

REQUIRED = [
    (r"abc", ("abc",)),
    (r"ab", None),  # too short to be worth a test: the pattern always runs
    (r"foo(?:bar)?baz", ("foo",)),  # the optional part is not required, "foo" and "baz" are
    (r"x(?:hello|world)y", ("hello", "world")),
    (r"(?:hello|hi) there|general kenobi", (" there", "general kenobi")),
    (r"(?:a|the) cat", (" cat",)),
    (r"a+bcd", ("bcd",)),
    (r"(?:ab)+cd", None),
    (r"(?i)hello", None),  # ignoring case: no shortcut
    (r"(?m)^hello$", ("hello",)),  # other flags do not change what a literal is
    (r"(?=abc)x|defg", None),  # a lookahead's text is no literal of the match
    (r"(?:[0-9]{3}) user unknown|no such user", (" user unknown", "no such user")),
]


@pytest.mark.parametrize(("pattern", "expected"), REQUIRED)
def test_required_literals_of_small_patterns(pattern: str, expected: tuple[str, ...] | None) -> None:
    found = required_literals(re.compile(pattern))
    assert found == expected
    for text in _matches(pattern):
        assert re.search(pattern, text) and found and any(literal in text for literal in found)


def _matches(pattern: str) -> list[str]:
    """Texts the pattern matches, written by hand for the table above."""
    samples = {
        r"abc": ["abc"], r"foo(?:bar)?baz": ["foobaz", "foobarbaz"],
        r"x(?:hello|world)y": ["xhelloy", "xworldy"],
        r"(?:hello|hi) there|general kenobi": ["hi there", "hello there", "general kenobi"],
        r"(?:a|the) cat": ["a cat", "the cat"], r"a+bcd": ["aaabcd"],
        r"(?:[0-9]{3}) user unknown|no such user": ["550 user unknown", "no such user"],
    }
    return samples.get(pattern, [])


def _markers() -> list[tuple[str, Marker]]:
    found: list[tuple[str, Marker]] = []
    for module in (bounce, challenge, virus, subscription, patterns):
        for name in dir(module):
            value = getattr(module, name)
            if isinstance(value, Marker):
                found.append((f"{module.__name__}.{name}", value))
            elif isinstance(value, tuple) and value and all(
                    isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], Marker)
                    for item in value):
                found.extend((f"{module.__name__}.{name}.{item[0]}", item[1]) for item in value)
    return found


def _texts() -> list[str]:
    texts = [parse(path.read_bytes()).body_lower() for path in sorted(CORPUS.rglob("*.eml"))]
    shuffled = random.Random(7)  # the same texts cut at random places: matches near the ends
    texts += [t[shuffled.randrange(len(t)):] for t in texts if t]
    return texts


def test_markers_find_exactly_what_their_patterns_find() -> None:
    """Every detector marker over every corpus text (and cut copies): same answer as the bare regex."""
    markers = _markers()
    assert len(markers) > 30 and sum(m.literals is not None for _, m in markers) > 25
    texts = _texts()
    for name, marker in markers:
        for text in texts:
            plain = marker.pattern.search(text)
            fast = marker.search(text)
            assert (plain is None) == (fast is None), (name, text[:200])
            if plain is not None:
                assert fast is not None and fast.span() == plain.span()


def test_a_marker_keeps_finditer_and_sub() -> None:
    marker = lowered(r"user unknown|no such user")
    assert [m.group(0) for m in marker.finditer("x user unknown y no such user")] == ["user unknown",
                                                                                   "no such user"]
    assert marker.sub("-", "a user unknown b") == "a - b"
    assert marker.sub("-", "nothing here") == "nothing here"

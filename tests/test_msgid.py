"""Message-ID normalisation: every spelling of one ID must hash the same."""

from __future__ import annotations

import pytest

from ledger import msgid


@pytest.mark.parametrize(
    "raw",
    [
        "<Abc.123@Example.COM>",
        "  <abc.123@example.com>  ",
        "<abc.123@example.com> (added by relay)",
        "(comment) <abc.123@example.com>",
        "\r\n\t<abc.123@\r\n example.com>",
        "< abc.123@example.com >",
        "abc.123@example.com",
        b"<ABC.123@example.com>",
    ],
)
def test_spellings_normalise_alike(raw: str | bytes) -> None:
    assert msgid.normalise(raw) == "abc.123@example.com"


@pytest.mark.parametrize("raw", [None, "", "   ", "<>", "()", "<" + "a" * 2000 + "@x>"])
def test_unusable_values_give_none(raw: str | None) -> None:
    assert msgid.normalise(raw) is None


def test_all_in_header_keeps_order_and_drops_duplicates() -> None:
    value = "<a@x.example> <B@x.example>\r\n <a@x.example> (c) <c@y.example>"
    assert msgid.all_in_header(value) == ["a@x.example", "b@x.example", "c@y.example"]


def test_in_text_finds_bracketed_ids_only() -> None:
    text = "see <one@host.example> and two@host.example and < three@host.example >"
    assert msgid.in_text(text) == ["one@host.example", "three@host.example"]


def test_generated_ids_are_unique_and_normalisable() -> None:
    ids = {msgid.generate("example.test") for _ in range(1000)}
    assert len(ids) == 1000
    for value in ids:
        norm = msgid.normalise(value)
        assert norm is not None and norm.endswith("@example.test")
        assert len(norm.split(".")[1].split("@")[0]) == 32  # 128 random bits in hex

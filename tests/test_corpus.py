"""The corpus (tests/corpus/): every message gives what its sidecar states.

Each message is inspected twice: with an empty ledger, and after recording the
sidecar's "original" the way the outbound side would (Recorder.record, which
also stores the (sender, recipient) pairs once they exist). Expectations come
from docs/policy.md (worked out by tests/corpus/generate/common.py), not from what
the code returns today.

Each sample states an outcome, not only the SMTP answer: "pass" (a ledger
match: ``matched`` and a ``pass (...)`` trace), "unverified" (tagged:
not matched, an ``unverified (...)`` trace), "accept" (no trace) or "reject".
A tagged accept can therefore never stand in for a ledger match.
"""

from __future__ import annotations

import base64
import email
import email.policy
import html
import json
import quopri
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ledger import msgid
from ledger.check import Envelope
from ledger.decide import Cause, Decision
from ledger.record import SentMessage

CORPUS = Path(__file__).parent / "corpus"
KINDS = {"dsn", "bounce", "virus", "challenge", "subscription", "autoreply", "mdn", "arf", "unknown"}
KEYS = {
    "format",
    "generated_by",
    "mail_from",
    "rcpt",
    "kind",
    "references",
    "must_not_reference",
    "recipients_of_original",
    "original",
    "action_with_entry",
    "action_without_entry",
    "outcome_with_entry",
    "outcome_without_entry",
}

# outcome -> (action, matched, trace prefix or None for no trace header)
OUTCOMES: dict[str, tuple[str, bool, str | None]] = {
    "pass": ("accept", True, "pass ("),
    "unverified": ("accept", False, "unverified ("),
    "accept": ("accept", False, None),
    "reject": ("reject", False, None),
}


@dataclass(frozen=True)
class Sample:
    group: str
    eml: Path
    meta: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.group}/{self.eml.parent.name}/{self.eml.stem}"


def load(group: str) -> list[Sample]:
    found = []
    for sidecar in sorted((CORPUS / group).glob("*/*.json")):
        found.append(Sample(group, sidecar.with_suffix(".eml"), json.loads(sidecar.read_text())))
    return found


BACKSCATTER = load("backscatter")
ORDINARY = load("ordinary")
ALL = BACKSCATTER + ORDINARY


def inspect(inspector: Any, sample: Sample) -> Decision:
    envelope = Envelope(mail_from=sample.meta["mail_from"], recipients=list(sample.meta["rcpt"]))
    decision: Decision = inspector.inspect(envelope, sample.eml.read_bytes())
    return decision


def record_original(recorder: Any, sample: Sample) -> None:
    original = sample.meta["original"]
    if original is None:
        return
    recorder.record(
        SentMessage(
            mail_from=original["mail_from"],
            recipients=list(original["recipients"]),
            message_id=original["message_id"],
            from_header=original["from"],
        )
    )


def check(decision: Decision, sample: Sample, action: str, outcome: str | None) -> None:
    meta = sample.meta
    kind = meta["kind"]
    if outcome == "accept" and meta.get("ordinary_unless_matched"):
        # docs/policy.md, "Weak signals": heuristic-only mail with a real sender is ordinary mail
        # unless the ledger knows it: not a candidate at all, of no kind, and nothing looked for in it
        got = f"{decision.cause} ({decision.reason})"
        assert decision.cause == Cause.ORDINARY and not decision.candidate, got
        assert decision.kind is None and not decision.references
    else:
        if kind != "any":
            assert decision.kind == kind, f"kind {decision.kind!r}, expected {kind!r} ({decision.reason})"
        missing = [r for r in meta["references"] if r not in decision.references]
        assert not missing, f"references not found: {missing}; found {list(decision.references)}"
    wrong = [r for r in meta["must_not_reference"] if r in decision.references]
    assert not wrong, f"must not be references: {wrong}"
    assert decision.action == action, f"action {decision.action}, expected {action} ({decision.reason})"
    if meta["kind"] is None:  # ordinary mail that is no candidate: untouched
        assert not decision.candidate and not decision.matched and decision.trace is None
    if outcome is None:
        return
    _, matched, trace = OUTCOMES[outcome]
    got = f"matched={decision.matched}, trace={decision.trace!r} ({decision.reason})"
    assert decision.matched is matched, f"expected {outcome}: {got}"
    if trace is None:
        assert decision.trace is None, f"expected {outcome}: {got}"
    else:
        assert decision.trace is not None and decision.trace.startswith(trace), f"expected {outcome}: {got}"
    if outcome == "pass" and decision.references:  # step 1: counted against the original's budget
        assert decision.matches, f"a pass by reference without a match to count: {got}"
    elif outcome == "pass":  # step 3: the envelope check
        assert decision.reason.startswith("envelope: "), got


@pytest.mark.parametrize("sample", ALL, ids=lambda s: s.id)
def test_without_entry(sample: Sample, inspector: Any, redis_client: Any) -> None:
    check(inspect(inspector, sample), sample, sample.meta["action_without_entry"],
          sample.meta["outcome_without_entry"])


@pytest.mark.parametrize("sample", ALL, ids=lambda s: s.id)
def test_with_entry(sample: Sample, inspector: Any, recorder: Any, redis_client: Any) -> None:
    record_original(recorder, sample)
    check(inspect(inspector, sample), sample, sample.meta["action_with_entry"],
          sample.meta["outcome_with_entry"])


@pytest.mark.parametrize("sample", ALL, ids=lambda s: s.id)
def test_sidecar_is_well_formed(sample: Sample) -> None:
    """The contract of tests/corpus/README.md: keys, kinds, outcomes, normalised IDs, our domain."""
    meta = sample.meta
    assert sample.eml.is_file()
    assert set(meta) >= KEYS, f"missing keys: {KEYS - set(meta)}"
    assert meta["rcpt"] and all(r.endswith("@example.test") for r in meta["rcpt"])
    for ref in meta["references"] + meta["must_not_reference"]:
        assert msgid.normalise(f"<{ref}>") == ref, f"not normalised: {ref}"
    assert not set(meta["references"]) & set(meta["must_not_reference"])
    if meta["original"] is not None:
        assert meta["original"]["mail_from"].endswith("@example.test")
        assert msgid.normalise(meta["original"]["message_id"])
    if sample.group == "ordinary":
        assert meta["kind"] is None or meta["kind"] in KINDS | {"any"}
        assert meta["action_with_entry"] == meta["action_without_entry"] == "accept"
        assert meta["outcome_with_entry"] is meta["outcome_without_entry"] is None
    else:
        assert meta["kind"] in KINDS
        assert {meta["action_with_entry"], meta["action_without_entry"]} <= {"accept", "reject"}
        for state in ("with_entry", "without_entry"):
            outcome = meta[f"outcome_{state}"]
            assert outcome in OUTCOMES and OUTCOMES[outcome][0] == meta[f"action_{state}"]
        assert meta["outcome_without_entry"] != "pass"  # an empty ledger matches nothing
        assert meta["generated_by"].startswith(("real software: ", "written from "))


def _encoded_message(part: email.message.Message) -> str:
    """A message/* part sent base64 or quoted-printable, decoded (the parser leaves it encoded)."""
    cte = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if cte not in ("base64", "quoted-printable"):
        return ""
    inner = part.get_payload()[0]
    text = inner.as_string() if isinstance(inner, email.message.Message) else ""
    data = base64.b64decode(text, validate=False) if cte == "base64" else quopri.decodestring(text.encode())
    return data.decode("utf-8", "replace")


def flat_text(raw: bytes) -> str:
    """Everything a reader could find in a message: raw, every part decoded, HTML unescaped twice."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    texts = [raw.decode("utf-8", "replace")]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            texts.append(payload.decode("utf-8", "replace"))
        elif part.get_content_maintype() == "message" and part.is_multipart():
            texts.append(_encoded_message(part))
    return re.sub(r"\s+", "", html.unescape(html.unescape("\n".join(texts)))).lower()


@pytest.mark.parametrize("sample", BACKSCATTER, ids=lambda s: s.id)
def test_sidecar_matches_message(sample: Sample) -> None:
    """The expectations hold in the file: what must be found is there; a no-reference sample has none."""
    meta = sample.meta
    text = flat_text(sample.eml.read_bytes())
    for ref in meta["references"]:
        assert ref in text, f"reference {ref} is not in the message"
    for address in meta["recipients_of_original"]:
        assert address in text, f"original recipient {address} is not in the message"
    if not meta["references"] and meta["original"] is not None:
        assert meta["original"]["message_id"].strip("<>").lower() not in text


def test_corpus_size() -> None:
    formats = Counter(s.meta["format"] for s in BACKSCATTER)
    assert len(BACKSCATTER) >= 200, f"{len(BACKSCATTER)} backscatter messages"
    assert len(formats) >= 40, f"{len(formats)} formats: {sorted(formats)}"
    assert len(ORDINARY) >= 1000, f"{len(ORDINARY)} ordinary messages"


def test_about_one_in_eight_bounces_has_no_reference() -> None:
    """docs/policy.md: about one real bounce in eight carries no findable Message-ID."""
    bounces = [s for s in BACKSCATTER if s.meta["kind"] in ("dsn", "bounce")]
    without = [s for s in bounces if not s.meta["references"]]
    share = len(without) / len(bounces)
    assert 0.08 <= share <= 0.2, f"{len(without)} of {len(bounces)} bounces without a reference"


# At most this share of ordinary mail may be tagged (issue 8): a tag is noise users learn to ignore.
MAX_TAGGED_SHARE = 1 / 1000


def test_ordinary_mail_is_never_refused_and_almost_never_tagged(
    inspector: Any, recorder: Any, redis_client: Any
) -> None:
    """Over the whole ordinary side, with an empty ledger and with the original recorded:
    no answer but accept, and at most MAX_TAGGED_SHARE of the answers tagged."""
    refused: list[str] = []
    tagged: list[str] = []
    answers = 0
    for sample in ORDINARY:
        for state in ("empty ledger", "with the original recorded"):
            decision = inspect(inspector, sample)
            answers += 1
            if decision.action != "accept":
                refused.append(f"{sample.id} ({state}): {decision.action} ({decision.reason})")
            elif decision.outcome == "tag":
                tagged.append(f"{sample.id} ({state}): {decision.kind} ({decision.reason})")
            record_original(recorder, sample)
    listing = "\n".join(refused + tagged)
    assert not refused and len(tagged) <= answers * MAX_TAGGED_SHARE, (
        f"{len(refused)} refused, {len(tagged)} tagged of {answers} answers "
        f"({answers // 2} ordinary messages):\n{listing}"
    )

"""The documented defaults (docs/policy.md) against every place that states them.

The expected values are read from the document's tables, never from the table
the code itself uses: the config's settings tables, ``decide.Policy``, the
sample configuration and the corpus generator must all say what the document
says. And nothing the repository holds may cite a document outside it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import fields
from pathlib import Path

from ledger import decide
from ledger.config import (
    InboundSettings,
    LedgerSettings,
    NoReferenceSettings,
    UnmatchedSettings,
    load_config,
)
from tests.corpus.generate import common as corpusgen

ROOT = Path(__file__).resolve().parent.parent
POLICY_DOC = ROOT / "docs" / "policy.md"
SAMPLE = ROOT / "conf" / "sender-ledger.toml"


def table(text: str, header: list[str]) -> list[list[str]]:
    """The rows of the markdown table whose header cells are ``header`` (backticks dropped)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if cells(line) == header:
            rows = []
            for row in lines[i + 2:]:  # past the |---| line
                if not row.startswith("|"):
                    break
                rows.append(cells(row))
            assert rows, f"table {header} is empty"
            return rows
    raise AssertionError(f"docs/policy.md has no table {header}")


def cells(line: str) -> list[str]:
    return [c.strip().strip("`") for c in line.strip().strip("|").split("|")] if "|" in line else []


TEXT = POLICY_DOC.read_text()
KIND_ROWS = table(TEXT, ["kind", "[inbound.no_reference]", "[inbound.unmatched]"])
DOC_NO_REFERENCE = {kind: no_ref for kind, no_ref, _ in KIND_ROWS}
DOC_UNMATCHED = {kind: unmatched for kind, _, unmatched in KIND_ROWS}
DOC_SETTINGS = dict(table(TEXT, ["setting", "default"]))  # type: ignore[arg-type]
DOC_EXCEPTIONS = {kind: action for kind, action in DOC_UNMATCHED.items()
                  if action != DOC_SETTINGS["inbound.unmatched_action"]}


def test_the_document_tables_are_complete() -> None:
    kinds = [f.name for f in fields(NoReferenceSettings)]
    assert list(DOC_NO_REFERENCE) == kinds  # every kind, in the order of the settings table
    assert [f.name for f in fields(UnmatchedSettings)] == kinds
    assert set(DOC_NO_REFERENCE.values()) <= {"reject", "tag", "accept"}
    assert set(DOC_UNMATCHED.values()) <= {"reject", "tag", "accept"}
    assert set(DOC_SETTINGS) == {"inbound.unmatched_action", "inbound.unreachable_action",
                                 "ledger.matches_per_recipient", "ledger.lifetime_days",
                                 "inbound.exceptions.relay_action"}
    # the sentences around the tables say the same
    assert DOC_EXCEPTIONS == {"arf": "tag"} and "only\n`arf` has an exception" in TEXT


def test_the_config_defaults_are_the_documented_ones() -> None:
    assert NoReferenceSettings().as_dict() == DOC_NO_REFERENCE
    assert UnmatchedSettings().as_dict() == DOC_EXCEPTIONS
    inbound, ledger = InboundSettings(), LedgerSettings()
    assert inbound.unmatched_action == DOC_SETTINGS["inbound.unmatched_action"]
    assert inbound.unreachable_action == DOC_SETTINGS["inbound.unreachable_action"]
    assert str(ledger.matches_per_recipient) == DOC_SETTINGS["ledger.matches_per_recipient"]
    assert str(ledger.lifetime_days) == DOC_SETTINGS["ledger.lifetime_days"]
    assert inbound.exceptions.relay_action == DOC_SETTINGS["inbound.exceptions.relay_action"]
    assert inbound.exceptions.recipients == () and inbound.exceptions.trusted_relays == ()
    cfg = load_config(None, require_secret=False)  # no file at all: the same
    assert cfg.inbound.no_reference.as_dict() == DOC_NO_REFERENCE
    assert cfg.inbound.unmatched.as_dict() == DOC_EXCEPTIONS


def test_the_decision_policy_defaults_are_the_documented_ones() -> None:
    policy = decide.Policy()
    assert dict(policy.no_reference) == DOC_NO_REFERENCE
    assert policy.unmatched_action == DOC_SETTINGS["inbound.unmatched_action"]
    assert policy.unreachable_action == DOC_SETTINGS["inbound.unreachable_action"]
    assert str(policy.matches_per_recipient) == DOC_SETTINGS["ledger.matches_per_recipient"]
    assert policy.relay_action == DOC_SETTINGS["inbound.exceptions.relay_action"]
    assert not policy.exception_recipients and not policy.trusted_relays
    for kind in DOC_NO_REFERENCE:
        assert decide.no_reference_action(policy, kind) == DOC_NO_REFERENCE[kind]
        assert decide.unmatched_action(policy, kind) == DOC_UNMATCHED[kind]
    # "a kind the table does not know takes unknown's"
    assert decide.no_reference_action(policy, "no-such-kind") == DOC_NO_REFERENCE["unknown"]


def test_the_sample_config_states_the_documented_defaults() -> None:
    raw = tomllib.loads(SAMPLE.read_text())
    assert raw["inbound"]["no_reference"] == DOC_NO_REFERENCE  # every kind written out
    assert raw["inbound"]["unmatched"] == DOC_EXCEPTIONS
    assert raw["inbound"]["unmatched_action"] == DOC_SETTINGS["inbound.unmatched_action"]
    assert raw["inbound"]["unreachable_action"] == DOC_SETTINGS["inbound.unreachable_action"]
    assert str(raw["ledger"]["matches_per_recipient"]) == DOC_SETTINGS["ledger.matches_per_recipient"]
    assert str(raw["ledger"]["lifetime_days"]) == DOC_SETTINGS["ledger.lifetime_days"]
    exceptions = raw["inbound"]["exceptions"]
    assert exceptions == {"recipients": [], "trusted_relays": [],
                          "relay_action": DOC_SETTINGS["inbound.exceptions.relay_action"]}
    cfg = load_config(str(SAMPLE), require_secret=False)
    assert cfg.inbound.no_reference.as_dict() == DOC_NO_REFERENCE
    assert {k: cfg.inbound.unmatched.as_dict().get(k) or cfg.inbound.unmatched_action
            for k in DOC_UNMATCHED} == DOC_UNMATCHED


def test_the_corpus_expectations_come_from_the_documented_defaults() -> None:
    assert corpusgen.NO_REFERENCE_DEFAULT == DOC_NO_REFERENCE
    assert corpusgen.UNMATCHED_EXCEPTIONS == DOC_EXCEPTIONS


def test_the_documented_budget_and_steps_match_the_code() -> None:
    assert "max(1, recorded recipients) x ledger.matches_per_recipient" in TEXT
    steps = re.findall(r"^(\d)\. ", TEXT, re.M)
    assert steps == ["0", "1", "2", "3", "4", "5", "6"]
    docstring = decide.__doc__ or ""
    assert "docs/policy.md" in docstring
    assert re.findall(r"^(\d)\. ", docstring, re.M) == steps


# A document or path outside the repository: the issue notes, the shared briefs, parents.
# Built from pieces, so that this line does not itself name them.
OUTSIDE = re.compile("|".join([r"ISSUE" + r"\d", r"\bshared" + "/", r"\.\." + "/", "/" + "work/",
                               "REDIS-" + "LAYOUTS", "POSTFIX-" + "TESTBED", "BRIEF" + r"\.md"]))


def test_nothing_cites_a_document_outside_the_repository() -> None:
    files = [ROOT / "README.md", ROOT / "pyproject.toml"]
    for top in ("ledger", "tests", "scripts", "conf", "docs", ".ci", "debian"):
        files += [p for p in (ROOT / top).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    offending = []
    for path in files:
        if path.suffix in (".eml", ".json", ".pyc") or path == Path(__file__):
            continue  # mail samples are data; this file names the patterns
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if OUTSIDE.search(line):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offending, "\n".join(offending)
    for cited in ("docs/policy.md", "docs/redis-layout.md"):
        assert (ROOT / cited).is_file()


def test_the_documented_causes_are_the_code_causes() -> None:
    from ledger.decide import Cause

    table = TEXT.split("## Causes", 1)[1].split("\n## ", 1)[0]
    documented = {row.split("|")[1].strip() for row in table.splitlines()
                  if row.startswith("| ") and not row.startswith("| cause") and "---" not in row}
    assert documented == {str(c) for c in Cause}

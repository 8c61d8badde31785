"""Deduplicating a lead file within itself and against the brand's leads and borrowers. Pure, no I/O.

Identifiers decide: a record whose phone, email or PAN is an earlier record's of the file, or an existing
lead's, is a **duplicate** (not created; the first one wins). A record whose identifier is a borrower's is
created and **linked** to that borrower (the lead has signed up already). A record none of whose identifiers
agree is compared by **name** with the candidates the caller found by blocking (`name_keys`, the notice
matcher's keys: the whole name and pairs of its words) and with the earlier records of the file filed under the
same keys: `name_exact` (the same name once normalised), `name_partial` (one name's words all in the other:
"Suresh Menon" / "Suresh Kumar Menon") or `name_fuzzy` (rapidfuzz-based `name_similarity` >= 80), with the
score. A name alone never drops a record (many people share a name): the lead is created and flagged as a
possible duplicate of the best candidate.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.leads.csv_import import LeadRow
from domain.notices.matching import name_key, name_keys, name_similarity

FUZZY_MIN = 80
PER_KEY = 5  # records kept per blocking key (as the notice matcher's blocking: the first few are enough)
ID_KINDS = ("phone", "email", "pan")
NAME_KINDS = ("name_exact", "name_partial", "name_fuzzy")
MATCH_KINDS = (*ID_KINDS, *NAME_KINDS)


@dataclass(frozen=True)
class Known:
    """An existing lead or borrower of the brand that a record could be."""

    kind: str  # "lead" | "borrower"
    id: UUID
    name: str
    phone: str | None
    email: str | None
    pan: str | None


@dataclass(frozen=True)
class Outcome:
    """What becomes of one record."""

    row: LeadRow
    duplicate: bool  # not created
    match_kind: str | None  # one of MATCH_KINDS
    score: int | None  # 100 for identifiers, the name score for names
    matched_kind: str | None  # "lead" | "borrower" | "row"
    matched_id: UUID | None  # the lead or borrower
    matched_line: int | None  # the earlier record of the file
    borrower_id: UUID | None  # the borrower the lead is linked to


def name_match(a: str, b: str) -> tuple[str, int] | None:
    """How two names agree: (kind, score) or None."""
    key_a, key_b = name_key(a), name_key(b)
    if not key_a or not key_b:
        return None
    if key_a == key_b:
        return "name_exact", 100
    score = name_similarity(a, b)
    words_a, words_b = set(key_a.split()), set(key_b.split())
    if min(len(words_a), len(words_b)) >= 2 and (words_a <= words_b or words_b <= words_a):
        return "name_partial", max(score, FUZZY_MIN)
    if score >= FUZZY_MIN:
        return "name_fuzzy", score
    return None


def lead_name_keys(name: str) -> list[str]:
    """The keys a name is filed under for blocking: the notice matcher's `name_keys`, plus each ordered pair of
    its words' first three letters ("~sur men"), so a typo past the third letter still meets its original."""
    words = [w[:3] for w in name_key(name).split()[:6] if len(w) > 1]
    extra = {f"~{a} {b}" for i, a in enumerate(words) for j, b in enumerate(words) if i != j}
    return sorted({*name_keys(name)[1], *extra})


def _ids(item: LeadRow | Known) -> Iterable[tuple[str, str]]:
    for kind in ID_KINDS:
        value = getattr(item, kind)
        if value:
            yield kind, value.casefold() if kind == "email" else value


def dedupe(rows: Sequence[LeadRow], known: Sequence[Known]) -> list[Outcome]:
    """The outcome of each record, in file order."""
    known_by_id: dict[tuple[str, str], Known] = {}
    for item in sorted(known, key=lambda k: k.kind != "lead"):  # a lead outranks a borrower with the same value
        for key in _ids(item):
            known_by_id.setdefault(key, item)
    known_by_name: dict[str, list[Known]] = defaultdict(list)
    for item in known:
        for name_key_ in lead_name_keys(item.name):
            known_by_name[name_key_].append(item)
    kept_by_id: dict[tuple[str, str], LeadRow] = {}
    kept_by_name: dict[str, list[LeadRow]] = defaultdict(list)
    outcomes: list[Outcome] = []
    for row in rows:
        outcome = _by_identifier(row, kept_by_id, known_by_id) or _by_name(row, kept_by_name, known_by_name)
        outcomes.append(outcome)
        if outcome.duplicate:
            continue
        for key in _ids(row):
            kept_by_id.setdefault(key, row)
        for name_key_ in lead_name_keys(row.name):
            bucket = kept_by_name[name_key_]
            if len(bucket) < PER_KEY:
                bucket.append(row)
    return outcomes


def _by_identifier(
    row: LeadRow, kept: dict[tuple[str, str], LeadRow], known: dict[tuple[str, str], Known]
) -> Outcome | None:
    borrower: tuple[str, Known] | None = None
    for key in _ids(row):
        earlier = kept.get(key)
        if earlier is not None:
            return Outcome(row, True, key[0], 100, "row", None, earlier.line, None)
        found = known.get(key)
        if found is not None and found.kind == "lead":
            return Outcome(row, True, key[0], 100, "lead", found.id, None, None)
        if found is not None and borrower is None:
            borrower = key[0], found
    if borrower is not None:
        kind, found = borrower
        return Outcome(row, False, kind, 100, "borrower", found.id, None, found.id)
    return None


def _by_name(row: LeadRow, kept: dict[str, list[LeadRow]], known: dict[str, list[Known]]) -> Outcome:
    """The best name agreement among the records filed under the row's keys (blocking: never a scan)."""
    best: tuple[int, str, str, UUID | None, int | None] | None = None
    seen_lines: set[int] = set()
    seen_ids: set[UUID] = set()
    keys = lead_name_keys(row.name)
    for key in keys:
        for earlier in kept.get(key, ()):
            if earlier.line in seen_lines:
                continue
            seen_lines.add(earlier.line)
            agreed = name_match(row.name, earlier.name)
            if agreed and (best is None or agreed[1] > best[0]):
                best = (agreed[1], agreed[0], "row", None, earlier.line)
        for item in known.get(key, ()):
            if item.id in seen_ids:
                continue
            seen_ids.add(item.id)
            agreed = name_match(row.name, item.name)
            if agreed and (best is None or agreed[1] > best[0]):
                best = (agreed[1], agreed[0], item.kind, item.id, None)
    if best is None:
        return Outcome(row, False, None, None, None, None, None, None)
    score, kind, matched_kind, matched_id, line = best
    return Outcome(row, False, kind, score, matched_kind, matched_id, line, None)

"""Pure rules that score a repayment notice against candidate borrower records.

The caller blocks candidates (same loan number, phone as primary or alternate, trigram-similar `name_key`) and
passes them in; `match` scores each one and picks the best. No I/O here.

Name similarity (`name_score`, 0-100) compares `name_key`s token by token, so word order does not matter:
each token of the shorter name pairs with at most one token of the longer (best pairs first). A pair of
whole words scores their rapidfuzz ratio after folding common Indian spelling variants (ksh/x, th/t, sh/s,
w/v, ee/i, doubled letters, Mohd/Md/Mohammed ...), and 0 below 85, so one typo passes but "Ramesh"/"Rajesh"
does not; an initial pairs with a word starting with its letter (90) or the same initial (100). The name
score is the mean over the shorter name's tokens, less 5 per surplus token of the longer name (a dropped
middle name), at most 70 when either name is a single word and at most 50 when only initials paired. Names
equal once spaces are removed ("Sai Kumar" / "Saikumar") score 100 before those caps. Examples:
"Karthik R" / "R. Karthik" 100, "Suresh Kumar Menon" / "Suresh Menon" 95, "Ramesh Menon" / "Suresh Menon"
50 (same surname only), "Lakshmi Iyer" / "Ramesh Menon" 0.

Confidence (integer arithmetic, s = name_score):

    evidence              confidence         s=100  s=50  s=0
    own loan number       100                  100   100  100   (a Covenant Desk loan of the borrower)
    loan number + phone   95 + 5*s//100        100    97   95
    loan number           85 + 15*s//100       100    92   85
    phone                 60 + 30*s//100        90    75   60   (high from s >= 67)
    name only             max(0, s - 25)        75    25    0   (medium from s >= 75, FLOOR from s >= 55)

Bands: high >= 80, medium 50-79, low below 50. Below FLOOR nothing is matched. "name" is listed among the
methods when s >= 55, the score at which the name alone reaches FLOOR. Equally good best candidates (the
same confidence; a candidate agreed by a Covenant Desk loan of its own outranks the others) lower the band one
step, capping the confidence at 79 (high -> medium) or 49 (medium -> low; tied low candidates stay low); the
first of them by customer_id string is chosen.

Blocking by name (`name_keys` for a borrower, `name_probes` for a notice) follows from the score: a name only
candidate counts from s >= 55, and that needs at least two of the shorter name's words paired, one of them a
whole word (a one-word name: that word). So a borrower is filed under its whole name (its words sorted, "=..."),
and under every ordered pair of its words whose first is a whole word: "kartik r:raman" (the folded word, then
the other's first letter and folded spelling), "kartik r" for an initial. A notice looks up its whole name, each
of its whole words alone (a borrower of one word), each pair of its whole words (or one whole word and the
other's initial, for a borrower's initial), and for an initial of its own the prefix "kartik r" (any word of the
borrower starting with that letter). Words count as the same here only when they fold alike; the score then
judges each candidate.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

import phonenumbers
from rapidfuzz.fuzz import ratio as _ratio

from domain.shared.errors import InvalidInput
from domain.shared.values import normalise_phone

METHODS = ("loan_number", "phone", "name")
FLOOR = 30  # below this confidence: unmatched
HIGH = 80
MEDIUM = 50
MAX_CANDIDATES = 5
OWN_LOAN = 100  # the notice's loan number is one of Covenant Desk's own loans of the borrower: certain

NAME_METHOD_MIN = 55  # the name score at which the name alone reaches FLOOR (s - 25 >= 30)
TOKEN_MIN = 85  # a whole-word pair below this ratio is a different word, not a typo
INITIAL_SCORE = 90  # an initial agrees with a word but says less than the word itself
SURPLUS_TOKEN_PENALTY = 5
SINGLE_WORD_CAP = 70  # one word ("Suresh") fits many borrowers
INITIALS_ONLY_CAP = 50
KEY_TOKENS = 6  # blocking keys pair the first few words of a name only (n words make n * (n - 1) keys)

HONORIFICS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "master",
        "shri",
        "sri",
        "shree",
        "smt",
        "shrimati",
        "srimati",
        "sushri",
        "kumari",
        "kum",
        "dr",
        "prof",
        "late",
        "thiru",
        "thirumathi",
        "tmt",
    }
)
# Spellings of one name that the folding below does not bring together.
_ALIASES = {
    "md": "muhammad",
    "mohd": "muhammad",
    "mohammed": "muhammad",
    "mohammad": "muhammad",
    "mohamed": "muhammad",
    "mohamad": "muhammad",
    "muhammed": "muhammad",
}
# Longest first, so "ksh" is folded before "sh"; then doubled letters collapse ("aa" -> "a").
_FOLDS = {
    "ksh": "x",
    "th": "t",
    "dh": "d",
    "bh": "b",
    "kh": "k",
    "gh": "g",
    "ph": "f",
    "sh": "s",
    "ck": "k",
    "ee": "i",
    "oo": "u",
}
_FOLD_RE = re.compile("|".join(sorted(_FOLDS, key=len, reverse=True)))
_LETTER_FOLDS = str.maketrans({"w": "v", "z": "j", "q": "k", "y": "i"})
_DOUBLED_RE = re.compile(r"(.)\1+")
# "Ramesh S/O Krishnan": what follows s/o, d/o, w/o, c/o (or "son of" ...) names someone else.
_RELATION_RE = re.compile(r"\b(?:[sdwc]\s*/\s*o|(?:son|daughter|wife|husband)\s+of)\b.*", re.DOTALL)
_APOSTROPHE_RE = re.compile(r"['’`]")  # "D'Souza" is one word
# Anything but letters and digits separates words; Indic vowel signs and joiners are not \w but belong to words
# (the dandas U+0964-5 are punctuation).
_NON_WORD_RE = re.compile(r"(?:[^\w\u0300-\u036f\u0900-\u0963\u0966-\u0dff\u200c\u200d]|_)+")
_VOWELS = frozenset("aeiouy")
# The methods that agreed, by (loan number, phone, name) agreement, in METHODS order.
_METHODS_BY_AGREEMENT = {
    flags: tuple(method for method, ok in zip(METHODS, flags, strict=True) if ok)
    for flags in itertools.product((False, True), repeat=len(METHODS))
}


@dataclass(frozen=True)
class Candidate:
    """A borrower record that could be the notice's borrower."""

    customer_id: UUID
    name: str
    phones: tuple[str, ...]  # E.164, primary first then alternates
    loan_numbers: tuple[str, ...]
    #: Covenant Desk's own loans of the borrower among the notice's loan numbers: a notice naming one is theirs.
    own_loans: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scored:
    """One candidate's confidence, the methods that agreed and its name similarity."""

    customer_id: UUID
    confidence: int  # 0..100
    methods: tuple[str, ...]  # subset of METHODS in that order
    name_score: int  # 0..100
    own_loan: bool = False  # agreed by a Covenant Desk loan of the borrower: outranks any equal confidence


@dataclass(frozen=True)
class MatchResult:
    """The notice's best borrower (None when unmatched) and the candidates staff may review."""

    customer_id: UUID | None  # None when unmatched
    confidence: int  # 0 when unmatched
    band: str  # "high" | "medium" | "low" | "unmatched"
    methods: tuple[str, ...]
    candidates: tuple[Scored, ...]  # the best few (at most 5, more only when more tie for best), best first


@dataclass(frozen=True, slots=True)
class _Token:
    """One word of a name: its first letter, its folded spelling, and whether it is an initial."""

    letter: str
    folded: str
    initial: bool


@dataclass(frozen=True, slots=True)
class _Name:
    """A name prepared once for pairing: its words, and its folded spelling without spaces."""

    tokens: tuple[_Token, ...]
    joined: str
    has_word: bool  # not only initials


def band_of(confidence: int) -> str:
    """The band of a confidence: high >= 80, medium 50..79, low below 50."""
    if confidence >= HIGH:
        return "high"
    if confidence >= MEDIUM:
        return "medium"
    return "low"


def name_key(name: str) -> str:
    """A name normalised for comparison and trigram blocking: lower case, no honorifics or punctuation."""
    text = unicodedata.normalize("NFKC", name or "").casefold()
    without_relation = _RELATION_RE.sub(" ", text)
    if _NON_WORD_RE.sub("", without_relation):
        text = without_relation
    tokens = _NON_WORD_RE.sub(" ", _APOSTROPHE_RE.sub("", text)).split()
    start = 0
    # Leading honorifics only ("Priya Kumari" keeps her surname), and never the last word.
    while start < len(tokens) - 1 and tokens[start] in HONORIFICS:
        start += 1
    return " ".join(tokens[start:])


def phone_key(phone: str) -> str | None:
    """The phone in E.164 (Indian numbers in any common format), or None when it is not a phone number."""
    known = _PHONES.get(phone, _UNSEEN)
    if known is not _UNSEEN:
        return known  # type: ignore[return-value]
    e164 = _indian_mobile(phone)
    if e164 is None:
        try:
            e164 = normalise_phone(phone)
        except InvalidInput:
            e164 = None
    if len(_PHONES) >= _PHONES_KEPT:
        _PHONES.clear()
    _PHONES[phone] = e164
    if e164 is not None:
        _PHONES[e164] = e164  # the notice's E.164 form comes back to be matched
    return e164


#: phone_key's answers: a re-sync sees the same phones again, and a notice's E.164 form is matched after it is made.
_PHONES: dict[str, str | None] = {}
_PHONES_KEPT = 250_000
_UNSEEN = object()
# An Indian number as sources write mobiles, once spaces and dashes are gone: ten digits after +91, 91, 0091 or 0.
_MOBILE_SHAPE = re.compile(r"(?:\+91|0091|91|0)?([6-9]\d{9})")
_SPACING = str.maketrans("", "", " \t\r\n-")
_IN = phonenumbers.PhoneMetadata.metadata_for_region("IN")


def _plan(desc: Any) -> tuple[frozenset[int], re.Pattern[str]] | None:
    """A numbering-plan description as (possible lengths, pattern), as the library checks one."""
    if desc is None or desc.national_number_pattern is None:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


_IN_PLAN = _plan(_IN.general_desc) if _IN else None
#: Every kind of number the plan has (mobile, fixed line, toll free, ...): a number of any kind is valid.
_IN_KINDS = (
    [
        plan
        for kind in ("mobile", "fixed_line", "premium_rate", "toll_free", "shared_cost", "voip", "personal_number",
                     "pager", "uan", "voicemail")
        if (plan := _plan(getattr(_IN, kind, None))) is not None
    ]
    if _IN
    else []
)  # fmt: skip


def _fits(national: str, plan: tuple[frozenset[int], re.Pattern[str]]) -> bool:
    lengths, pattern = plan
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _indian_mobile(phone: str) -> str | None:
    """The E.164 form of an Indian number written as sources write mobiles (ten digits after +91, 91, 0091 or 0,
    spaced or dashed) when the numbering plan has it, as `normalise_phone` checks it, without its general parser
    (about 50 times faster); None for any other shape or an unallocated number (then `normalise_phone` decides)."""
    shape = _MOBILE_SHAPE.fullmatch(phone.translate(_SPACING))
    if shape is None or _IN_PLAN is None:
        return None
    national = shape.group(1)
    if _fits(national, _IN_PLAN) and any(_fits(national, kind) for kind in _IN_KINDS):
        return "+91" + national
    return None


def name_similarity(a: str, b: str) -> int:
    """How alike two personal names are, 0..100 (see the module docstring)."""
    return _name_similarity(_prepared(a), _prepared(b))


def match(loan_number: str | None, phone: str | None, name: str, candidates: Iterable[Candidate]) -> MatchResult:
    """Score each candidate against a notice's loan number, phone and name, and pick the best one."""
    loan = _loan_key(loan_number)
    e164 = phone_key(phone) if phone else None
    prepared = _prepared(name)
    # Borrowers share names (a notice's candidates by name often are several of one name): each name is scored once.
    similarity: dict[str, int] = {}
    # By borrower: (confidence, name score, own loan, methods); a Scored is made only for the few shown.
    best: dict[UUID, tuple[int, int, bool, tuple[str, ...]]] = {}
    for candidate in candidates:
        s = similarity.get(candidate.name)
        if s is None:
            s = similarity[candidate.name] = _name_similarity(prepared, _prepared(candidate.name))
        evidence = _evidence(loan, e164, s, candidate)
        kept = best.get(candidate.customer_id)
        # The caller's blocking may return one borrower more than once; keep its best score.
        if kept is None or (evidence[0], s) > (kept[0], kept[1]):
            best[candidate.customer_id] = evidence
    # UUID strings are fixed-width lower-case hex, so ordering by `.int` is ordering by the string, only cheaper.
    ranked = sorted(best.items(), key=lambda item: (-item[1][0], not item[1][2], item[0].int))
    if not ranked or ranked[0][1][0] < FLOOR:
        return MatchResult(None, 0, "unmatched", (), _shown(ranked[:MAX_CANDIDATES]))
    best_id, (top, _, top_own, methods) = ranked[0]
    tied = sum(1 for _, e in ranked if e[0] == top and e[2] == top_own)
    shown = _shown(ranked[: max(MAX_CANDIDATES, tied)])
    if tied == 1:
        return MatchResult(best_id, top, band_of(top), methods, shown)
    # Equally good candidates: the choice is a guess, so say so with a lower band.
    confidence = min(top, HIGH - 1 if top >= HIGH else MEDIUM - 1)
    return MatchResult(best_id, confidence, band_of(confidence), methods, shown)


def _shown(ranked: list[tuple[UUID, tuple[int, int, bool, tuple[str, ...]]]]) -> tuple[Scored, ...]:
    return tuple(Scored(customer_id, c, methods, s, own) for customer_id, (c, s, own, methods) in ranked)


def name_keys(name: str) -> tuple[int, list[str]]:
    """How many words a borrower's name has, and the keys it is filed under for blocking (module docstring)."""
    prepared = _prepared(name)
    tokens = prepared.tokens[:KEY_TOKENS]
    if not tokens:
        return 0, []
    keys = {"=" + " ".join(sorted(_key_word(t) for t in tokens))}
    for i, first in enumerate(tokens):
        if not first.initial:
            keys.update(f"{first.folded} {_key_word(other)}" for j, other in enumerate(tokens) if j != i)
    return len(prepared.tokens), sorted(keys)


def name_probes(name: str) -> tuple[list[str], list[str]]:
    """The keys (exact) and key prefixes that find the borrowers a notice's name could match by name."""
    tokens = _prepared(name).tokens[:KEY_TOKENS]
    if not tokens:
        return [], []
    exact = {"=" + " ".join(sorted(_key_word(t) for t in tokens))}
    exact.update("=" + _key_word(t) for t in tokens if not t.initial)  # borrowers named by one of its words alone
    prefixes: set[str] = set()
    if len(tokens) == 1 and not tokens[0].initial:
        prefixes.add(f"{tokens[0].folded} ")  # one word: borrowers with it (and more words), fewest words first
    for a, b in itertools.combinations(tokens, 2):
        if not a.initial and not b.initial:
            exact.update((f"{a.folded} {_key_word(b)}", f"{a.folded} {b.letter}", f"{b.folded} {a.letter}"))
        elif not a.initial or not b.initial:
            word, initial = (a, b) if b.initial else (b, a)
            prefixes.add(f"{word.folded} {initial.letter}")
    return sorted(exact), sorted(prefixes)


def _key_word(token: _Token) -> str:
    """A word as the second of a key pair: its first letter (all an initial says), then its folded spelling."""
    return token.letter if token.initial else f"{token.letter}:{token.folded}"


def _evidence(
    loan: str | None, e164: str | None, s: int, candidate: Candidate
) -> tuple[int, int, bool, tuple[str, ...]]:
    """One candidate's confidence from the evidence that agrees (the table in the module docstring), given its name
    score `s`: (confidence, s, agreed by a Covenant Desk loan of its own, the methods that agreed)."""
    own = loan is not None and bool(candidate.own_loans) and loan in _loan_keys(candidate.own_loans)
    by_loan = own or (loan is not None and loan in _loan_keys(candidate.loan_numbers))
    by_phone = e164 is not None and e164 in candidate.phones
    if own:
        confidence = OWN_LOAN
    elif by_loan and by_phone:
        confidence = 95 + 5 * s // 100
    elif by_loan:
        confidence = 85 + 15 * s // 100
    elif by_phone:
        confidence = 60 + 30 * s // 100
    else:
        confidence = max(0, s - 25)
    return confidence, s, own, _METHODS_BY_AGREEMENT[by_loan, by_phone, s >= NAME_METHOD_MIN]


def _loan_key(loan_number: str | None) -> str | None:
    """Loan numbers compare upper-case and trimmed, as borrower records keep them."""
    key = (loan_number or "").strip().upper()
    return key or None


@lru_cache(maxsize=32768)
def _loan_keys(loan_numbers: tuple[str, ...]) -> frozenset[str | None]:
    """A candidate's loan numbers as keys; cached because one borrower is a candidate for many notices."""
    return frozenset(_loan_key(n) for n in loan_numbers)


@lru_cache(maxsize=32768)
def _prepared(name: str) -> _Name:
    """A name's words ready for pairing; cached because one borrower is a candidate for many notices."""
    tokens = tuple(token for word in name_key(name).split() for token in _word_tokens(word))
    has_word = not all(t.initial for t in tokens)
    return _Name(tokens, "".join(t.folded for t in tokens), has_word)


@lru_cache(maxsize=16384)
def _word_tokens(word: str) -> tuple[_Token, ...]:
    """One word of a name key as tokens (run-together initials are several); cached: names share their words, and
    more names than `_prepared` keeps are scored in a large sync (about 84,000 at a million borrowers)."""
    word = _ALIASES.get(word, word)
    if len(word) == 1:
        return (_Token(word, word, True),)
    if len(word) <= 3 and word.isascii() and word.isalpha() and not _VOWELS.intersection(word):
        # "KR Ramesh": vowel-less short words are run-together initials.
        return tuple(_Token(letter, letter, True) for letter in word)
    folded = _DOUBLED_RE.sub(r"\1", _FOLD_RE.sub(lambda m: _FOLDS[m.group()], word).translate(_LETTER_FOLDS))
    return (_Token(word[0], folded, False),)


def _name_similarity(a: _Name, b: _Name) -> int:
    """Pair the shorter name's words with the longer name's, best pairs first, and score the pairing."""
    if not a.tokens or not b.tokens:
        return 0
    short, long = (a.tokens, b.tokens) if len(a.tokens) <= len(b.tokens) else (b.tokens, a.tokens)
    if a.joined == b.joined and a.has_word:
        return SINGLE_WORD_CAP if len(short) == 1 else 100
    # (-score, i, j) sorts best first, ties by position: deterministic and symmetric enough for names.
    # Two words pair when alike: an initial with a word it could stand for (or the same initial), whole words at a
    # ratio of TOKEN_MIN or more (equal spellings need no ratio). Inline: it runs for every pair of every candidate.
    pairs: list[tuple[float, int, int]] = []
    for i, x in enumerate(short):
        x_initial, x_letter, x_folded = x.initial, x.letter, x.folded
        for j, y in enumerate(long):
            if x_initial or y.initial:
                if x_letter == y.letter:
                    pairs.append((-100.0 if x_initial and y.initial else -INITIAL_SCORE, i, j))
            elif x_folded == y.folded:
                pairs.append((-100.0, i, j))
            elif score := _ratio(x_folded, y.folded, score_cutoff=TOKEN_MIN):
                pairs.append((-score, i, j))
    if not pairs:
        return 0
    pairs.sort()
    used_short = used_long = 0  # bit sets of paired positions
    total = 0.0
    whole_word_paired = False
    for negative, i, j in pairs:
        if used_short >> i & 1 or used_long >> j & 1:
            continue
        used_short |= 1 << i
        used_long |= 1 << j
        total -= negative
        whole_word_paired = whole_word_paired or not (short[i].initial or long[j].initial)
    similarity = total / len(short) - SURPLUS_TOKEN_PENALTY * (len(long) - len(short))
    if not whole_word_paired:
        similarity = min(similarity, INITIALS_ONLY_CAP)
    if len(short) == 1:
        similarity = min(similarity, SINGLE_WORD_CAP)
    return max(0, min(100, int(similarity + 0.5)))

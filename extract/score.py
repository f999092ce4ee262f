"""Score a run's events against the gold set: one-to-one matching, strict and lenient, events and slots.

Pure functions: no network, no model. The rules are those of gold/GUIDELINES.md:

- Only events of the same type can match. Within an article, predictions and gold events are paired
  by ONE optimal assignment (scipy's ``linear_sum_assignment``) that maximizes, in this order, the
  number of lenient matches, then the number of strict matches, then the total field similarity.
  Strict and lenient figures are both counted on that assignment, so every strict match is also a
  lenient match. Events are sorted by their canonical JSON before assignment, so the result does
  not depend on the order of the predictions.
- A pair is a lenient match when every key field (the event class's ``key_fields``) is lenient-close, a strict
  match when every key field agrees strictly. Assigned pairs that are not lenient matches are
  reported as near misses and count as one missed and one spurious event.
- Slot scores give each filled predicted field of a matched pair its lenient credit (0, 0.5 or 1).
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.utils import default_process
from scipy.optimize import linear_sum_assignment

from extract.aliases import Aliases
from extract.align import align
from extract.documents import Article
from extract.errors import InputError
from extract.records import events_by_article, read_records
from extract.schema import Event, choice_fields, slot_value
from extract.task import Task
from extract.text import fold

SCORES_FORMAT = "extract.scores/1"
COMPARE_FORMAT = "extract.compare/1"
#: The matching rule in one sentence, for scores.json and the reports.
MATCHING_RULE = (
    "one assignment per article between events of the same type: most lenient matches, then strict, "
    "then overlapping evidence, then similarity; a pair matches only when its key fields agree and its "
    "quotes overlap in the article or restate the same fact in another sentence"
)

#: Lenient integers: |predicted - gold| <= INT_TOLERANCE * |gold|.
INT_TOLERANCE = 0.05
#: Lenient actor names: rapidfuzz token_set_ratio (0-100) after canonicalization.
ACTOR_THRESHOLD = 85.0
#: Lenient free text: rapidfuzz token_set_ratio (0-100) after normalization.
TEXT_THRESHOLD = 80.0
#: Lenient credit of a date given at another precision than gold's but agreeing at the shared one.
PARTIAL_CREDIT = 0.5
#: A field is lenient-close when its lenient credit reaches this.
CLOSE = 0.5
#: Same-type pairs less similar than this are never paired, not even as near misses.
MIN_SIMILARITY = 0.25
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0

DATE_FIELDS = frozenset({"date", "period_start", "period_end"})
_NOT_SLOTS = frozenset({"type", "evidence"})

FieldKind = Literal["int", "date", "actor", "actors", "text", "enum"]


# --- reading -------------------------------------------------------------------------------


def read_events(path: Path, *, task: Task) -> dict[str, list[Event]]:
    """Read a run's events.jsonl into events per article, in file order; any bad line raises InputError."""
    return events_by_article(read_records(path, task=task))


def load_scores(path: Path) -> dict[str, Any]:
    """Read a scores.json written from ``Scores.to_json()``, checking its format."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"cannot read: {e.strerror}", path=str(path)) from e
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON: {e.msg}", path=str(path), line=e.lineno) from e
    _check_scores(data, path=str(path))
    return data


def _check_scores(data: object, *, path: str | None = None) -> None:
    if not isinstance(data, dict) or data.get("format") != SCORES_FORMAT:
        raise InputError(f"not a scores file (expected format {SCORES_FORMAT!r})", path=path)


# --- fields --------------------------------------------------------------------------------


def _kind_of(cls: type[Any], name: str) -> FieldKind:
    if name in DATE_FIELDS:
        return "date"
    annotation = cls.model_fields[name].annotation
    options = (annotation, *get_args(annotation))
    if name in cls.actor_fields:
        return "actors" if any(get_origin(o) is list for o in options) else "actor"
    if int in options:
        return "int"
    return "enum" if name in choice_fields(cls) else "text"


@functools.cache
def slots(cls: type[Event]) -> tuple[tuple[str, FieldKind], ...]:
    """The scored slots of an event type, in schema order, with how each is compared."""
    slots: list[tuple[str, FieldKind]] = []
    for name in cls.model_fields:
        if name in _NOT_SLOTS:
            continue
        if name == "location":  # the country is a name like an actor's; the place is free text
            slots += [("location.country", "actor"), ("location.place", "text")]
        else:
            slots.append((name, _kind_of(cls, name)))
    return tuple(slots)


def _filled_slots(event: Event) -> int:
    return sum(slot_value(event, name) is not None for name, _ in slots(type(event)))


def _fuzzy(a: str, b: str, *, threshold: float) -> bool:
    return fuzz.token_set_ratio(a, b, processor=default_process) >= threshold


def _actor_credit(gold: str, predicted: str, *, aliases: Aliases) -> tuple[bool, float]:
    cg, cp = aliases.canonical(gold), aliases.canonical(predicted)
    if fold(cg) == fold(cp):
        return True, 1.0
    if cg in aliases.table and cp in aliases.table:
        return False, 0.0  # two different known actors ("Coalition", "Coalition partners") never fuzz together
    return False, 1.0 if _fuzzy(cg, cp, threshold=ACTOR_THRESHOLD) else 0.0


def _actors_credit(gold: list[str], predicted: list[str], *, aliases: Aliases) -> tuple[bool, float]:
    """Lists compared as sets of canonical names; lenient credit is the share paired one-to-one."""
    gs = sorted({aliases.canonical(n) for n in gold}, key=fold)
    ps = sorted({aliases.canonical(n) for n in predicted}, key=fold)
    if {fold(n) for n in gs} == {fold(n) for n in ps}:
        return True, 1.0
    credit = np.array([[_actor_credit(g, p, aliases=aliases)[1] for p in ps] for g in gs])
    rows, cols = linear_sum_assignment(credit, maximize=True)
    return False, float(credit[rows, cols].sum()) / max(len(gs), len(ps))


def _date_credit(gold: str, predicted: str) -> tuple[bool, float]:
    gp, pp = gold.split("-"), predicted.split("-")
    shared = min(len(gp), len(pp))
    if gp[:shared] != pp[:shared]:
        return False, 0.0
    if len(gp) == len(pp):
        return True, 1.0
    return False, PARTIAL_CREDIT


def _credit(kind: FieldKind, gold: Any, predicted: Any, *, aliases: Aliases) -> tuple[bool, float]:
    """(strict agreement, lenient credit in [0, 1]) of two filled values of one field."""
    if kind == "int":
        if gold == predicted:
            return True, 1.0
        return False, 1.0 if abs(predicted - gold) <= INT_TOLERANCE * abs(gold) else 0.0
    if kind == "date":
        return _date_credit(gold, predicted)
    if kind == "actor":
        return _actor_credit(gold, predicted, aliases=aliases)
    if kind == "actors":
        return _actors_credit(gold, predicted, aliases=aliases)
    if kind == "text":
        if fold(gold) == fold(predicted):
            return True, 1.0
        return False, 1.0 if _fuzzy(gold, predicted, threshold=TEXT_THRESHOLD) else 0.0
    return (True, 1.0) if gold == predicted else (False, 0.0)


@dataclass(frozen=True)
class FieldAgreement:
    """How one slot of a gold event and of a predicted event of the same type compare."""

    field: str
    kind: FieldKind
    key: bool
    gold: Any
    predicted: Any
    strict: bool
    #: Lenient credit: 1 agrees, 0.5 partial (date precision, part of a list), 0 wrong.
    lenient: float

    @property
    def filled(self) -> bool:
        """Filled on at least one side (both absent is agreement, and no slot)."""
        return self.gold is not None or self.predicted is not None

    @property
    def close(self) -> bool:
        """Lenient-close: enough for a key field of a lenient match."""
        return self.lenient >= CLOSE

    def to_json(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "kind": self.kind,
            "key": self.key,
            "gold": self.gold,
            "predicted": self.predicted,
            "strict": self.strict,
            "lenient": round(self.lenient, 4),
        }


def compare_fields(gold: Event, predicted: Event, *, aliases: Aliases) -> tuple[FieldAgreement, ...]:
    """Compare every slot of two events of the same type; both absent agrees and is not penalized."""
    if gold.type != predicted.type:
        raise ValueError(f"cannot compare a {gold.type} with a {predicted.type}")
    keys = type(gold).key_fields
    out = []
    for name, kind in slots(type(gold)):
        g, p = slot_value(gold, name), slot_value(predicted, name)
        if g is None and p is None:
            strict, lenient = True, 1.0
        elif g is None or p is None:
            strict, lenient = False, 0.0
        else:
            strict, lenient = _credit(kind, g, p, aliases=aliases)
        out.append(FieldAgreement(name, kind, name in keys, g, p, strict, lenient))
    return tuple(out)


def similarity(fields: Sequence[FieldAgreement]) -> float:
    """Half the mean key-field credit plus half the mean credit of other slots filled on either side."""
    key = [f.lenient for f in fields if f.key]
    other = [f.lenient for f in fields if not f.key and f.filled]
    key_mean = sum(key) / len(key)
    return key_mean if not other else 0.5 * key_mean + 0.5 * sum(other) / len(other)


# --- evidence ------------------------------------------------------------------------------

#: How the quotes of two events relate: the same words of the article, another sentence stating
#: the same fact again, or a different fact.
EvidenceRelation = Literal["overlap", "restated", "different"]

#: Quotes that cannot both be located in the article overlap when they share a run of at least this
#: many words (and half the shorter quote).
SHARED_WORDS = 3
#: Separate quotes restate one fact when this share of the shorter one's content words is in the
#: other, and the numbers of one are all written in the other.
RESTATE_SHARE = 0.6

#: Content words compare by their first letters, so "reduces" and "reduced" are one word.
STEM = 5

_WORD = re.compile(r"[^\W_]+(?:[.,'][^\W_]+)*")
_STOPWORDS = frozenset(
    "a an and are as at be been but by for from had has have he in is it its of on or she that the their "
    "there these they this those to was were which who will with would".split()
)


@dataclass(frozen=True)
class Quote:
    """An event's evidence as the scorer compares it: its span in the article (None when not located) and its words."""

    span: tuple[int, int] | None
    words: tuple[str, ...]

    @classmethod
    def of(cls, evidence: str, article: Article | None = None) -> Quote:
        span = None
        if article is not None:
            found = align(evidence, article)
            if found.start is not None and found.end is not None:
                span = (found.start, found.end)
        return cls(span, tuple(w.replace(",", "") for w in _WORD.findall(fold(evidence))))

    def _common_run(self, other: Quote) -> int:
        """The longest run of words the two quotes share."""
        best, previous = 0, [0] * (len(other.words) + 1)
        for word in self.words:
            current = [0] * (len(other.words) + 1)
            for j, theirs in enumerate(other.words, start=1):
                if word == theirs:
                    current[j] = previous[j - 1] + 1
                    best = max(best, current[j])
            previous = current
        return best

    def overlaps(self, other: Quote) -> bool:
        """Both located: the spans intersect. Otherwise the quotes share a run of words of at least
        SHARED_WORDS and half the shorter quote (the whole quote, when it is shorter than that)."""
        if self.span is not None and other.span is not None:
            return self.span[0] < other.span[1] and other.span[0] < self.span[1]
        shorter = min(len(self.words), len(other.words))
        return shorter > 0 and self._common_run(other) >= min(shorter, max(SHARED_WORDS, shorter / 2))

    def restates(self, other: Quote) -> bool:
        """Another sentence of the same fact: mostly the same content words, and no number of its own."""
        numbers = [frozenset(w for w in q.words if any(c.isdigit() for c in w)) for q in (self, other)]
        mine, theirs = (frozenset(w[:STEM] for w in q.words if w not in _STOPWORDS) for q in (self, other))
        if not mine or not theirs:
            return False
        if not (numbers[0] <= numbers[1] or numbers[1] <= numbers[0]):
            return False
        return len(mine & theirs) / min(len(mine), len(theirs)) >= RESTATE_SHARE

    def relation(self, other: Quote) -> EvidenceRelation:
        if self.overlaps(other):
            return "overlap"
        return "restated" if self.restates(other) else "different"


# --- matching ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A gold event and a prediction paired by the assignment; indices are into the caller's lists."""

    gold_index: int
    pred_index: int
    gold: Event
    predicted: Event
    fields: tuple[FieldAgreement, ...]
    similarity: float
    strict: bool
    lenient: bool
    #: How the two quotes relate; a pair whose quotes state different facts never matches.
    evidence: EvidenceRelation = "overlap"

    def to_json(self) -> dict[str, Any]:
        return {
            "gold_index": self.gold_index,
            "key": event_key(self.gold),
            "gold": event_json(self.gold),
            "predicted": event_json(self.predicted),
            "similarity": round(self.similarity, 4),
            "strict": self.strict,
            "lenient": self.lenient,
            "evidence": self.evidence,
            "fields": [f.to_json() for f in self.fields if f.filled],
        }


def event_json(event: Event) -> dict[str, Any]:
    """An event as JSON, absent fields left out."""
    return event.model_dump(mode="json", exclude_none=True)


def _canonical(event: Event) -> str:
    return json.dumps(event.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def event_key(event: Event) -> str:
    """An event's identity across runs: its type and key-field values, e.g. ``attack(target="x", means="drone")``."""
    values = ", ".join(
        f"{name}={json.dumps(slot_value(event, name), ensure_ascii=False)}" for name in type(event).key_fields
    )
    return f"{event.type}({values})"


def make_pair(
    gold: Event,
    predicted: Event,
    *,
    aliases: Aliases,
    gold_index: int = 0,
    pred_index: int = 0,
    evidence: EvidenceRelation = "overlap",
) -> Pair:
    """Compare two same-type events field by field and decide whether they match strictly, leniently.

    Key fields decide the match, and the evidence must not state a different fact.
    """
    fields = compare_fields(gold, predicted, aliases=aliases)
    keys = [f for f in fields if f.key]
    same_fact = evidence != "different"
    return Pair(
        gold_index=gold_index,
        pred_index=pred_index,
        gold=gold,
        predicted=predicted,
        fields=fields,
        similarity=similarity(fields),
        strict=same_fact and all(f.strict for f in keys),
        lenient=same_fact and all(f.close for f in keys),
        evidence=evidence,
    )


def quotes_of(events: Sequence[Event], article: Article | None = None) -> tuple[Quote, ...]:
    """Each event's evidence, located in the article when it is given."""
    return tuple(Quote.of(e.evidence, article) for e in events)


def match_events(
    gold: Sequence[Event],
    predicted: Sequence[Event],
    *,
    aliases: Aliases,
    article: Article | None = None,
    quotes: tuple[Sequence[Quote], Sequence[Quote]] | None = None,
) -> tuple[Pair, ...]:
    """Pair one article's events one-to-one: most lenient matches, then most strict, then most
    overlapping evidence, then most similar. ``quotes`` (gold's, then the predictions') saves
    locating the evidence again."""
    g_quotes, p_quotes = quotes or (quotes_of(gold, article), quotes_of(predicted, article))
    g_order = sorted(range(len(gold)), key=lambda i: (_canonical(gold[i]), i))
    p_order = sorted(range(len(predicted)), key=lambda i: (_canonical(predicted[i]), i))
    n = min(len(gold), len(predicted))
    if n == 0:
        return ()
    # Lexicographic weights: each bonus outweighs n of every lower criterion together.
    overlap_bonus = n + 1.0
    strict_bonus = (n + 1.0) ** 2
    lenient_bonus = (n + 1.0) ** 3
    weights = np.zeros((len(g_order), len(p_order)))
    candidates: dict[tuple[int, int], Pair] = {}
    for r, gi in enumerate(g_order):
        for c, pi in enumerate(p_order):
            if gold[gi].type != predicted[pi].type:
                continue
            relation = g_quotes[gi].relation(p_quotes[pi])
            pair = make_pair(
                gold[gi], predicted[pi], aliases=aliases, gold_index=gi, pred_index=pi, evidence=relation
            )
            if pair.similarity < MIN_SIMILARITY:
                continue
            candidates[(r, c)] = pair
            weights[r, c] = (
                pair.lenient * lenient_bonus
                + pair.strict * strict_bonus
                + (relation == "overlap") * overlap_bonus
                + pair.similarity
            )
    rows, cols = linear_sum_assignment(weights, maximize=True)
    pairs = [candidates[(r, c)] for r, c in zip(rows, cols) if (r, c) in candidates]
    return tuple(sorted(pairs, key=lambda p: p.gold_index))


# --- tallies -------------------------------------------------------------------------------


def _ratio(num: float, den: float, *, empty: float) -> float:
    return num / den if den else empty


@dataclass(frozen=True)
class PRF:
    """Precision, recall and F1 from counts; with nothing to find and nothing found all three are 1."""

    tp: float = 0.0
    fp: float = 0.0
    fn: float = 0.0

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp, empty=1.0 if self.fn == 0 else 0.0)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn, empty=1.0 if self.fp == 0 else 0.0)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn, empty=1.0)

    def to_json(self) -> dict[str, float]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": round(self.tp, 4),
            "fp": round(self.fp, 4),
            "fn": round(self.fn, 4),
        }


@dataclass(frozen=True)
class Tally:
    """Event and slot counts of a set of articles or types, from which every figure derives."""

    gold: int = 0
    predicted: int = 0
    matched: int = 0
    matched_strict: int = 0
    #: Lenient matches whose two quotes overlap in the article (the others restate the fact elsewhere).
    matched_overlap: int = 0
    slot_credit: float = 0.0
    slot_predicted: int = 0
    slot_gold: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            gold=self.gold + other.gold,
            predicted=self.predicted + other.predicted,
            matched=self.matched + other.matched,
            matched_strict=self.matched_strict + other.matched_strict,
            matched_overlap=self.matched_overlap + other.matched_overlap,
            slot_credit=self.slot_credit + other.slot_credit,
            slot_predicted=self.slot_predicted + other.slot_predicted,
            slot_gold=self.slot_gold + other.slot_gold,
        )

    @property
    def strict(self) -> PRF:
        s = self.matched_strict
        return PRF(tp=s, fp=self.predicted - s, fn=self.gold - s)

    @property
    def lenient(self) -> PRF:
        m = self.matched
        return PRF(tp=m, fp=self.predicted - m, fn=self.gold - m)

    @property
    def slots(self) -> PRF:
        c = self.slot_credit
        return PRF(tp=c, fp=self.slot_predicted - c, fn=self.slot_gold - c)

    def counts(self) -> dict[str, int]:
        """Gold, predicted, matched (lenient), matched strictly, missed and spurious events."""
        return {
            "gold": self.gold,
            "predicted": self.predicted,
            "matched": self.matched,
            "matched_strict": self.matched_strict,
            "matched_evidence_overlap": self.matched_overlap,
            "missed": self.gold - self.matched,
            "spurious": self.predicted - self.matched,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "strict": self.strict.to_json(),
            "lenient": self.lenient.to_json(),
            "slots": self.slots.to_json(),
            "counts": self.counts(),
        }


@dataclass(frozen=True)
class ArticleResult:
    """One gold article: its events, the run's predictions for it, and the assignment between them."""

    id: str
    gold: tuple[Event, ...]
    predicted: tuple[Event, ...]
    #: Every assigned pair, matched or not, ordered by gold index.
    pairs: tuple[Pair, ...]
    #: False when the run has no events at all for this article.
    in_run: bool
    #: (gold type, predicted type) of every gold and predicted event whose quotes overlap;
    #: "none" stands for the side that has no overlapping event.
    confusion: tuple[tuple[str, str], ...] = ()

    @property
    def matched(self) -> tuple[Pair, ...]:
        """The lenient matches (strict ones among them)."""
        return tuple(p for p in self.pairs if p.lenient)

    @property
    def near_misses(self) -> tuple[Pair, ...]:
        """Assigned pairs whose key fields do not agree: shown side by side, counted as missed + spurious."""
        return tuple(p for p in self.pairs if not p.lenient)

    @property
    def missed(self) -> tuple[int, ...]:
        """Indices of gold events without a lenient match (near misses included)."""
        found = {p.gold_index for p in self.matched}
        return tuple(i for i in range(len(self.gold)) if i not in found)

    @property
    def spurious(self) -> tuple[int, ...]:
        """Indices of predictions without a lenient match (near misses included)."""
        found = {p.pred_index for p in self.matched}
        return tuple(i for i in range(len(self.predicted)) if i not in found)

    def tallies(self) -> dict[str, Tally]:
        """Counts by event type (only types present in this article)."""
        parts: list[tuple[str, Tally]] = []
        parts += [(e.type, Tally(gold=1)) for e in self.gold]
        parts += [(e.type, Tally(predicted=1)) for e in self.predicted]
        for pair in self.matched:
            credit = sum(f.lenient for f in pair.fields if f.predicted is not None)
            parts.append(
                (
                    pair.gold.type,
                    Tally(
                        matched=1,
                        matched_strict=int(pair.strict),
                        matched_overlap=int(pair.evidence == "overlap"),
                        slot_credit=credit,
                        slot_predicted=sum(f.predicted is not None for f in pair.fields),
                        slot_gold=sum(f.gold is not None for f in pair.fields),
                    ),
                )
            )
        parts += [(self.gold[i].type, Tally(slot_gold=_filled_slots(self.gold[i]))) for i in self.missed]
        parts += [
            (self.predicted[i].type, Tally(slot_predicted=_filled_slots(self.predicted[i]))) for i in self.spurious
        ]
        out: dict[str, Tally] = {}
        for event_type, tally in parts:
            out[event_type] = out.get(event_type, Tally()) + tally
        return out

    def tally(self) -> Tally:
        """Counts of the whole article."""
        return sum(self.tallies().values(), Tally())

    def details_json(self) -> dict[str, Any]:
        """Matched pairs, near misses, missed and spurious events: what the reports show for this article."""
        spurious = sorted((self.predicted[i] for i in self.spurious), key=_canonical)
        return {
            "in_run": self.in_run,
            "matched": [p.to_json() for p in self.matched],
            "near_misses": [p.to_json() for p in self.near_misses],
            "missed": [
                {"gold_index": i, "key": event_key(self.gold[i]), "event": event_json(self.gold[i])}
                for i in self.missed
            ],
            "spurious": [{"key": event_key(e), "event": event_json(e)} for e in spurious],
        }


def _bootstrap_f1(matched: np.ndarray, predicted: np.ndarray, gold: np.ndarray, *, draws: np.ndarray) -> list[float]:
    tp, pred, gold_n = matched[draws].sum(axis=1), predicted[draws].sum(axis=1), gold[draws].sum(axis=1)
    den = pred + gold_n
    f1 = np.where(den > 0, 2 * tp / np.maximum(den, 1), 1.0)
    low, high = np.percentile(f1, [2.5, 97.5])
    return [round(float(low), 4), round(float(high), 4)]


@dataclass(frozen=True)
class Scores:
    """Every figure of one run against the gold; ``to_json()`` is what scores.json holds."""

    articles: Mapping[str, ArticleResult]
    #: Run articles that the gold set does not label: ignored by every figure.
    not_in_gold: tuple[str, ...]
    by_type: Mapping[str, Tally]
    by_article: Mapping[str, Tally]
    total: Tally
    #: Bootstrap intervals of strict and lenient micro F1, with their settings.
    ci95: Mapping[str, Any]
    #: Gold articles left out because the input does not contain them: listed, never counted as missed.
    gold_not_in_input: tuple[str, ...] = ()

    def confusion(self) -> dict[str, dict[str, int]]:
        """Gold type -> predicted type -> pairs of events whose quotes overlap ("none": no such event)."""
        counts = Counter(pair for r in self.articles.values() for pair in r.confusion)
        out: dict[str, dict[str, int]] = {}
        for (gold_type, pred_type), n in sorted(counts.items()):
            out.setdefault(gold_type, {})[pred_type] = n
        return out

    @property
    def strict(self) -> PRF:
        return self.total.strict

    @property
    def lenient(self) -> PRF:
        return self.total.lenient

    @property
    def slots(self) -> PRF:
        return self.total.slots

    def macro(self) -> dict[str, dict[str, float]]:
        """Precision, recall and F1 averaged over gold articles (each article weighs the same)."""
        out: dict[str, dict[str, float]] = {}
        tallies = list(self.by_article.values())
        for level in ("strict", "lenient", "slots"):
            prfs = [getattr(t, level) for t in tallies]
            out[level] = {
                metric: round(sum(getattr(p, metric) for p in prfs) / len(prfs), 4) if prfs else 0.0
                for metric in ("precision", "recall", "f1")
            }
        return out

    def to_json(self) -> dict[str, Any]:
        """The scores.json document: plain JSON, floats rounded to 4 decimals, independent of prediction order."""
        counts = self.total.counts()
        matched = self.total.matched
        return {
            "format": SCORES_FORMAT,
            "evidence": {
                "matched": matched,
                "overlap": self.total.matched_overlap,
                "restated": matched - self.total.matched_overlap,
                "overlap_share": round(self.total.matched_overlap / matched, 4) if matched else None,
            },
            "confusion": self.confusion(),
            "strict": self.strict.to_json(),
            "lenient": self.lenient.to_json(),
            "slots": self.slots.to_json(),
            "macro": self.macro(),
            "ci95": dict(self.ci95),
            "counts": {
                **counts,
                "articles": len(self.articles),
                "articles_without_predictions": sorted(a for a, r in self.articles.items() if not r.in_run),
                "articles_not_in_gold": list(self.not_in_gold),
                "gold_not_in_input": list(self.gold_not_in_input),
            },
            "by_type": {t: tally.to_json() for t, tally in sorted(self.by_type.items())},
            "by_article": {a: tally.to_json() for a, tally in sorted(self.by_article.items())},
            "details": {a: r.details_json() for a, r in sorted(self.articles.items())},
            "params": {
                "matching": MATCHING_RULE,
                "shared_words": SHARED_WORDS,
                "restate_share": RESTATE_SHARE,
                "min_similarity": MIN_SIMILARITY,
                "int_tolerance": INT_TOLERANCE,
                "actor_threshold": ACTOR_THRESHOLD,
                "text_threshold": TEXT_THRESHOLD,
                "partial_credit": PARTIAL_CREDIT,
            },
        }


def score_run(
    events: Mapping[str, Sequence[Event]],
    gold: Mapping[str, Sequence[Event]],
    *,
    aliases: Aliases,
    articles: Sequence[Article] | None = None,
) -> Scores:
    """Score predicted events per article against gold events per article (see the module docstring).

    With ``articles`` (the run's input), quotes are located in the text and only the gold articles
    the input contains are scored; the others are listed in ``gold_not_in_input``.
    """
    by_id = {a.id: a for a in articles} if articles is not None else {}
    scoped = sorted(gold) if articles is None else sorted(a for a in gold if a in by_id)
    inputs = set(events) | set(by_id)
    results = {}
    for article_id in scoped:
        g, p = tuple(gold[article_id]), tuple(events.get(article_id, ()))
        article = by_id.get(article_id)
        quotes = (quotes_of(g, article), quotes_of(p, article))
        results[article_id] = ArticleResult(
            id=article_id,
            gold=g,
            predicted=p,
            pairs=match_events(g, p, aliases=aliases, quotes=quotes),
            in_run=article_id in events,
            confusion=_confusion(g, p, *quotes),
        )
    by_article: dict[str, Tally] = {}
    by_type: dict[str, Tally] = {}
    for article_id, result in results.items():
        tallies = result.tallies()
        by_article[article_id] = sum(tallies.values(), Tally())
        for event_type, tally in tallies.items():
            by_type[event_type] = by_type.get(event_type, Tally()) + tally
    total = sum(by_article.values(), Tally())
    return Scores(
        articles=results,
        not_in_gold=tuple(sorted(a for a in inputs if a not in gold)),
        by_type=by_type,
        by_article=by_article,
        total=total,
        ci95=_confidence(list(by_article.values())),
        gold_not_in_input=tuple(sorted(a for a in gold if a not in scoped)),
    )


def _confusion(
    gold: Sequence[Event], predicted: Sequence[Event], g_quotes: Sequence[Quote], p_quotes: Sequence[Quote]
) -> tuple[tuple[str, str], ...]:
    pairs = [(g.type, p.type) for g, gq in zip(gold, g_quotes) for p, pq in zip(predicted, p_quotes) if gq.overlaps(pq)]
    pairs += [(g.type, "none") for g, gq in zip(gold, g_quotes) if not any(gq.overlaps(pq) for pq in p_quotes)]
    pairs += [("none", p.type) for p, pq in zip(predicted, p_quotes) if not any(gq.overlaps(pq) for gq in g_quotes)]
    return tuple(sorted(pairs))


def _confidence(tallies: list[Tally]) -> dict[str, Any]:
    """95% percentile-bootstrap intervals of micro F1, resampling articles with a fixed seed."""
    info: dict[str, Any] = {"resamples": BOOTSTRAP_RESAMPLES, "seed": BOOTSTRAP_SEED, "unit": "article"}
    if not tallies:
        return {**info, "strict_f1": None, "lenient_f1": None}
    draws = np.random.default_rng(BOOTSTRAP_SEED).integers(0, len(tallies), size=(BOOTSTRAP_RESAMPLES, len(tallies)))
    predicted = np.array([t.predicted for t in tallies], dtype=float)
    gold = np.array([t.gold for t in tallies], dtype=float)
    return {
        **info,
        "strict_f1": _bootstrap_f1(np.array([t.matched_strict for t in tallies], float), predicted, gold, draws=draws),
        "lenient_f1": _bootstrap_f1(np.array([t.matched for t in tallies], float), predicted, gold, draws=draws),
    }


# --- comparing two runs --------------------------------------------------------------------


@dataclass(frozen=True)
class MetricDelta:
    """One figure in run A and run B; None where a run has no such figure."""

    name: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else round(self.b - self.a, 4)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "a": self.a, "b": self.b, "delta": self.delta}


#: Resamples of the paired bootstrap; the permutation test is exact up to 13 articles (2**13 swaps).
PAIRED_RESAMPLES = 9999
SIGNIFICANCE = 0.05


def _f1_of(rows: np.ndarray) -> np.ndarray:
    """Micro F1 of (..., articles, [matched, predicted, gold]) counts, over the articles axis."""
    tp, predicted, gold = rows[..., 0].sum(-1), rows[..., 1].sum(-1), rows[..., 2].sum(-1)
    den = predicted + gold
    return np.where(den > 0, 2 * tp / np.maximum(den, 1), 1.0)


@dataclass(frozen=True)
class PairedTest:
    """B's micro F1 minus A's over the same articles: a paired bootstrap CI and a paired permutation p-value."""

    metric: str
    a: float
    b: float
    articles: int
    ci95: tuple[float, float] | None
    p_value: float | None

    @property
    def delta(self) -> float:
        return round(self.b - self.a, 4)

    @property
    def significant(self) -> bool:
        """Both tests agree: the 95% interval excludes zero and p < 0.05 (few articles: be conservative)."""
        excludes_zero = self.ci95 is not None and (self.ci95[0] > 0 or self.ci95[1] < 0)
        return excludes_zero and self.p_value is not None and self.p_value < SIGNIFICANCE

    def to_json(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "a": round(self.a, 4),
            "b": round(self.b, 4),
            "delta": self.delta,
            "articles": self.articles,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "p_value": self.p_value,
            "significant": self.significant,
            "method": "paired bootstrap over articles (percentile, "
            f"{PAIRED_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}); paired permutation test, two-sided",
        }


def paired_test(a: np.ndarray, b: np.ndarray, *, metric: str) -> PairedTest:
    """Test B - A on per-article counts ``[matched, predicted, gold]`` of the same articles, row by row.

    The bootstrap resamples articles; the permutation test swaps A and B within articles.
    """
    from scipy import (
        stats,  # scoring's own dependency: not loaded for commands that never score
    )

    a, b = np.asarray(a, float).reshape(-1, 3), np.asarray(b, float).reshape(-1, 3)
    n = len(a)
    fa, fb = float(_f1_of(a)), float(_f1_of(b))
    if n < 2:
        return PairedTest(metric, fa, fb, n, None, None)
    table = np.concatenate([a, b])

    def delta_of(index: np.ndarray, axis: int = -1) -> np.ndarray:
        index = np.moveaxis(np.asarray(index, int), axis, -1)
        return _f1_of(b[index]) - _f1_of(a[index])

    def swapped(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        x, y = (np.moveaxis(np.asarray(v, int), axis, -1) for v in (x, y))
        return _f1_of(table[y]) - _f1_of(table[x])

    boot = stats.bootstrap(
        (np.arange(n),), delta_of, n_resamples=PAIRED_RESAMPLES, vectorized=True, method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    low, high = boot.confidence_interval
    perm = stats.permutation_test(
        (np.arange(n), np.arange(n) + n), swapped, permutation_type="samples", vectorized=True,
        n_resamples=PAIRED_RESAMPLES, rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    ci = None if np.isnan(low) or np.isnan(high) else (round(float(low), 4), round(float(high), 4))
    return PairedTest(metric, fa, fb, n, ci, round(float(perm.pvalue), 4))


def _article_counts(scores: Mapping[str, Any], ids: Sequence[str], *, level: str) -> np.ndarray:
    matched = "matched_strict" if level == "strict" else "matched"
    rows = [scores["by_article"][i]["counts"] for i in ids]
    return np.array([[c[matched], c["predicted"], c["gold"]] for c in rows], dtype=float).reshape(-1, 3)


def paired_tests(a: Mapping[str, Any], b: Mapping[str, Any]) -> tuple[PairedTest, ...]:
    """Strict and lenient F1 of two scores.json documents, tested over the articles both scored."""
    ids = sorted(set(a["by_article"]) & set(b["by_article"]))
    return tuple(
        paired_test(_article_counts(a, ids, level=lv), _article_counts(b, ids, level=lv), metric=f"{lv}.f1")
        for lv in ("strict", "lenient")
    )


@dataclass(frozen=True)
class ArticleChanges:
    """Gold events (by key) matched in B but not in A (gained) and the reverse (lost), per level."""

    article_id: str
    gained: tuple[str, ...]
    lost: tuple[str, ...]
    gained_strict: tuple[str, ...]
    lost_strict: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "gained": list(self.gained),
            "lost": list(self.lost),
            "gained_strict": list(self.gained_strict),
            "lost_strict": list(self.lost_strict),
        }


@dataclass(frozen=True)
class Comparison:
    """Run B against baseline run A: figures side by side, their significance, and the events that changed."""

    metrics: tuple[MetricDelta, ...]
    by_type: Mapping[str, tuple[MetricDelta, ...]]
    changes: tuple[ArticleChanges, ...]
    #: Paired tests of strict and lenient F1 over the articles both runs scored.
    tests: tuple[PairedTest, ...] = ()
    #: Gold articles scored in only one of the runs (left out of the tests).
    only_in_a: tuple[str, ...] = ()
    only_in_b: tuple[str, ...] = ()

    def metric(self, name: str) -> MetricDelta:
        """The figure called ``name``, e.g. ``strict.f1`` or ``counts.missed``."""
        return next(m for m in self.metrics if m.name == name)

    def is_regression(self, threshold: float) -> bool:
        """True when B's strict or lenient F1 is lower than A's by more than ``threshold``."""
        return any(
            (d := self.metric(name).delta) is not None and -d > threshold for name in ("strict.f1", "lenient.f1")
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": COMPARE_FORMAT,
            "metrics": [m.to_json() for m in self.metrics],
            "by_type": {t: [m.to_json() for m in ms] for t, ms in sorted(self.by_type.items())},
            "changes": {c.article_id: c.to_json() for c in self.changes},
            "tests": [t.to_json() for t in self.tests],
            "only_in_a": list(self.only_in_a),
            "only_in_b": list(self.only_in_b),
        }


_LEVELS = ("strict", "lenient", "slots")
_METRICS = ("precision", "recall", "f1")


def _matched_keys(scores: Mapping[str, Any], article_id: str, *, strict: bool) -> Counter[str]:
    pairs = scores.get("details", {}).get(article_id, {}).get("matched", [])
    return Counter(p["key"] for p in pairs if p["strict"] or not strict)


def _minus(a: Counter[str], b: Counter[str]) -> tuple[str, ...]:
    return tuple(sorted((a - b).elements()))


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> Comparison:
    """Compare two scores.json documents (A the baseline, B the candidate)."""
    _check_scores(a)
    _check_scores(b)
    metrics = [MetricDelta(f"{lv}.{m}", a[lv][m], b[lv][m]) for lv in _LEVELS for m in _METRICS]
    metrics += [MetricDelta(f"macro.{lv}.f1", a["macro"][lv]["f1"], b["macro"][lv]["f1"]) for lv in _LEVELS]
    for name in ("matched", "matched_strict", "missed", "spurious"):
        metrics.append(MetricDelta(f"counts.{name}", a["counts"][name], b["counts"][name]))
    by_type: dict[str, tuple[MetricDelta, ...]] = {}
    for event_type in sorted(set(a["by_type"]) | set(b["by_type"])):
        ta, tb = a["by_type"].get(event_type), b["by_type"].get(event_type)
        by_type[event_type] = tuple(
            MetricDelta(
                f"{lv}.{m}", ta[lv][m] if ta is not None else None, tb[lv][m] if tb is not None else None
            )
            for lv in _LEVELS
            for m in _METRICS
        )
    changes = []
    for article_id in sorted(set(a.get("details", {})) | set(b.get("details", {}))):
        la, lb = _matched_keys(a, article_id, strict=False), _matched_keys(b, article_id, strict=False)
        sa, sb = _matched_keys(a, article_id, strict=True), _matched_keys(b, article_id, strict=True)
        change = ArticleChanges(article_id, _minus(lb, la), _minus(la, lb), _minus(sb, sa), _minus(sa, sb))
        if change.gained or change.lost or change.gained_strict or change.lost_strict:
            changes.append(change)
    return Comparison(
        metrics=tuple(metrics),
        by_type=by_type,
        changes=tuple(changes),
        tests=paired_tests(a, b),
        only_in_a=tuple(sorted(set(a["by_article"]) - set(b["by_article"]))),
        only_in_b=tuple(sorted(set(b["by_article"]) - set(a["by_article"]))),
    )

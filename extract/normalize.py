"""Deterministic clean-up of model output, done in code rather than asked of the model.

- actor names and countries are canonicalized with the alias table;
- every number an event claims must be written in its evidence: an unsupported optional
  number is dropped, an event whose required number is unsupported is rejected;
- a missing location is read from the evidence when it names a country ("... in Iraq");
- a categorical field the evidence gives no cue for is replaced by the value its cue words
  name (a "bill" is legislation, "are repositioning" is underway: the wording of the type
  definitions and of the status rules), and a closure hands the facility to no one;
- the evidence must say what the type is about (a troop word for a troop level, an
  appointment word for a personnel change: the cue words of the type definitions in
  gold/GUIDELINES.md), and actor fields must name someone (not a number; a person is not a
  state or an organization of the alias table).
"""

from __future__ import annotations

import functools
import re

import pycountry

from extract.gold import Aliases
from extract.schema import ACTOR_FIELDS, Event, Location

INT_FIELDS = ("count", "resulting_level", "killed", "injured", "displaced")

_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s+(million|thousand))?", re.IGNORECASE)
_WORDS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90})
_WORDS.update({"a dozen": 12, "dozen": 12, "a hundred": 100, "a thousand": 1000})
_SCALE = {"million": 1_000_000, "thousand": 1_000}
_PLACE_WORDS = (
    r"(?:in|into|from|inside|outside|across|to|of)\s+(?:the\s+)?"
    r"(?:(?:north|south|east|west|northern|southern|eastern|western|central)\s+)?"
)


def numbers_in(text: str) -> set[int]:
    """Integers written in a text: "2,500", "3000", "1.2 million", "three", "a dozen"."""
    found: set[int] = set()
    for digits, scale in _NUMBER.findall(text):
        value = float(digits.replace(",", "")) * _SCALE.get(scale.lower(), 1)
        if value.is_integer():
            found.add(int(value))
    lowered = text.lower()
    found.update(n for w, n in _WORDS.items() if re.search(rf"\b{w}\b", lowered))
    return found


def verify_numbers(event: Event) -> Event | None:
    """Drop numbers the evidence does not state; None when a required number is unsupported."""
    stated = numbers_in(event.evidence)
    update: dict[str, object] = {}
    for name in INT_FIELDS:
        value = getattr(event, name, None)
        if value is None or value in stated:
            continue
        if type(event).model_fields[name].is_required():
            return None
        update[name] = None
        qualifier = type(event).model_fields.get("qualifier")
        if name == "count" and qualifier is not None and not qualifier.is_required():
            update["qualifier"] = None  # the hedge of a dropped count means nothing
    return event.model_copy(update=update) if update else event


@functools.cache
def _countries() -> dict[str, str]:
    """Surface name -> country name, from ISO 3166 (common names, without qualifiers)."""
    names = {}
    for country in pycountry.countries:
        name = getattr(country, "common_name", None) or country.name
        name = re.sub(r"\s*\(.*\)", "", name.split(",")[0]).strip()
        names[name] = name
    return names


@functools.cache
def _country_pattern() -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(_countries(), key=len, reverse=True))
    return re.compile(rf"\b({alternatives})(?:i|ian|n|ese)?\b")


def infer_country(evidence: str) -> str | None:
    """The country an evidence quote places its event in: after "in"/"from"/..., else the only one named."""
    pattern = _country_pattern()
    placed = re.search(_PLACE_WORDS + pattern.pattern, evidence)
    if placed:
        return placed.group(1)
    named = {m.group(1) for m in pattern.finditer(evidence)}
    return named.pop() if len(named) == 1 else None


#: Word stems the evidence of each type must contain, from the type definitions of the guidelines.
TYPE_CUES: dict[str, tuple[str, ...]] = {
    "troop_level": ("troop", "soldier", "forces", "force ", "personnel", "members", "contingent", "military",
                    "service member", "marine", "army"),
    "force_change": ("deploy", "withdr", "pull", "reduc", "cut", "draw", "rotat", "reposition", "sen", "leav",
                     "exit", "relocat", "mov", "depart", "arriv", "redeploy", "end", "remov", "return", "halv", "scal",
                     "downsiz", "shrink", "decreas", "increas", "reinforc", "dispatch", "boost"),
    "base_transfer": ("base", "camp", "facilit", "airport", "airfield", "headquarter", "command", "compound",
                      "station", "hand", "clos", "shut", "open"),
    "mission_change": ("role", "mission", "advis", "train", "assist", "combat", "transition", "support"),
    "attack": ("attack", "strike", "struck", "rocket", "missile", "drone", "shell", "fire", "fired", "shoot",
               "shot", "bomb", "explo", "ambush", "assault", "invasion", "invad", "raid", "kill", "targeted",
               "hit", "offensive", "clash", "fight"),
    "casualty_toll": ("kill", "dead", "death", "died", "wound", "injur", "casualt", "displac", "toll", "lives"),
    "operations_tally": ("sortie", "strike", "operation", "raid", "mission", "flight"),
    "political_decision": ("agree", "law", "bill", "vote", "parliament", "resolution", "declar", "announc",
                           "demand", "call", "urge", "order", "decid", "decision", "approv", "sign", "pact",
                           "deal", "treaty", "accord", "ceasefire", "truce", "request", "ask"),
    "personnel_change": ("appoint", "dismiss", "fire", "resign", "named", "nominat", "replac", "sack", "step",
                         "succeed", "successor", "oust", "remov"),
}


#: The status rules of the guidelines (section 5), in order of precedence.
_STATUS_CUES: tuple[tuple[str, str], ...] = (
    ("planned", r"\bwill\b|\bby the end of\b|\bplan(?:s|ned)?\b|\bwithin\b|\bschedul|\bto be\b"),
    ("underway", r"\b(?:is|are)\s+(?:now\s+)?\w+ing\b"),
    ("completed", r"\b(?:has|have|had)\s+(?:been\s+)?\w+(?:ed|en|t)\b|\bhanded over\b"),
    ("announced", r"announc"),
)

#: For each categorical field, its values in order of precedence and their cue patterns (the
#: type definitions of gold/GUIDELINES.md, and its section 5 for ``status``).
VALUE_CUES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("force_change", "kind"): (
        ("reposition", r"repositio|relocat"),
        ("rotate", r"rotat|\breplac"),
        ("withdraw", r"withdr|pull(?:ed|ing|s)? out|\bleav(?:e|es|ing)\b|\bexit"),
        ("reduce", r"reduc|\bcut|draw ?down|halv|downsiz"),
        ("deploy", r"deploy|dispatch|\bsen[dt]\b|reinforc"),
    ),
    ("force_change", "status"): _STATUS_CUES,
    ("mission_change", "status"): _STATUS_CUES,
    ("base_transfer", "kind"): (
        ("closure", r"\bclos|\bshut|deactivat"),
        ("handover", r"\bhand(?:ed|ing|s)? over|handover|transfer"),
        ("opening", r"\bopen"),
    ),
    ("attack", "means"): (
        ("airstrike", r"air ?strike|air raid"),
        ("drone", r"drone"),
        ("missile", r"missile"),
        ("rocket", r"rocket"),
        ("bombing", r"\bbomb(?!ard)|explosi|\bied\b"),
        ("ground_assault", r"storm(?:ed|ing)|ground (?:invasion|assault|offensive)|invad|invasion|incursion"),
        ("gunfire", r"gunfire|gunmen|\bshot\b|shooting|open(?:ed)? fire|under fire|fired on"),
    ),
    ("operations_tally", "kind"): (
        ("sorties", r"sortie"),
        ("raids", r"\braid"),
        ("strikes", r"strike"),
        ("operations", r"operation"),
    ),
    ("political_decision", "kind"): (
        ("legislation", r"\bbill\b|\blaws?\b|legislat"),
        ("agreement", r"agree|\bdeal\b|\baccord\b|\bpact\b|treaty"),
        ("declaration", r"declar"),
        ("order", r"\border(?:ed|s)?\b|\bdirect(?:ed|ive)"),
        ("demand", r"\bcall(?:ed|s|ing)? (?:on|for)\b|demand|\burg(?:e|ed|es|ing)\b"),
    ),
    ("personnel_change", "kind"): (
        ("resigned", r"resign|step(?:ped|s)? down|\bquit"),
        ("dismissed", r"dismiss|\bfired\b|\bsack|\boust|remov"),
        ("appointed", r"appoint|\bnamed\b|nominat"),
    ),
}


def repair_values(event: Event) -> Event:
    """Correct categorical fields from the evidence's cue words, and empty a closure's recipient.

    A value whose own cue is in the evidence is kept; otherwise the first value (in order of
    precedence) whose cue is there replaces it. Without any cue, the model's choice stands.
    """
    text = event.evidence.lower()
    update: dict[str, object] = {}
    for (event_type, name), cues in VALUE_CUES.items():
        if event.type != event_type:
            continue
        current = getattr(event, name)
        patterns = dict(cues)
        if current in patterns and re.search(patterns[current], text):
            continue
        cued = next((value for value, pattern in cues if re.search(pattern, text)), None)
        if cued is not None and cued != current:
            update[name] = cued
    if event.type == "base_transfer" and update.get("kind", getattr(event, "kind", None)) == "closure":
        update["to_party"] = None
    return event.model_copy(update=update) if update else event


def states_its_type(event: Event) -> bool:
    """Whether the evidence contains a cue word of the event's type."""
    text = event.evidence.lower()
    return any(cue in text for cue in TYPE_CUES[event.type])


def names_its_actors(event: Event, aliases: Aliases | None) -> bool:
    """Actor fields contain a letter; a person is neither a state nor an organization."""
    for name in ACTOR_FIELDS & set(type(event).model_fields):
        value = getattr(event, name)
        if isinstance(value, str) and not re.search(r"[^\W\d_]", value):
            return False
    person = getattr(event, "person", None)
    if person is not None:
        canonical = aliases.canonical(person) if aliases is not None else person
        if canonical in _countries() or (aliases is not None and canonical in aliases.table):
            return False
    return True


_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_PLACED = re.compile(r"\s+(?:in|of|from)\s+[A-Z][\w .'-]*$")
_INSTITUTION = re.compile(
    r"\s+(?:government|forces|force|troops|soldiers|military|army|security|armed|officials|"
    r"personnel|parliament|ministry|administration|authorities|combat|units?|contingent)$",
    re.IGNORECASE,
)


def _actor_forms(name: str) -> list[str]:
    """A name as written, then less and less decorated: without an article, a trailing place,
    and institution words ("the Iraqi government forces" -> "Iraqi government" -> "Iraqi")."""
    form = re.sub(r"\b([A-Z])\.\s+(?=[A-Z]\.)", r"\1.", " ".join(name.split()))  # "U. S." -> "U.S."
    forms = [form]
    form = _PLACED.sub("", _ARTICLE.sub("", form))
    forms.append(form)
    while (shorter := _INSTITUTION.sub("", form)) != form:
        form = shorter
        forms.append(form)
    return forms


def canonical_actor(name: str, aliases: Aliases) -> str:
    """The alias table's name for an actor, also when the model decorates a known name; a
    state's adjective with an institution ("Iraqi forces") is the state (guidelines, section 7)."""
    for form in _actor_forms(name):
        if (found := aliases.lookup(form)) is not None:
            return found
        if re.fullmatch(_country_pattern(), form) and form != name.strip():
            country = _country_pattern().fullmatch(form).group(1)  # type: ignore[union-attr]
            return aliases.lookup(country) or country
    return name.strip()


def canonicalize(event: Event, aliases: Aliases) -> Event:
    """Rewrite actor names (and the location's country) to their canonical form."""
    update: dict[str, object] = {}
    for name in ACTOR_FIELDS & set(type(event).model_fields):
        value = getattr(event, name)
        if isinstance(value, str):
            update[name] = canonical_actor(value, aliases)
        elif isinstance(value, list):
            update[name] = [canonical_actor(v, aliases) for v in value]
    if event.location is not None:
        update["location"] = event.location.model_copy(update={"country": aliases.canonical(event.location.country)})
    return event.model_copy(update=update)


def normalize(event: Event, aliases: Aliases | None) -> Event | None:
    """All the rules above, in order; None when the event must be rejected."""
    verified = verify_numbers(event)
    if verified is None:
        return None
    verified = repair_values(verified)
    if verified.location is None and (country := infer_country(verified.evidence)):
        verified = verified.model_copy(update={"location": Location(country=country)})
    return canonicalize(verified, aliases) if aliases is not None else verified

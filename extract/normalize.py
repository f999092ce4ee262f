"""Deterministic clean-up of model output, done in code rather than asked of the model.

The mechanisms are here; the words they look for are the task's (``Task.type_cues``,
``Task.value_cues``, ``Task.repair``), so this module names no event type.

- actor names and countries are canonicalized with the alias table, and a person acting in
  office is the state (the table's officeholders);
- every number an event claims must be written in its evidence: an unsupported optional
  number is dropped, an event whose required number is unsupported is rejected;
- a missing location is read from the evidence when it names a country ("... in Iraq"), else
  from the text before it ("... in the country"); a force is never placed in its own state, and
  a force named only by its unit ("the brigade") is the actor named beside it;
- a quote that places several counts in several countries gives one event per country;
- a categorical field the evidence gives no cue for is replaced by the value its cue words
  name (for the built-in task, a "bill" is legislation, "are repositioning" is underway), then
  the task's own last rule;
- the evidence must say what the type is about (a cue word of the type, from the task's
  guidelines), and actor fields must name someone (not a number; a person is not a state or an
  organization of the alias table).
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, get_args

import pycountry

from extract.aliases import Aliases
from extract.schema import Event, Location
from extract.task import Task
from extract.text import HEDGE_WORDS, HEDGES

if TYPE_CHECKING:
    from dateparser.date import DateDataParser

#: What makes a written number no count: an ordinal or a model number ("45th", "F-16"), or a
#: length of time or distance ("a seven-week campaign", "a 30-day deadline").
_NOT_A_COUNT = r"(?![a-z\d]|[.,]\d|-(?:[a-z]+-)?(?:second|minute|hour|day|week|month|year|mile|kilometre|kilometer|km|metre|meter|foot|feet)s?\b)"
_NUMBER = re.compile(
    rf"(?<![\w.])(?<![a-z]-)(\d{{1,3}}(?:,\d{{3}})+|\d+(?:\.\d+)?){_NOT_A_COUNT}(?:\s+(million|thousand))?", re.IGNORECASE
)
#: A word that starts like a month, before or after a day number: masked as no count. Loose on
#: purpose ("Sept.", "January"): a count masked by mistake only drops an unsupported number.
_MONTH_LIKE = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)(?:[a-z]*\.?)"
_DAY = re.compile(rf"\b{_MONTH_LIKE}\s+\d{{1,2}}\b(?!,\d)|\b\d{{1,2}}\s+{_MONTH_LIKE}(?=\W)")
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
    r"(?i:(in|into|from|inside|outside|across|to|of)\s+(?:the\s+)?"
    r"(?:(?:north|south|east|west|northern|southern|eastern|western|central)\s+)?)"
)
#: The words before a country that place an event there, surest first ("of" also names an
#: owner: "fighters of the Russian company ... in Mali").
_PLACE_RANK = {"in": 0, "into": 0, "inside": 0, "across": 0, "from": 1, "to": 1, "outside": 1, "of": 2}


_UNCOUNTED = re.compile(r"\b(?:hundreds|thousands|millions|dozens)\b", re.IGNORECASE)
_READ_DIGITS = re.compile(rf"(?<![\w.,])(?<![a-z]-)\d+{_NOT_A_COUNT}", re.IGNORECASE)
_NUMBER_WORD = re.compile(rf"\b({'|'.join(sorted(_WORDS, key=len, reverse=True))})\b{_NOT_A_COUNT}")


@functools.lru_cache(maxsize=4096)
def numbers_in(text: str) -> frozenset[int]:
    """Integers written in a text: "2,500", "3000", "1.2 million", "three", "twenty-five",
    "one hundred and twenty", "a dozen" (number words are read by text2num). Cached: a quote is
    read by several rules."""
    from text_to_num import alpha2digit

    text = _DAY.sub(" ", text)  # "Jan. 11", "26 July": a day of a month is no count
    found: set[int] = set()
    for digits, scale in _NUMBER.findall(text):
        value = float(digits.replace(",", "")) * _SCALE.get(scale.lower(), 1)
        if value.is_integer():
            found.add(int(value))
    # Digits are masked ("1.2 million" is read above), and so are "hundreds" or "thousands",
    # which text2num reads as 100 and 1000 but which are no count (guidelines, section 4).
    words = alpha2digit(_UNCOUNTED.sub(" # ", _NUMBER.sub(" # ", text)), "en")
    found.update(int(d) for d in _READ_DIGITS.findall(words))
    found.update(_WORDS[w] for w in _NUMBER_WORD.findall(words.lower()))
    return frozenset(found)


@functools.cache
def int_fields(cls: type[Event]) -> tuple[str, ...]:
    """The fields of an event class that hold a count (``int`` or ``int | None``)."""
    return tuple(name for name, f in cls.model_fields.items() if f.annotation is int or set(get_args(f.annotation)) == {int, type(None)})


def verify_numbers(event: Event) -> Event | None:
    """Drop numbers the evidence does not state; None when a required number is unsupported."""
    stated = numbers_in(event.evidence)
    update: dict[str, object] = {}
    for name in int_fields(type(event)):
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


def _states_a_figure(event: Event, task: Task) -> bool:
    """Whether an event of a type that is a figure (``Task.figures``) still holds a number."""
    if event.type not in task.figures:
        return True
    return any(getattr(event, name, None) is not None for name in int_fields(type(event)))


#: Names and adjectives of countries that ISO 3166 does not give, or gives in another form.
_OTHER_NAMES = {
    "Turkey": "Turkey", "Turkish": "Turkey", "Ukrainian": "Ukraine", "American": "United States",
    "British": "United Kingdom", "French": "France", "Dutch": "Netherlands", "German": "Germany",
    "Afghan": "Afghanistan", "Somali": "Somalia", "Yemeni": "Yemen", "Kuwaiti": "Kuwait", "Qatari": "Qatar",
    "Saudi": "Saudi Arabia", "Emirati": "United Arab Emirates", "Pakistani": "Pakistan", "Lebanese": "Lebanon",
    "Sudanese": "Sudan", "Malian": "Mali", "Nigerien": "Niger", "Congolese": "Congo", "Polish": "Poland",
    "Danish": "Denmark", "Swedish": "Sweden", "Finnish": "Finland", "Spanish": "Spain", "Greek": "Greece",
    "Democratic Republic of Congo": "Democratic Republic of the Congo", "DR Congo": "Democratic Republic of the Congo",
    "Filipino": "Philippines", "Bahraini": "Bahrain", "Omani": "Oman", "Burkinabe": "Burkina Faso",
    "Britain": "United Kingdom", "UK": "United Kingdom", "Canadian": "Canada", "South Korean": "South Korea",
    "Russia": "Russia", "Russian": "Russia", "Palestine": "Palestine", "Palestinian": "Palestine",
}  # fmt: skip


@functools.cache
def _countries() -> dict[str, str]:
    """Surface name -> country name, from ISO 3166 common names (without qualifiers; "Congo, The
    Democratic Republic of the" is "Democratic Republic of the Congo", not the Congo) and
    ``_OTHER_NAMES``."""
    names = {}
    for country in pycountry.countries:
        name = re.sub(r"\s*\(.*\)", "", getattr(country, "common_name", None) or country.name).strip()
        if "," in name:
            head, _, tail = name.partition(",")
            name = re.sub(r"^the\s+", "", f"{tail.strip()} {head}", flags=re.IGNORECASE)
        names[name] = name
    return names | _OTHER_NAMES


@functools.cache
def _country_pattern() -> re.Pattern[str]:
    alternatives = "|".join(re.escape(n) for n in sorted(_countries(), key=len, reverse=True))
    return re.compile(rf"\b({alternatives})(?:i|ian|n|ese)?\b(?!-)")  # "American-led" is no place


@functools.cache
def _placed_pattern() -> re.Pattern[str]:
    return re.compile(r"\b" + _PLACE_WORDS + _country_pattern().pattern)


def infer_country(evidence: str, *, besides: frozenset[str] = frozenset()) -> str | None:
    """The country an evidence quote places its event in: after "in"/"from"/..., else the only one
    named; never one of ``besides`` (the states of fields that are no place, such as a force's own)."""
    pattern, names = _country_pattern(), _countries()
    placed = [(_PLACE_RANK[m[1].lower()], names[m[2]]) for m in _placed_pattern().finditer(evidence)]
    if placed := [(rank, c) for rank, c in placed if c not in besides]:
        return min(placed, key=lambda found: found[0])[1]  # the first of the surest
    named = {names[m.group(1)] for m in pattern.finditer(evidence)} - besides
    return named.pop() if len(named) == 1 else None


def _placed_in(text: str) -> list[str]:
    """The countries a text puts something in ("in Iraq", "across Syria"), in order."""
    names = _countries()
    return [names[m[2]] for m in _placed_pattern().finditer(text) if _PLACE_RANK[m[1].lower()] == 0]


def last_country(text: str, *, besides: frozenset[str] = frozenset()) -> str | None:
    """The country a passage that goes on with "in the country" is in: the last one a text places
    something in ("... in Afghanistan"), else the last one it names, besides ``besides``."""
    placed, names = _placed_in(text), _countries()
    named = [names[m[1]] for m in _country_pattern().finditer(text)]
    return next((c for c in (*reversed(placed), *reversed(named)) if c not in besides), None)


def place(event: Event, *, before: str, task: Task, aliases: Aliases | None) -> Event:
    """Give an event its country when the model left none: from its evidence, else from the text
    before it. The state of a field that is never the place (``Task.not_the_place``: troops are
    counted where they serve) is no place; a location that names it is read again. Actor names
    and the location are canonical already (``canonicalize`` runs first)."""
    if "location" not in type(event).model_fields:
        return event
    states = frozenset(v for name in task.not_the_place if isinstance(v := getattr(event, name, None), str))
    if event.location is not None and event.location.country not in states:
        return event
    country = infer_country(event.evidence, besides=states) or last_country(before, besides=states)
    if country is None:
        return event if event.location is None else event.model_copy(update={"location": None})
    canonical = aliases.canonical(country) if aliases is not None else country
    return event.model_copy(update={"location": Location(country=canonical)})


@functools.cache
def _mention_pattern(aliases: Aliases) -> re.Pattern[str]:
    """Every name of the alias table as written, and every country, as one pattern (case-sensitive)."""
    names = {n for canonical, more in aliases.table.items() for n in (canonical, *more)} | set(_countries())
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])({alternatives})(?:i|ian|n|ese)?(?![\w-])")


def _mentions(text: str, aliases: Aliases) -> list[str]:
    """The actors a text names, in order, canonical."""
    names = _countries()
    return [aliases.lookup(m[1]) or names.get(m[1], m[1]) for m in _mention_pattern(aliases).finditer(text)]


def name_the_force(event: Event, *, before: str, task: Task, aliases: Aliases | None) -> Event:
    """A force named only by its unit (``Task.unit_pattern``: "the brigade", "a Stryker squadron")
    is the one actor its evidence names besides its place, else the last one named before it. So is
    a force that is the country its quote puts the troops in: that country hosts them, and is the
    event's place (a force is whose troops they are, counted where they serve)."""
    if aliases is None or task.unit_pattern is None:
        return event
    where = event.location.country if event.location is not None else None
    update: dict[str, object] = {}
    for name in task.not_the_place:
        value = getattr(event, name, None)
        if not isinstance(value, str):
            continue
        placed = _placed_in(event.evidence)  # the first is the country hosting the troops
        host = aliases.canonical(placed[0]) if placed else None
        hosted = value == host
        if not hosted and not (task.unit_pattern.fullmatch(value.strip()) and aliases.lookup(value) is None):
            continue
        here = host if hosted else where
        named = [m for m in dict.fromkeys(_mentions(event.evidence, aliases)) if m != here]
        earlier = [m for m in _mentions(before, aliases) if m != here]
        found = named[0] if len(named) == 1 else (earlier[-1] if earlier and not named else None)
        if found is not None:
            update[name] = found
            if hosted:
                update["location"] = Location(country=host)
    return event.model_copy(update=update) if update else event


@functools.cache
def _count_in_pattern() -> re.Pattern[str]:
    """A count, at most five words, then "in" and a country: "2,500 American troops in Iraq",
    "roughly 900 in neighboring Syria", "2,500 across the border in Iraq" (numbers in digits)."""
    return re.compile(
        rf"(?:\b(?i:(?P<hedge>{HEDGE_WORDS}))\s+)?(?P<count>\d{{1,3}}(?:,\d{{3}})+|\d+)\s+(?:[\w-]+\s+){{0,5}}?"
        rf"(?:across the border\s+)?in\s+(?:the\s+)?(?:neighbou?ring\s+)?{_country_pattern().pattern}"
        rf"(?!,?\s+and\s+{_country_pattern().pattern})"  # "196 operations in Iraq and Syria" is in neither
    )


def counts_beside(event: Event) -> list[Event]:
    """The other events a quote states beside the model's one when it places several counts in
    several countries ("about 2,500 American troops in Iraq and roughly 900 in neighboring Syria"
    is two troop levels): copies of the event with each other count, its hedge and its country."""
    if getattr(event, "count", None) is None or "location" not in type(event).model_fields:
        return []
    from text_to_num import alpha2digit

    if event.count not in numbers_in(event.evidence):  # type: ignore[attr-defined]
        return []  # a count the quote does not state: the model read something else in it
    names, copies = _countries(), []
    for found in _count_in_pattern().finditer(alpha2digit(event.evidence, "en")):
        count = int(found["count"].replace(",", ""))
        if count != event.count:  # type: ignore[attr-defined]
            qualifier = HEDGES.get((found["hedge"] or "").lower(), "exact")
            where = Location(country=names[found[3]])
            copies.append(event.model_copy(update={"count": count, "qualifier": qualifier, "location": where}))
    return copies


@functools.cache
def _listed_pattern() -> re.Pattern[str]:
    """Countries listed after a word that places something in them: "in Iraq and Afghanistan",
    "out of Mali, Burkina Faso and Niger"."""
    one = rf"(?:the\s+)?{_country_pattern().pattern}"
    return re.compile(rf"\b(?i:in|into|from|out of|across)\s+(?P<list>{one}(?:\s*,\s*{one})*,?\s+and\s+{one})")


def countries_beside(event: Event) -> list[Event]:
    """The other events a quote states beside the model's one when it places a fact without a
    figure in several countries ("the withdrawal of the remaining soldiers in Iraq and
    Afghanistan" is one withdrawal per country; guidelines, decided cases): copies of the event,
    one per other country listed. A figure stated for several countries together is no one
    country's."""
    if "location" not in type(event).model_fields:
        return []
    if any(getattr(event, name) is not None for name in int_fields(type(event))):
        return []
    own = event.location.country if event.location is not None else None  # type: ignore[attr-defined]
    names = _countries()
    for found in _listed_pattern().finditer(event.evidence):
        listed = list(dict.fromkeys(names[m.group(1)] for m in _country_pattern().finditer(found["list"])))
        if own is None or own in listed:  # a place left empty is one of them, as ``place`` will read
            return [event.model_copy(update={"location": Location(country=c)}) for c in listed if c != own]
    return []


def repair_values(event: Event, task: Task) -> Event:
    """Correct categorical fields from the evidence's cue words, then apply the task's last rule.

    A value whose own cue is in the evidence is kept; otherwise the first value (in order of
    precedence) whose cue is there replaces it. Without any cue, the model's choice stands.
    """
    text = event.evidence.lower()
    update: dict[str, object] = {}
    for (event_type, name), cues in task.value_cues.items():
        if event.type != event_type:
            continue
        current = getattr(event, name)
        patterns = dict(cues)
        if current in patterns and re.search(patterns[current], text):
            continue
        cued = next((value for value, pattern in cues if re.search(pattern, text)), None)
        if cued is not None and cued != current:
            update[name] = cued
    repaired = event.model_copy(update=update) if update else event
    return task.repair(repaired) if task.repair is not None else repaired


def states_its_type(event: Event, task: Task) -> bool:
    """Whether the evidence contains a cue word of the event's type (a type without cues passes)."""
    pattern = type_cue_pattern(task, event.type)
    return pattern is None or pattern.search(event.evidence) is not None


def type_cue_pattern(task: Task, event_type: str) -> re.Pattern[str] | None:
    """The cue words of a type as one pattern; None for a type without cues."""
    cues = task.type_cues.get(event_type)
    return None if cues is None else _cue_pattern(cues)


@functools.cache
def _cue_pattern(cues: tuple[str, ...]) -> re.Pattern[str]:
    """Cue words as one pattern, each matched at the start of a word ("end" is not in "weekend"); one
    written with a trailing space is a whole word ("law " is not in "lawmakers")."""
    words = (re.escape(c.strip()) + (r"\b" if c.endswith(" ") else "") for c in cues)
    return re.compile(r"\b(?:" + "|".join(words) + ")", re.IGNORECASE)


def names_its_actors(event: Event, aliases: Aliases | None) -> bool:
    """Actor fields contain a letter; a person is neither a state nor an organization."""
    for name in type(event).actor_fields & set(type(event).model_fields):
        value = getattr(event, name)
        if isinstance(value, str) and not re.search(r"[^\W\d_]", value):
            return False
    person = getattr(event, "person", None)
    if person is not None:
        canonical = aliases.canonical(person) if aliases is not None else person
        if canonical in _countries() or (aliases is not None and canonical in aliases.table):
            return False
    return True


_INITIALS = re.compile(r"\b(?:[A-Z]\.){2,}")
_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.IGNORECASE)
_PLACED = re.compile(r"\s+(?:in|of|from)\s+[A-Z][\w .'-]*$")
_INSTITUTION = re.compile(
    r"\s+(?:government|forces|force|troops|soldiers|military|army|security|armed|officials|"
    r"personnel|parliament|ministry|administration|authorities|combat|units?|contingent|national|"
    r"council|cabinet|senate|congress|marines|navy|air force)$",
    re.IGNORECASE,
)


def _actor_forms(name: str) -> list[str]:
    """A name as written, then less and less decorated: without an article, a trailing place,
    and institution words ("the Iraqi government forces" -> "Iraqi government" -> "Iraqi"); each
    also with its initials undotted ("U.S.-led coalition" -> "US-led coalition")."""
    form = re.sub(r"\b([A-Z])\.\s+(?=[A-Z]\.)", r"\1.", " ".join(name.split()))  # "U. S." -> "U.S."
    forms = [form]
    form = _PLACED.sub("", _ARTICLE.sub("", form))
    forms.append(form)
    while (shorter := _INSTITUTION.sub("", form)) != form:
        form = shorter
        forms.append(form)
    return list(dict.fromkeys(f for form in forms for f in (form, _INITIALS.sub(lambda m: m[0].replace(".", ""), form))))


def canonical_actor(name: str, aliases: Aliases) -> str:
    """The alias table's name for an actor, also when the model decorates a known name; a
    state's adjective with an institution ("Iraqi forces") is the state, and so is a person
    acting in its office ("President Joe Biden") (guidelines, section 7)."""
    for form in _actor_forms(name):
        if (found := aliases.lookup(form)) is not None:
            return found
        if re.fullmatch(_country_pattern(), form) and form != name.strip():
            country = _countries()[_country_pattern().fullmatch(form).group(1)]  # type: ignore[union-attr]
            return aliases.lookup(country) or country
    if (state := aliases.office_of(name)) is not None:
        return aliases.canonical(state)
    return name.strip()


def canonicalize(event: Event, aliases: Aliases) -> Event:
    """Rewrite actor names (and the location's country) to their canonical form."""
    update: dict[str, object] = {}
    for name in type(event).actor_fields & set(type(event).model_fields):
        value = getattr(event, name)
        if isinstance(value, str):
            update[name] = canonical_actor(value, aliases)
        elif isinstance(value, list):
            update[name] = [canonical_actor(v, aliases) for v in value]
    if event.location is not None:
        update["location"] = event.location.model_copy(update={"country": aliases.canonical(event.location.country)})
    return event.model_copy(update=update)


#: A month's name as a date writes it, exactly (so "Mayor" is none).
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
_WEEKDAY = r"(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day"
_YEAR = r"(?:19|20)\d\d"
#: The dates a quote can write, surest first: a day of a month, a month, a weekday, a year, then
#: "last month", "this year" and the like (read against the publication day). Names
#: are capitalized, so "may" the verb is none. A date after "by", "until", "before", "within",
#: "next" or "later" is a deadline, after "between" or "from" the start of a period: neither is
#: the event's date (a clause opened by "since" is ``_PERIOD_OPEN``'s, however far the word).
_NOT_AFTER = r"(?<![\w$,.])" + "".join(
    f"(?<!{w} )" for w in ("by", "until", "before", "within", "next", "later", "between", "from")
)
_DATE = re.compile(
    rf"{_NOT_AFTER}(?P<day>{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?\b(?:,? {_YEAR})?|\d{{1,2}} {_MONTH}(?: {_YEAR})?)"
    rf"|{_NOT_AFTER}(?P<month>{_MONTH}(?: {_YEAR})?(?!\w))"
    rf"|{_NOT_AFTER}(?P<weekday>(?:last )?{_WEEKDAY})\b"
    rf"|{_NOT_AFTER}(?P<year>{_YEAR})(?![\w,.]\d|\w)"
    rf"|{_NOT_AFTER}(?:(?P<last_month>last month)|(?P<this_month>this month)"
    r"|(?P<last_year>last year)|(?P<this_year>this year))\b"
)
_PRECISION = {"day": 10, "weekday": 10, "month": 7, "year": 4}
#: Dates that bound a period: in a clause opened by "since" ("since Russia's invasion in February
#: 2022") or by "between" and a date ("between August 2014 and the end of 2018"; "talks between
#: Iraq and the U.S. on Monday" keep their date).
_PERIOD_OPEN = re.compile(
    rf"\bsince\b[^,;:]*$|\bbetween\s+(?:\w+\s+){{0,2}}(?:{_MONTH}|{_YEAR})(?!\w)[^,;:]*$", re.IGNORECASE
)


def _relative(kind: str, day: datetime) -> str:
    """A relative month or year ("last month", "this year") read against the publication day, as precise as the words."""
    if kind == "last_month":
        return (day.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    if kind == "this_month":
        return day.strftime("%Y-%m")
    return str(day.year - (kind == "last_year"))


def _publication_day(published: object) -> datetime | None:
    """An article's publication date when it is an ISO day ("2021-01-15", or a timestamp that
    starts with one); None otherwise (a year alone, another format): no relative date is read then."""
    if not isinstance(published, str):
        return None
    try:
        return datetime.fromisoformat(published[:10])
    except ValueError:
        return None


@functools.lru_cache(maxsize=64)
def _date_parser(day: datetime | None) -> DateDataParser:
    """dateparser's parser for English, reading relative dates against a publication day (made once per day)."""
    from dateparser.date import DateDataParser

    settings: dict[str, object] = {
        "PREFER_DATES_FROM": "past", "RETURN_AS_TIMEZONE_AWARE": False,
        "PARSERS": ["absolute-time"],  # the phrases _DATE finds are all of this kind; the others cost time
    }
    if day is not None:  # the day after, so "on Monday" in a Monday's paper is that Monday
        settings["RELATIVE_BASE"] = day + timedelta(days=1)
    return DateDataParser(languages=["en"], settings=settings)


@functools.lru_cache(maxsize=4096)
def date_in(text: str, *, published: str | None) -> str | None:
    """The first date a quote writes, ISO and as precise as the text (guidelines, section 6):
    "on Monday" or "March 12" resolved against the publication date (dateparser); without one,
    only a date that writes its year. None when the quote writes no date, or only a deadline or
    the start of a period."""
    day = _publication_day(published)
    for found in _DATE.finditer(text):
        kind = found.lastgroup or "day"
        phrase = found[kind]
        if _PERIOD_OPEN.search(text, 0, found.start()):
            continue
        if kind not in _PRECISION:
            if day is not None:
                return _relative(kind, day)
            continue
        if day is None and not re.search(_YEAR, phrase):
            continue
        if (written := _read_date(phrase.replace(".", ""), day)) is not None:
            return written[: _PRECISION[kind]]
    return None


@functools.lru_cache(maxsize=4096)
def _read_date(phrase: str, day: datetime | None) -> str | None:
    """A date phrase as an ISO day (dateparser: about half a millisecond, so each is read once)."""
    parsed = _date_parser(day).get_date_data(phrase)
    return parsed.date_obj.date().isoformat() if parsed.date_obj is not None else None


def normalize(
    event: Event, aliases: Aliases | None, *, task: Task, before: str = "", published: str | None = None
) -> Event | None:
    """All the rules above, in order; None when the event must be rejected. ``before``: the
    article's text before the evidence, where a place left unnamed is looked for; ``published``:
    the article's date, against which a date the model left empty is read from the quote."""
    verified = verify_numbers(event)
    if verified is None and task.uncounted is not None and (instead := task.uncounted(event)) is not None:
        verified = verify_numbers(instead)
    if verified is None or not _states_a_figure(verified, task):
        return None
    verified = repair_values(verified, task)
    verified = canonicalize(verified, aliases) if aliases is not None else verified
    verified = place(verified, before=before, task=task, aliases=aliases)
    if verified.date is None and (written := date_in(verified.evidence, published=published)) is not None:
        verified = verified.model_copy(update={"date": written})
    return name_the_force(verified, before=before, task=task, aliases=aliases)

"""The military task's normalizer rules: cue words from the type definitions and status rules of
its GUIDELINES.md, the words of units and of what reports no event, and the rules no table holds
(troops added are no level, a change that names no change is a level, a level that counts no one
but names a move is that move, a planned level is a planned change, a withdrawal that leaves
troops is a reduction, a change done to a level and the level are both facts, a toll's part
counted apart is a second toll, what aircraft bomb is an airstrike, a closed facility goes to no
one). None may reject or change what the gold labels beyond the known cases (tests/test_regression.py)."""

from __future__ import annotations

import re

from extract.schema import Event
from extract.tasks.military.schema import CasualtyToll, ForceChange, MissionChange, TroopLevel
from extract.text import HEDGE_WORDS, HEDGES, hedge_of

#: Word stems the evidence of each type must contain, from the type definitions of the guidelines.
TYPE_CUES: dict[str, tuple[str, ...]] = {
    "troop_level": ("troop", "soldier", "forces", "force ", "personnel", "members", "contingent", "military",
                    "service member", "marine", "army"),
    "force_change": ("deploy", "withdr", "pull", "reduc", "cut", "draw", "rotat", "reposition", "send", "sent", "leav",
                     "exit", "relocat", "mov", "depart", "arriv", "redeploy", "end", "remov", "return", "halv", "scal",
                     "downsiz", "shrink", "decreas", "increas", "reinforc", "dispatch", "boost"),
    # A facility changes hands, closes or opens: naming a base is not enough.
    "base_transfer": ("hand", "transfer", "clos", "shut", "open", "gave up", "give up", "giving up", "gives up",
                      "passed to", "turned over", "deactivat"),
    # A role, not the mission's name ("bring the military mission to an end" changes no role).
    "mission_change": ("role", "advis", "train", "assist", "combat", "transition", "support"),
    # An attack names its means, not only its dead or its fighters ("Those missions killed 44
    # militants" is a toll; "Fighting ... continued" reports none).
    "attack": ("attack", "strike", "airstrike", "struck", "rocket", "missile", "drone", "shell", "fire", "fired",
               "shoot", "shot", "bomb", "explo", "ambush", "assault", "invasion", "invad", "incursion", "raid",
               "storm", "overr", "sank", "sunk", "sink", "seiz", "gunmen", "targeted", "hit", "offensive", "clash", "gunfire", "counterattack",
               "counteroffensive"),
    "casualty_toll": ("kill", "dead", "death", "died", "wound", "injur", "casualt", "displac", "toll", "lives"),
    "operations_tally": ("sortie", "strike", "airstrike", "operation", "raid", "airraid", "mission", "flight"),
    "political_decision": ("agree", "law ", "laws", "bill", "vote", "parliament", "resolution", "declar", "announc",
                           "demand", "call on", "called on", "calls on", "calling on", "call for", "called for",
                           "calls for", "calling for", "urge", "order", "decid", "decision", "approv", "sign ",
                           "signs", "signed", "signing", "signature", "pact", "deal", "treaty", "accord", "ceasefire",
                           "truce", "request", "ask"),
    "personnel_change": ("appoint", "dismiss", "fire", "resign", "named", "nominat", "replac", "sack", "step",
                         "succeed", "successor", "oust", "remov", "took command", "took office", "took over",
                         "sworn in", "elected", "depos"),
}


#: Words that name a kind of unit, not whose it is ("The brigade now has about 400 soldiers").
UNIT_WORDS: tuple[str, ...] = (
    "brigade", "battalion", "battlegroup", "battle group", "division", "regiment", "contingent", "mission",
    "task force", "force", "forces", "troops", "soldiers", "unit", "units", "paratroopers", "peacekeepers",
    "marines",
)  # fmt: skip

#: Words that end the name of a formation ("the 2nd Cavalry Regiment", "a Stryker squadron"). Not
#: "force", "mission" or "group": they also end the names of actors ("Kosovo Force", "Wagner Group").
FORMATION_WORDS: tuple[str, ...] = (
    "brigade", "battalion", "battlegroup", "battle group", "division", "regiment", "squadron", "column",
    "corps", "company", "platoon", "fleet", "wing", "airborne", "cavalry", "infantry", "unit", "units",
)  # fmt: skip

#: What the guidelines (section 1) do not label, whatever the quote's words: speculation on what
#: someone can do, and threats on a condition.
NO_EVENT: tuple[str, ...] = (
    r"\bcapable of\b",
    r"\b(?:threat\w*|warn\w*|vow\w*|will)\b[^.;]*\bif\b",
)

_COUNT_WORD = (
    r"\d[\d,]*|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
    r"thousand|dozens?|hundreds|thousands|scores"
)
#: Words that count people under arms.
_TROOPS = r"troops|soldiers|service members|servicemembers|marines"
#: The weapons and words that may stand between a count and the actions it counts.
_ARMS = r"drone|rocket|missile|mortar|artillery|air|and|separate"


def _counted(actions: str, *, between: str = _ARMS) -> str:
    """A count of actions ("twenty-eight raids", "56 drone and rocket strikes"), as a pattern."""
    return rf"\b(?:{_COUNT_WORD})\s+(?:(?:{between})\s+){{0,3}}(?:air)?(?:{actions})\b"


#: An attack told again, named by its definite noun and said what it was ("The raid was supported
#: by ...", "the strikes were acts of self-defense", "The incident was the deadliest ...").
_TOLD_AGAIN = (
    r"\b(?:the|those|these|this|that)\s+(?:raids?|strikes?|airstrikes?|attacks?|incidents?|deaths|bombings?|"
    r"assaults?)\s+(?:was|were|is|are)\b"
)

#: A weapon tested, not fired at anyone ("test-fired a new ballistic missile").
_A_TEST = r"\btest[- ]?(?:fir|launch)\w*|\bmissile tests?\b"

#: Quotes that never report one event of a type (guidelines, ``attack``: "one attack is one
#: event"): a count of strikes, attacks, raids or sorties is a tally of a campaign, and an attack
#: told again is no second one.
NOT_OF_TYPE: dict[str, tuple[str, ...]] = {
    "attack": (_counted("strikes|attacks|raids|sorties"), _TOLD_AGAIN, _A_TEST),
}

#: The status rules of the guidelines (section 5), in order of precedence.
_STATUS_CUES: tuple[tuple[str, str], ...] = (
    ("planned", r"(?<!\bthat )(?<!\bwhich )(?<!\bwho )\bwill\b|\bby the end of\b|\bplan(?:s|ned)?\b|\bwithin\b|\bschedul|\bto be\b"
                r"|\b(?:is|are) (?:due )?to\b"),
    ("underway", r"\b(?:is|are)\s+(?:now\s+)?\w+ing\b|\b(?:has|have)\s+(?:begun|started)\b"),
    ("completed", r"\b(?:has|have|had)\s+(?:been\s+)?\w+(?:ed|en|t)\b|\bhanded over\b"),
    ("announced", r"announc"),
)

#: Aircraft: what they strike is an airstrike (decided cases: "helicopters sinking boats"; a
#: helicopter also carries a raid, so it names no means alone).
_AIRCRAFT = r"\baircraft\b|\bwarplanes?\b|\bfighter jets?\b"

#: For each categorical field, its values in order of precedence and their cue patterns (the
#: type definitions of gold/GUIDELINES.md, its section 5 for ``status``, and the decided cases of
#: gold/README.md: gunmen storming a compound are a ground assault, an ambush is gunfire; and,
#: as the dev set labels them, a raid is a ground assault, an air raid an airstrike).
VALUE_CUES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("force_change", "kind"): (
        ("reposition", r"repositio|relocat|regroup|consolidat|\bmov(?:ed|es|ing)\s+(?:\w+\s+){0,3}?to\b"),
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
        ("airstrike", r"air ?strike|air raid|" + _AIRCRAFT),
        ("drone", r"drone"),
        ("missile", r"missile"),
        ("rocket", r"rocket"),
        ("bombing", r"\bbomb(?!ard)|explosi|\bied\b"),
        ("ground_assault", r"gunmen|(?<!air )\braid|storm(?:ed|ing)|overr(?:an|un)|ground (?:invasion|assault|offensive)|invad|invasion|incursion"),
        ("gunfire", r"gunfire|ambush|\bshot\b|shooting|open(?:ed)? fire|under fire|fired on"),
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
        ("demand", r"\bcall(?:ed|s|ing)? (?:on|for)\b|demand|\burg(?:e|ed|es|ing)\b|\bask(?:ed|s|ing)?\b|\brequest"),
    ),
    ("personnel_change", "kind"): (
        ("resigned", r"resign|step(?:ped|s)? down|\bquit"),
        ("dismissed", r"dismiss|\bfired\b|\bsack|\boust|remov|\bdepos"),
        ("appointed", r"appoint|\bnamed\b|nominat|\btook (?:command|office|over)\b|\bsworn in\b|\belected\b"),
    ),
}


#: A count of actions of a campaign ("fifty-six drone and rocket strikes", "196 operations").
_COUNTED_ACTIONS = _counted(
    "strikes|attacks|raids|sorties|operations|missions", between=f"{_ARMS}|combat|counterterrorism"
)

#: What every quote of a type states: a tally counts actions (guidelines, ``operations_tally``:
#: "counted sorties, strikes, operations, raids"), so "more than 10,500 civilians have been
#: killed" or "25 casualty allegation reports" is none.
ONLY_OF_TYPE: dict[str, tuple[str, ...]] = {
    "operations_tally": (_COUNTED_ACTIONS, _counted("flights|rotations|patrols|times", between=f"{_ARMS}|more")),
}

#: The types the hybrid strategy also fills in every window whose words name one of their kinds
#: (the cue words above; for tallies, a count of actions), beside its windows calls and detection.
#: Chosen on the dev set (README): decisions, appointments and tallies gain there, the other
#: types' fills add more wrong events than right; agreements are not routed, as their fills gain
#: least for their time (0.001 F1 for 8 s an article).
FILL_CUES: dict[str, tuple[str, ...]] = {
    "political_decision": tuple(
        pattern for kind, pattern in VALUE_CUES[("political_decision", "kind")] if kind != "agreement"
    ),
    "personnel_change": tuple(pattern for _, pattern in VALUE_CUES[("personnel_change", "kind")]),
    "operations_tally": (_COUNTED_ACTIONS,),
}


#: Troops counted as added or taken away ("1,200 more soldiers", "a further three thousand
#: troops"): a change of force, not "a level at a time" (guidelines, ``troop_level``).
_ADDED = re.compile(
    r"\b(?:more|additional|further|extra|another)\s+(?:[\w,.-]+\s+){0,2}?"
    rf"(?:{_TROOPS}|personnel|forces)\b",
    re.IGNORECASE,
)


#: Troops counted as they move ("about 300 soldiers have been moved to Erbil", "4,000 Marines
#: are to move from Okinawa"): the count is of troops moved, not of troops a force has, unless
#: the quote also says what stays ("2,500 troops remain after 1,000 left").
_STAYING = re.compile(r"\b(?:remain\w*|stay\w*|stationed|keeps?|still)\b", re.IGNORECASE)
_MOVING = re.compile(
    rf"\b(?:{_TROOPS}|personnel|forces)\b,?\s+(?:[\w,-]+\s+){{0,5}}?"
    r"(?:(?:have|has|had|were|was|are|is|will)\s+(?:(?:now|begun|started|been|to)\s+)*)"
    r"(?:mov(?:e|ed|ing)|sent|leav(?:e|ing)|left|withdr\w+|pull(?:ed|ing)? out|arriv\w+|relocat\w+|redeploy\w*)\b",
    re.IGNORECASE,
)


#: A count written in digits ("2,500", "300").
_DIGITS = r"\d{1,3}(?:,\d{3})+|\d+"


def _cued(cues: tuple[tuple[str, str], ...], quote: str) -> str | None:
    """The first value (in order of precedence) whose cue pattern the quote holds, if any."""
    text = quote.lower()
    return next((value for value, cue in cues if re.search(cue, text)), None)


def _change(level: Event, **values: object) -> ForceChange:
    """A force change told by a troop level's quote, at its date, place and force, with ``values``."""
    fields = level.model_dump(include={"evidence", "date", "location", "force"})
    return ForceChange.model_validate({**fields, "type": "force_change", **values})


def troops_added_are_a_change(event: Event) -> Event:
    """A troop level whose count is of troops added, taken away or moved is a ``force_change`` of
    that many: its kind and status from the cue words (a deployment, done, when none is written)."""
    if event.type != "troop_level":
        return event
    moving = _MOVING.search(event.evidence) and not _STAYING.search(event.evidence)
    if not (_ADDED.search(event.evidence) or moving):
        return event
    kind = _cued(VALUE_CUES[("force_change", "kind")], event.evidence) or "deploy"
    status = _cued(_STATUS_CUES, event.evidence) or "completed"
    return _change(event, **event.model_dump(include={"count", "qualifier"}), kind=kind, status=status)


#: A count of troops ("two thousand U.S. troops", "about 140,000 troops"), and the words of a change
#: (the type's cue words and those of its kinds).
_TROOPS_COUNTED = re.compile(
    rf"\b(?:{_COUNT_WORD})\s+(?:[\w.-]+\s+){{0,2}}?(?:{_TROOPS})\b",
    re.IGNORECASE,
)
_CHANGE_WORD = re.compile(
    "|".join([r"\b(?:" + "|".join(re.escape(c) for c in TYPE_CUES["force_change"]) + ")"]
             + [pattern for _, pattern in VALUE_CUES[("force_change", "kind")]]),
    re.IGNORECASE,
)


def a_change_without_change_is_a_level(event: Event) -> Event:
    """A force change whose quote names no change (no cue word of the type) but counts troops is
    what a force has: a troop level of that count ("Fewer than two thousand U.S. troops remain in
    Iraq"; guidelines, ``troop_level``)."""
    if not isinstance(event, ForceChange) or event.count is None or _CHANGE_WORD.search(event.evidence):
        return event
    if not _TROOPS_COUNTED.search(event.evidence):
        return event
    fields = event.model_dump(include={"evidence", "date", "location", "force", "count"})
    qualifier = event.qualifier or hedge_of(event.evidence, event.count)
    return TroopLevel.model_validate({**fields, "type": "troop_level", "qualifier": qualifier})


#: Words that name troops, whatever their number ("French forces", "the U.S. contingent").
_TROOP_WORD = re.compile(rf"\b(?:{_TROOPS}|troop|soldier|forces|personnel|contingent)\b", re.IGNORECASE)


def a_level_that_counts_nothing_is_a_move(event: Event) -> Event | None:
    """A troop level whose quote counts no troops but names troops and a move is that move, uncounted
    ("France first sent troops to Mali in January 2013"; guidelines, ``troop_level`` needs a count):
    a ``force_change`` whose kind and status come from the cue words (done, when none is written).
    None when the quote names no kind of move."""
    if not isinstance(event, TroopLevel) or not _CHANGE_WORD.search(event.evidence):
        return None
    if not _TROOP_WORD.search(event.evidence) or _TROOPS_COUNTED.search(event.evidence):
        return None  # no troops named, or troops counted (a count the model misread is no move)
    if (kind := _cued(VALUE_CUES[("force_change", "kind")], event.evidence)) is None:
        return None
    return _change(event, kind=kind, status=_cued(_STATUS_CUES, event.evidence) or "completed")


#: A force's role named as it changes ("ended its combat mission", "moves to a supporting role")
#: and the role it turns to.
_ROLE = re.compile(r"\b(?:combat|military|training) (?:mission|role)\b|\brole\b", re.IGNORECASE)
_NEW_ROLE = re.compile(r"\b(?:advis\w*|train(?:s|ing)?|assist\w*|support\w*|mentor\w*)\b", re.IGNORECASE)


def a_new_role_is_a_mission_change(event: Event) -> Event:
    """A change of force that counts no troops, whose quote names a mission or role and the advising,
    training or supporting role the force turns to, is a ``mission_change`` (guidelines, ``mission_change``)."""
    if not isinstance(event, ForceChange) or event.count is not None or not _ROLE.search(event.evidence):
        return event
    if not (new_role := _NEW_ROLE.search(event.evidence)):
        return event
    fields = event.model_dump(include={"evidence", "date", "location", "force", "status"})
    previous = "combat" if re.search(r"\bcombat\b", event.evidence, re.IGNORECASE) else None
    return MissionChange.model_validate(
        {**fields, "type": "mission_change", "new_role": new_role.group(0).lower(), "previous_role": previous}
    )


#: A change of a force's size done to a level: "has reduced the number of its troops in Iraq to
#: 2,500", "cut its contingent to about 300" (the level's number follows "to").
_CHANGED_TO = re.compile(
    r"\b(?:(?P<down>reduc\w*|cut|shr[iu]nk\w*|drawn down|drew down)|increas\w*|rais\w*|boost\w*|grow\w*|grew)\b"
    rf"[^.;]{{0,80}}?\bto\s+(?:(?:{HEDGE_WORDS})\s+)?(?P<level>{_DIGITS})\b",
    re.IGNORECASE,
)


def level_reached(event: Event) -> list[Event]:
    """A change done to a level and that level are both facts (guidelines, section 2: "reduced
    ... to 2,500" is a ``force_change`` with ``resulting_level`` and a ``troop_level``): a change
    done (completed, underway) also gives the level, and a level quoted as reached by a change
    also gives the change, done unless the quote says otherwise."""
    if isinstance(event, ForceChange) and event.resulting_level is not None and event.status in ("completed", "underway"):
        level, qualifier = event.resulting_level, hedge_of(event.evidence, event.resulting_level)
        fields = event.model_dump(include={"evidence", "date", "location", "force"})
        return [TroopLevel.model_validate({**fields, "type": "troop_level", "count": level, "qualifier": qualifier})]
    if not isinstance(event, TroopLevel):
        return []
    reached = _CHANGED_TO.search(event.evidence)
    if reached is None or int(reached["level"].replace(",", "")) != event.count:
        return []
    kind = "reduce" if reached["down"] else "deploy"
    status = _cued(_STATUS_CUES, event.evidence) or "completed"
    return [_change(event, kind=kind, status=status, resulting_level=event.count)]


#: A part of a toll counted apart ("72 people have been killed, including 30 soldiers", "killed
#: more than 500 people, including 121 of its fighters"): its number and who they were.
_INCLUDING = re.compile(
    rf"\bincluding\s+(?:(?P<hedge>{HEDGE_WORDS})\s+)?(?P<count>{_DIGITS})\s+"
    r"(?:of\s+(?:its|their|them|whom)\s+)?(?P<who>[a-z][\w-]*(?:\s+(?:and\s+)?[a-z][\w-]*){0,3})",
    re.IGNORECASE,
)


def part_of_a_toll(event: Event) -> list[Event]:
    """A toll's part counted apart is a second toll (guidelines, decided cases: "including 30
    soldiers" is a toll of 30 soldiers beside the toll of 72 people)."""
    if not isinstance(event, CasualtyToll):
        return []
    from text_to_num import alpha2digit

    parts = []
    for found in _INCLUDING.finditer(alpha2digit(event.evidence, "en")):
        count = int(found["count"].replace(",", ""))
        if count != event.killed:
            qualifier = HEDGES.get((found["hedge"] or "").lower(), "exact")
            who = {"killed": count, "qualifier": qualifier, "population": found["who"]}
            parts.append(event.model_copy(update={**who, "injured": None, "displaced": None}))
    return parts


def a_withdrawal_that_leaves_troops_reduces(event: Event) -> Event:
    """A withdrawal that leaves a level of troops in place is a reduction (guidelines: ``reduce``
    "leaves troops in place", ``withdraw`` is leaving)."""
    if isinstance(event, ForceChange) and event.kind == "withdraw" and event.resulting_level:
        return event.model_copy(update={"kind": "reduce"})
    return event


def closure_has_no_recipient(event: Event) -> Event:
    """A closed base is handed to no one: its ``to_party`` is emptied."""
    if event.type == "base_transfer" and getattr(event, "kind", None) == "closure" and getattr(event, "to_party", None):
        return event.model_copy(update={"to_party": None})
    return event


#: A level stated as a plan ("The plan would leave a force of about 4,000", "will grow it to
#: around 4,800"): the verb says whether the force shrinks to it or grows to it.
_PLANNED_LEVEL = re.compile(
    r"\b(?:would|will|plans?\s+to)\s+(?:\w+\s+){0,2}?(?:(?P<down>leave|keep)|grow|bring|reach|raise|increase)\b",
    re.IGNORECASE,
)


def a_planned_level_is_a_change(event: Event) -> Event:
    """A level only planned is no troop level but the change planned to reach it (guidelines,
    decided cases: "would leave a force of about 4,000" is a ``force_change`` with
    ``resulting_level``, planned, and no ``troop_level``)."""
    if not isinstance(event, TroopLevel) or (planned := _PLANNED_LEVEL.search(event.evidence)) is None:
        return event
    if event.count not in _numbers_after(event.evidence, planned.end()):
        return event  # the plan is about something else than this count
    kind = "reduce" if planned["down"] else "deploy"
    return _change(event, kind=kind, status="planned", resulting_level=event.count)


def _numbers_after(text: str, start: int) -> set[int]:
    """The numbers written in digits after a position of a text ("about 4,000" -> 4000)."""
    return {int(n.replace(",", "")) for n in re.findall(rf"\b(?:{_DIGITS})\b", text[start:])}


def bombs_from_the_air_are_airstrikes(event: Event) -> Event:
    """An attack whose bombs fall from aircraft is an airstrike ("U.S. aircraft bombed five weapons
    storage sites"; decided cases: what aircraft strike is an ``airstrike``)."""
    if event.type != "attack" or getattr(event, "means", None) != "bombing":
        return event
    if re.search(_AIRCRAFT, event.evidence, re.IGNORECASE):
        return event.model_copy(update={"means": "airstrike"})
    return event


def repair(event: Event) -> Event:
    """The task's last rules, in order."""
    event = a_change_without_change_is_a_level(a_planned_level_is_a_change(event))
    event = a_withdrawal_that_leaves_troops_reduces(troops_added_are_a_change(event))
    return bombs_from_the_air_are_airstrikes(closure_has_no_recipient(a_new_role_is_a_mission_change(event)))

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from extract.aliases import Aliases
from extract.detect import (
    DETECT_CHARS,
    count_calls,
    detect_article,
    detect_batch,
    detect_windows,
    pending_requests,
    window_calls,
)
from extract.documents import Article
from extract.pipeline import count_calls as count_window_calls
from extract.pipeline import run_articles
from extract.prompts import PromptSet
from extract.tasks.military import TASK
from tests.fakes import FakeServer, fake_client

REPO = Path(__file__).resolve().parent.parent
ALIASES = Aliases.load(REPO / "gold" / "aliases.yaml")
PROMPTS = PromptSet.load(TASK)
TEXT = (
    "U.S. cuts Iraq force\n"
    "The U.S. has about 2,500 troops in Iraq, officials said on Jan. 5. "
    + "".join(f"Analysts expect talks number {n} about the future of the mission. " for n in range(20))
    + "\nGunmen attacked a convoy near Mosul on Friday, killing twenty-five soldiers, the army said."
)


def article(id: str, text: str, published: str | None = None) -> Article:
    return Article(id=id, title="", text=text, source=f"{id}.txt", published=published, runs=((0, 0, len(text)),))


ARTICLE = article("a#1", TEXT, published="2024-01-10")


def answer(body: dict) -> str:
    """Detection: the types a window's words suggest; fills: one event of the asked type, quoted from the window."""
    schema = json.dumps(body["response_format"])
    window = body["messages"][-1]["content"]
    if '"Detection"' in schema:
        return json.dumps({"types": [t for t, cue in (("troop_level", "troops"), ("attack", "Gunmen")) if cue in window]})
    if "TroopLevelEvents" in schema:
        event = {"type": "troop_level", "evidence": "The U.S. has about 2,500 troops in Iraq", "force": "U.S.", "count": 2500}
    else:
        event = {
            "type": "attack", "evidence": "Gunmen attacked a convoy near Mosul on Friday, killing twenty-five soldiers",
            "target": "convoy", "means": "gunfire", "killed": 25,
        }  # fmt: skip
    return json.dumps({"events": [event]})


def test_detect_then_fill_type_by_type(tmp_path: Path) -> None:
    server = FakeServer([answer])
    labels: list[str] = []
    outcome = detect_article(
        ARTICLE, client=fake_client(tmp_path, server), prompts=PROMPTS, aliases=ALIASES, on_pass=labels.append
    )
    windows = detect_windows(ARTICLE)
    assert len(windows) == count_calls(ARTICLE, task=TASK) >= 3
    assert all(len(w) == 1 or w[-1][1] - w[0][0] <= DETECT_CHARS for w in windows)  # whole sentences
    n = len(windows)
    # Every detection first, then the fills type by type (the order of the task's types).
    assert labels == [f"detect {i}/{n}" for i in range(1, n + 1)] + ["fill troop_level 1/" + str(n), f"fill attack {n}/{n}"]
    detects, fills = server.requests[:n], server.requests[n:]
    assert len({json.dumps(r["messages"][:-1]) for r in detects}) == 1  # one prefix for all detections
    assert "Context: " in fills[1]["messages"][-1]["content"]  # the sentence before the window
    assert fills[0]["messages"][0] != fills[1]["messages"][0]  # each type its own prefix
    assert [r.event.type for r in outcome.events] == ["troop_level", "attack"]
    assert outcome.events[0].event.force == "United States" and outcome.events[1].event.killed == 25
    assert outcome.status == "ok" and len(outcome.keys) == len(server.requests)


def test_a_window_without_a_cue_word_of_a_type_is_neither_detected_nor_filled_for_it(tmp_path: Path) -> None:
    """Its events would be rejected for want of a cue word, so the calls are not made."""
    calm = (
        "Residents of the old quarter walked along the river promenade in the evening light, and vendors "
        "sold bread, tea and fruit from small carts near the stone bridge, as they do every summer. "
    )
    attack = "Gunmen attacked a convoy near Mosul on Friday, killing twenty-five soldiers, and the road north stayed shut for the whole of the following week."
    quiet = article("q#1", calm + calm.replace("Residents", "Families") + attack)
    assert len(detect_windows(quiet)) == 3
    labels: list[str] = []
    client = fake_client(tmp_path, FakeServer([answer]))
    outcome = detect_article(quiet, client=client, prompts=PROMPTS, aliases=ALIASES, on_pass=labels.append)
    assert labels == ["detect 3/3", "fill attack 3/3"] and count_calls(quiet, task=TASK) == 1
    assert [r.event.type for r in outcome.events] == ["attack"]


def test_fill_prompts_hold_the_types_examples_and_the_grammar_only_that_type(tmp_path: Path) -> None:
    server = FakeServer([answer])
    detect_article(ARTICLE, client=fake_client(tmp_path, server), prompts=PROMPTS, aliases=ALIASES)
    fill = server.requests[-1]
    assert "AttackEvents" in json.dumps(fill["response_format"]) and "TroopLevel" not in json.dumps(fill["response_format"])
    shots = [m["content"] for m in fill["messages"] if m["role"] == "assistant"]
    assert shots and all({e["type"] for e in json.loads(s)["events"]} == {"attack"} for s in shots)


def test_a_batch_orders_its_calls_by_prefix_across_articles(tmp_path: Path) -> None:
    other = article("b#1", "Gunmen attacked a convoy near Mosul on Friday, killing twenty-five soldiers, the army said.")
    server = FakeServer([answer])
    labels: list[str] = []
    outcomes = detect_batch(
        [ARTICLE, other], client=fake_client(tmp_path, server), prompts=PROMPTS, aliases=ALIASES, on_pass=labels.append
    )
    n = count_calls(ARTICLE, task=TASK)
    # All detections of both articles, then each type's fills across both: three prefix switches in all.
    assert labels == [*(f"detect {i}/{n}" for i in range(1, n + 1)), "detect 1/1", f"fill troop_level 1/{n}", f"fill attack {n}/{n}", "fill attack 1/1"]
    assert [[r.event.type for r in o.events] for o in outcomes] == [["troop_level", "attack"], ["attack"]]
    assert [o.article_id for o in outcomes] == ["a#1", "b#1"]


def test_a_run_with_the_detect_strategy_keeps_article_order_at_any_concurrency(tmp_path: Path) -> None:
    articles = [ARTICLE, article("b#1", "Nothing happened."), article("c#1", "Nothing either.")]
    for concurrency, batch in ((1, 2), (3, 1)):
        client = fake_client(tmp_path / str(concurrency), FakeServer([answer]))

        def many(chunk: list[Article]) -> list:
            return detect_batch(chunk, client=client, prompts=PROMPTS, aliases=ALIASES)

        outcomes = list(run_articles(
            articles, client=client, prompts=PROMPTS, concurrency=concurrency, batch_fn=many, batch=batch
        ))  # fmt: skip
        assert [o.article_id for o in outcomes] == ["a#1", "b#1", "c#1"]
        assert [len(o.events) for o in outcomes] == [2, 0, 0]


def hybrid_answer(body: dict) -> str:
    """A windows call answers a troop level and an attack with a wrong toll; detect and fill as ``answer``."""
    schema = json.dumps(body["response_format"])
    if '"Detection"' in schema or "TroopLevelEvents" in schema or "AttackEvents" in schema:
        return answer(body)
    events = [
        {"type": "troop_level", "evidence": "The U.S. has about 2,500 troops in Iraq", "force": "U.S.", "count": 2500},
        {"type": "attack", "evidence": "Gunmen attacked a convoy near Mosul on Friday", "target": "convoy", "killed": 5},
    ]
    return json.dumps({"events": events})


def test_the_hybrid_strategy_takes_its_detect_types_from_fills_and_the_rest_from_windows(tmp_path: Path) -> None:
    task = dataclasses.replace(TASK, detect_types=("attack",), fill_cues={})
    prompts = PromptSet.load(task)
    server = FakeServer([hybrid_answer])
    labels: list[str] = []
    client = fake_client(tmp_path, server)
    outcome = detect_article(ARTICLE, client=client, prompts=prompts, aliases=ALIASES, on_pass=labels.append, strategy="hybrid")
    windows, n = count_window_calls(ARTICLE), len(detect_windows(ARTICLE))
    # Only the last detect window holds a cue word of an attack: the others are not asked to detect.
    assert count_calls(ARTICLE, task=task, strategy="hybrid") == windows + 1
    # The windows calls first, then the detection, then fills of the hybrid's types only.
    assert labels == [*(f"window {i}/{windows}" for i in range(1, windows + 1)), f"detect {n}/{n}", f"fill attack {n}/{n}"]
    kept = {r.event.type: r.event for r in outcome.events}
    assert set(kept) == {"troop_level", "attack"} and len(outcome.events) == 2
    assert kept["attack"].killed == 25  # from the fill: the windows call's attack is left out
    # Batch export plans the same calls: the windows and detect requests, then (once answered) the fill.
    assert sum(1 for _ in pending_requests(ARTICLE, client=client, prompts=prompts, strategy="hybrid")) == windows + 1 + 1


def test_the_hybrid_strategy_fills_the_types_its_cue_words_route_with_no_detect_call(tmp_path: Path) -> None:
    task = dataclasses.replace(TASK, detect_types=("attack",), fill_cues={"troop_level": (r"\btroops\b",)})
    prompts = PromptSet.load(task)
    labels: list[str] = []
    client = fake_client(tmp_path, FakeServer([hybrid_answer]))
    outcome = detect_article(ARTICLE, client=client, prompts=prompts, aliases=ALIASES, on_pass=labels.append, strategy="hybrid")
    windows, n = count_window_calls(ARTICLE), len(detect_windows(ARTICLE))
    # The first detect window says "troops": it is filled for troop levels, though no detect call named them.
    assert count_calls(ARTICLE, task=task, strategy="hybrid") == windows + 1 + 1
    assert labels[windows:] == [f"detect {n}/{n}", f"fill troop_level 1/{n}", f"fill attack {n}/{n}"]
    # The windows call and the fill quote the same troop level: it is kept once.
    assert sorted(r.event.type for r in outcome.events) == ["attack", "troop_level"]
    assert sum(1 for _ in pending_requests(ARTICLE, client=client, prompts=prompts, strategy="hybrid")) == windows + 1 + 2


def test_the_thorough_strategy_detects_every_type_and_keeps_every_windows_event(tmp_path: Path) -> None:
    task = dataclasses.replace(TASK, detect_types=("attack",), fill_cues={})
    prompts = PromptSet.load(task)
    labels: list[str] = []
    client = fake_client(tmp_path, FakeServer([hybrid_answer]))
    outcome = detect_article(ARTICLE, client=client, prompts=prompts, aliases=ALIASES, on_pass=labels.append, strategy="thorough")
    windows, n = count_window_calls(ARTICLE), len(detect_windows(ARTICLE))
    asked = count_calls(ARTICLE, task=task, strategy="thorough") - windows
    # Every window with a cue word of any type is asked to detect (the hybrid asks only the attack's).
    assert asked > 1 and count_calls(ARTICLE, task=task, strategy="hybrid") - windows == 1
    assert labels[:windows] == [f"window {i}/{windows}" for i in range(1, windows + 1)]
    assert labels[windows + asked:] == [f"fill troop_level 1/{n}", f"fill attack {n}/{n}"]
    # Its windows calls keep every type (the hybrid's leave the attack to its fills); a fact that a
    # windows call and a fill both quote is kept once.
    assert {c.keep for c in window_calls(ARTICLE, prompts, strategy="thorough")} == {None}
    assert all("attack" not in c.keep for c in window_calls(ARTICLE, prompts, strategy="hybrid"))
    assert sorted(r.event.type for r in outcome.events) == ["attack", "troop_level"]
    assert sum(1 for _ in pending_requests(ARTICLE, client=client, prompts=prompts, strategy="thorough")) == windows + asked + 2

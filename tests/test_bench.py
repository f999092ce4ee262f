from __future__ import annotations

import json
from pathlib import Path

import pytest

from extract import bench
from extract.aliases import Aliases
from extract.errors import ConfigError
from extract.llm import Usage
from extract.prompts import PromptSet
from extract.schema import Event
from extract.tasks.military import TASK

parse_event = TASK.parse_event  # noqa: E305
from extract.documents import Article, load_documents
from tests.fakes import FakeServer, fake_client

REPO = Path(__file__).resolve().parent.parent
ALIASES = Aliases.load(REPO / "gold" / "aliases.yaml")
PROMPTS = PromptSet.load(TASK, REPO / "prompts")
ARTICLE = next(a for a in load_documents(REPO / "seeds") if a.id == "004_7f677d72774e52bd#1")
SENTENCE = "The United States has reduced the number of its troops in Iraq to 2,500"


def troop(evidence: str = SENTENCE, force: str = "US") -> Event:
    return parse_event(
        {"type": "troop_level", "evidence": evidence, "force": force, "count": 2500, "location": {"country": "Iraq"}}
    )


def test_naive_is_one_union_call_whose_events_are_kept_as_given(tmp_path: Path) -> None:
    answer = {"events": [troop().model_dump(), troop("US troops in Iraq: 2,500").model_dump()]}
    server = FakeServer([json.dumps(answer)])
    outcome = bench.naive_article(ARTICLE, client=fake_client(tmp_path, server), prompts=PROMPTS)
    assert len(server.requests) == 1
    assert "troop_level, force_change" in server.requests[0]["messages"][-1]["content"]
    assert "$defs" in json.dumps(server.requests[0]["response_format"])  # the grammar is the whole union
    assert [r.event.force for r in outcome.events] == ["US", "US"]  # no canonical names, no repair
    assert [r.span.status for r in outcome.events] == ["exact", "fuzzy"]
    assert (outcome.usage.calls, outcome.errors) == (1, [])


def test_naive_failure_is_an_article_without_events(tmp_path: Path) -> None:
    server = FakeServer(["not json"])
    outcome = bench.naive_article(ARTICLE, client=fake_client(tmp_path, server, max_reasks=0), prompts=PROMPTS)
    assert outcome.events == [] and outcome.errors[0].startswith("naive: no valid output")
    assert outcome.usage.calls == 1 and len(outcome.keys) == 1  # the failed response is exportable


class Source:
    """An event source charging a fixed usage per article, like langextract's transport does."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.keys: list[str] = []

    def extract(self, article: Article) -> tuple[list[Event], int]:
        self.usage.add(Usage(calls=2, prompt_tokens=500, server_seconds=3.0))
        self.keys.extend(["k1", "k2"])
        return [troop()], 1


def test_source_article_charges_only_its_own_usage_and_keys() -> None:
    source = Source()
    bench.source_article(ARTICLE, source=source, keys=source.keys)
    second = bench.source_article(ARTICLE, source=source, keys=source.keys)
    assert (second.usage.calls, second.usage.prompt_tokens, second.usage.server_seconds) == (2, 500, 3.0)
    assert second.keys == ["k1", "k2"]
    assert second.errors == ["1 extraction(s) did not map onto the schema"]


def result(name: str, events: list[Event], *, seconds: float) -> bench.StrategyResult:
    outcome = bench.raw_outcome(ARTICLE, events)
    outcome.usage = Usage(cache_hits=1, cached_prompt_tokens=1000, cached_completion_tokens=50, cached_server_seconds=seconds)
    return bench.StrategyResult(name=name, outcomes=[outcome], wall_seconds=0.01)


def test_record_and_table_compare_the_strategies(tmp_path: Path) -> None:
    gold = {ARTICLE.id: [troop(force="United States")]}
    results = [result("naive", [], seconds=40.0), result("windows", [troop(force="United States")], seconds=60.0)]
    bench.score_strategies(results, gold, aliases=ALIASES)
    record = bench.write_bench(tmp_path, results, info={"model": "m"})
    ours, naive = record["strategies"]["windows"], record["strategies"]["naive"]
    assert (ours["lenient_f1"], naive["lenient_f1"]) == (1.0, 0.0)
    assert (ours["grounded_exact"], ours["seconds_per_article"], ours["prompt_tokens_per_article"]) == (1.0, 60.0, 1000)
    assert "harness_overhead" not in ours  # replayed: nothing live to measure
    lead = record["extract_vs"]["naive"]
    assert (lead["lenient_f1_gain"], lead["time_ratio"]) == (1.0, 1.5)
    # One article: no paired interval, so no claim of significance.
    assert (lead["lenient_f1_gain_ci95"], lead["lenient_f1_gain_significant"]) == (None, False)
    table = (tmp_path / "bench.md").read_text()
    assert table.splitlines()[0].startswith("| strategy | strict F1 | lenient F1")
    assert "| windows | 1.000 | 1.000 | [1.000, 1.000] |" in table
    assert "| naive | +1.000 | – | – | no | 1.50× |" in table
    assert json.loads((tmp_path / "windows" / "run.json").read_text())["strategy"] == "windows"
    assert json.loads((tmp_path / "bench.json").read_text()) == record


def test_harness_overhead_is_wall_time_beyond_live_server_time() -> None:
    live = bench.StrategyResult(name="windows", outcomes=[bench.raw_outcome(ARTICLE, [])], wall_seconds=10.0)
    live.outcomes[0].usage = Usage(calls=3, server_seconds=9.5)
    assert live.row()["harness_overhead"] == 0.05


@pytest.mark.parametrize(("text", "expected"), [("windows,naive", ("naive", "windows")), ("langextract", ("langextract",))])
def test_parse_strategies(text: str, expected: tuple[str, ...]) -> None:
    assert bench.parse_strategies(text) == expected


@pytest.mark.parametrize("text", ["", "naive,magic"])
def test_unknown_strategies_are_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="unknown strategy"):
        bench.parse_strategies(text)


def test_synthetic_articles_have_several_windows_each() -> None:
    from extract.documents import _build
    from extract.pipeline import count_calls

    records = list(bench.synthetic_articles(5))
    assert records == list(bench.synthetic_articles(5)) and len({r["id"] for r in records}) == 5
    assert all(2_100 <= len(r["text"]) < 2_400 for r in records)
    article = _build(records[0]["id"], "x", [(0, line) for line in records[0]["text"].split("\n\n")], None)
    assert 6 <= count_calls(article) <= 11


@pytest.mark.enable_socket
@pytest.mark.allow_hosts(["127.0.0.1"])
def test_the_scale_benchmark_runs_the_pipeline_against_a_fake_server() -> None:
    rows = bench.scale_benchmark(articles=3, concurrencies=(1, 2), prompts=PROMPTS, delay=0.01)
    assert [r["concurrency"] for r in rows] == [1, 2]
    for row in rows:
        assert row["articles"] == 3 and row["calls"] >= 3 * 6  # every window of every article, live
        assert row["limit_calls_per_s"] == row["concurrency"] / 0.01
        assert 0 < row["calls_per_s"] and 0 < row["share_of_limit"] <= 1.05
        assert 0 < row["cpu_ms_per_call"] < 1000
    table = bench.render_scale_table(rows)
    assert table.startswith("| concurrency | calls | calls/s | limit (concurrency / delay) |") and len(table.splitlines()) == 4

"""Benchmark: the project's strategy against a naive single call and langextract, on one model.

Every strategy runs over the same articles through the same (recorded) endpoint and is scored
with the project's scorer. Seconds are the server time of each response as recorded, so a
replay prints the same table; the harness overhead is measured only when calls are live.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from extract.aliases import Aliases
from extract.align import align
from extract.config import EXTRACTORS, STRATEGIES
from extract.documents import Article
from extract.errors import (
    CacheMissError,
    ConfigError,
    InvalidOutputError,
    LLMError,
    ServerUnreachableError,
)
from extract.llm import LLMClient, Usage
from extract.pipeline import ArticleOutcome, EventRecord, extract_article, write_run
from extract.prompts import PromptSet
from extract.schema import Event
from extract.score import Scores, paired_tests, score_run

if TYPE_CHECKING:
    from extract.api import Extractor

BENCH_FORMAT = "extract.bench/1"


class EventSource(Protocol):
    """Anything that turns one article into events (langextract's adapter)."""

    def extract(self, article: Article) -> tuple[list[Event], int]: ...

    @property
    def usage(self) -> Usage: ...


def raw_outcome(article: Article, events: Sequence[Event]) -> ArticleOutcome:
    """Events as a strategy gave them: aligned for the grounding rate, never repaired or normalized."""
    outcome = ArticleOutcome(article.id)
    outcome.events = [EventRecord(article.id, e, align(e.evidence, article), article.source) for e in events]
    return outcome


def naive_article(article: Article, *, client: LLMClient, prompts: PromptSet) -> ArticleOutcome:
    """One instructor call asking for the whole event union; a failed call yields no events."""
    started = time.monotonic()
    try:
        result = client.extract(
            prompts.task.extraction_model,
            messages=prompts.naive_messages(article),
            article_id=article.id,
            prompt_hash=prompts.hash_of("naive"),
            label="naive",
        )
    except (CacheMissError, ServerUnreachableError):
        raise
    except LLMError as e:
        outcome = raw_outcome(article, [])
        outcome.errors.append(f"naive: {e}")
        outcome.usage.add(Usage.from_json(e.usage))
        outcome.keys.extend(e.keys if isinstance(e, InvalidOutputError) else [])
    else:
        outcome = raw_outcome(article, result.value.events)
        outcome.usage.add(result.usage)
        outcome.keys.extend(result.keys)
    outcome.seconds = time.monotonic() - started
    return outcome


def source_article(article: Article, *, source: EventSource, keys: list[str]) -> ArticleOutcome:
    """One article through an external event source, with the usage and cache keys it cost."""
    started, before, first_key = time.monotonic(), Usage(), len(keys)
    before.add(source.usage)
    events, invalid = source.extract(article)
    outcome = raw_outcome(article, events)
    for name in Usage.__dataclass_fields__:
        setattr(outcome.usage, name, getattr(source.usage, name) - getattr(before, name))
    outcome.keys = keys[first_key:]
    if invalid:
        outcome.errors.append(f"{invalid} extraction(s) did not map onto the schema")
    outcome.seconds = time.monotonic() - started
    return outcome


@dataclass
class StrategyResult:
    """One strategy's outcomes over every article, its score and its live wall time."""

    name: str
    outcomes: list[ArticleOutcome]
    wall_seconds: float
    scores: Scores | None = None
    first_pass_seconds: float | None = None
    notes: list[str] = field(default_factory=list)

    def usage(self) -> Usage:
        total = Usage()
        for o in self.outcomes:
            total.add(o.usage)
        return total

    def row(self) -> dict[str, Any]:
        """The strategy's figures, per article where they are costs."""
        n = max(1, len(self.outcomes))
        usage = self.usage()
        events = [r for o in self.outcomes for r in o.events]
        row: dict[str, Any] = {
            "articles": len(self.outcomes),
            "events": len(events),
            "grounded_exact": round(sum(r.span.status == "exact" for r in events) / max(1, len(events)), 4),
            "seconds_per_article": round(usage.recorded_seconds / n, 1),
            "prompt_tokens_per_article": round((usage.prompt_tokens + usage.cached_prompt_tokens) / n),
            "completion_tokens_per_article": round((usage.completion_tokens + usage.cached_completion_tokens) / n),
            "calls_per_article": round((usage.calls + usage.cache_hits) / n, 1),
            # Failed calls, and calls cut at max_tokens whose complete events were kept.
            "failures": sum(len(o.errors) + len(o.notes) for o in self.outcomes),
        }
        if self.scores is not None:
            row |= {
                "strict_f1": round(self.scores.strict.f1, 4),
                "lenient_f1": round(self.scores.lenient.f1, 4),
                "lenient_precision": round(self.scores.lenient.precision, 4),
                "lenient_recall": round(self.scores.lenient.recall, 4),
                "slot_f1": round(self.scores.slots.f1, 4),
                "lenient_f1_ci95": self.scores.ci95["lenient_f1"],
            }
        if usage.calls:
            # Wall time against the server time of the calls made live: what the harness adds.
            row["live_calls"] = usage.calls
            row["harness_overhead"] = round(max(0.0, self.wall_seconds - usage.server_seconds) / self.wall_seconds, 4)
        return row


#: A strategy over some articles: their outcomes, in order.
Runner = Callable[[Sequence[Article]], list[ArticleOutcome]]


def run_strategy(
    name: str,
    articles: Sequence[Article],
    runner: tuple[Runner, int],
    *,
    on_done: Callable[[str, ArticleOutcome], None] | None = None,
) -> StrategyResult:
    """Run one strategy over every article, a batch at a time (``runner``: the function and its
    batch size), sequentially: the embedded server serves one call at a time."""
    wall = time.monotonic()
    run_many, size = runner
    outcomes: list[ArticleOutcome] = []
    for start in range(0, len(articles), size):
        for outcome in run_many(articles[start : start + size]):
            outcomes.append(outcome)
            if on_done:
                on_done(name, outcome)
    return StrategyResult(name=name, outcomes=outcomes, wall_seconds=time.monotonic() - wall)


def _each(run_one: Callable[[Article], ArticleOutcome]) -> tuple[Runner, int]:
    """A strategy that takes one article at a time."""
    return (lambda articles: [run_one(a) for a in articles]), 1


def extract_runner(name: str, *, client: LLMClient, prompts: PromptSet, aliases: Aliases | None) -> tuple[Runner, int]:
    """One of the project's strategies (``windows``, or ``detect`` and ``hybrid`` in their batches)."""
    if name != "windows":
        from extract.detect import BATCH, batch_runner

        return batch_runner(name, client=client, prompts=prompts, aliases=aliases), BATCH
    return _each(functools.partial(extract_article, client=client, prompts=prompts, aliases=aliases))


def strategy_runner(name: str, extractor: Extractor) -> tuple[Runner, int]:
    """One strategy of the benchmark for one article, on the extractor's model, cache and prompts."""
    client, prompts = extractor.client, extractor.prompts
    if name == "naive":
        return _each(functools.partial(naive_article, client=client, prompts=prompts))
    if name in EXTRACTORS:
        return extract_runner(name, client=client, prompts=prompts, aliases=extractor.aliases)
    from extract.llm import RecordingTransport

    try:
        from extract.lx import LangExtract
    except ModuleNotFoundError as e:
        raise ConfigError(f"the langextract baseline needs {e.name}: pip install -e '.[bench]'") from e
    transport = RecordingTransport(
        extractor.config, cache=extractor.cache, endpoint=extractor.endpoint, model_identity=extractor.identity,
        label="langextract", prompt_hash=prompts.hash_of("langextract"),
    )  # fmt: skip
    source = LangExtract(extractor.config, prompts=prompts, transport=transport)
    return _each(functools.partial(source_article, source=source, keys=transport.keys))


def score_strategies(
    results: Sequence[StrategyResult],
    gold: Mapping[str, Sequence[Event]],
    *,
    aliases: Aliases,
    articles: Sequence[Article] | None = None,
) -> None:
    """Score every strategy with the project's scorer (in place), quotes located in ``articles``."""
    for result in results:
        events = {o.article_id: [r.event for r in o.events] for o in result.outcomes}
        result.scores = score_run(events, gold, aliases=aliases, articles=articles)


def bench_record(results: Sequence[StrategyResult], *, info: Mapping[str, Any]) -> dict[str, Any]:
    """bench.json: every strategy's row, and how the project's default strategy compares."""
    rows = {r.name: r.row() for r in results}
    record: dict[str, Any] = {"format": BENCH_FORMAT, **info, "strategies": rows}
    scored = {r.name: r.scores.to_json() for r in results if r.scores is not None}
    # The project's strategy: the best of its own that ran (EXTRACTORS is best first).
    mine = next((name for name in EXTRACTORS if name in scored), None)
    ours = rows.get(mine) if mine else None
    if ours is not None and mine is not None:
        record["ours"] = mine
        record["extract_vs"] = {}
        for name, row in rows.items():
            if name == mine or name not in scored:
                continue
            tests = {t.metric: t.to_json() for t in paired_tests(scored[name], scored[mine])}
            record["extract_vs"][name] = {
                "lenient_f1_gain": round(ours["lenient_f1"] - row["lenient_f1"], 4),
                # Paired over articles: is the lead more than the luck of these articles?
                "lenient_f1_gain_ci95": tests["lenient.f1"]["ci95"],
                "lenient_f1_gain_p": tests["lenient.f1"]["p_value"],
                "lenient_f1_gain_significant": tests["lenient.f1"]["significant"],
                "time_ratio": round(ours["seconds_per_article"] / row["seconds_per_article"], 2)
                if row["seconds_per_article"]
                else None,
            }
    return record


COLUMNS = (
    ("strategy", "strategy"),
    ("strict_f1", "strict F1"),
    ("lenient_f1", "lenient F1"),
    ("lenient_f1_ci95", "lenient F1 95% CI"),
    ("slot_f1", "slot F1"),
    ("lenient_precision", "lenient P"),
    ("lenient_recall", "lenient R"),
    ("grounded_exact", "grounded exactly"),
    ("events", "events"),
    ("seconds_per_article", "s/article"),
    ("calls_per_article", "calls/article"),
    ("prompt_tokens_per_article", "prompt tok/article"),
    ("completion_tokens_per_article", "completion tok/article"),
    ("failures", "failures"),
)


def render_table(record: Mapping[str, Any]) -> str:
    """The benchmark as a Markdown table, one row per strategy."""
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for name, row in record["strategies"].items():
        cells = [name if key == "strategy" else _cell(key, row.get(key)) for key, _ in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    leads = record.get("extract_vs", {})
    if leads:
        lines += ["", f"| {record['ours']}'s lead over | lenient F1 gain | paired 95% CI | p | significant | time ratio |"]
        lines.append("|---|---|---|---|---|---|")
        for name, lead in leads.items():
            ci = lead.get("lenient_f1_gain_ci95")
            cells = [
                name,
                f"{lead['lenient_f1_gain']:+.3f}",
                f"[{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else "–",
                _cell("p", lead.get("lenient_f1_gain_p")),
                "yes" if lead.get("lenient_f1_gain_significant") else "no",
                _cell("time_ratio", lead.get("time_ratio")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    if record.get("not_recorded"):
        lines += ["", f"Not in the recording, left out: {', '.join(record['not_recorded'])}."]
    return "\n".join(lines) + "\n"


#: Columns holding rates in [0, 1], printed with three decimals.
RATES = frozenset({"strict_f1", "lenient_f1", "slot_f1", "lenient_precision", "lenient_recall", "grounded_exact"})


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, list):  # an interval
        return "[" + ", ".join(f"{v:.3f}" for v in value) + "]"
    if key == "p":
        return f"{value:.3f}"
    if key == "time_ratio":
        return f"{value:.2f}×"
    if key in RATES:
        return f"{value:.3f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"


def write_bench(run_dir: Path, results: Sequence[StrategyResult], *, info: Mapping[str, Any]) -> dict[str, Any]:
    """Write bench.json, bench.md and a run folder per strategy (events, run.json with its cache keys)."""
    for result in results:
        strategy_dir = run_dir / result.name
        strategy_dir.mkdir(parents=True, exist_ok=True)
        write_run(strategy_dir, result.outcomes, seconds=result.wall_seconds, run_info={**info, "strategy": result.name})
    record = bench_record(results, info=info)
    (run_dir / "bench.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (run_dir / "bench.md").write_text(render_table(record), encoding="utf-8")
    return record


def write_sets(out_dir: Path, records: Mapping[str, Mapping[str, Any]]) -> None:
    """bench.json and bench.md over several article sets (each set's own lie in its folder)."""
    record = {"format": BENCH_FORMAT, "sets": dict(records)}
    (out_dir / "bench.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tables = [f"## {name} ({r['input']})\n\n{render_table(r)}" for name, r in records.items()]
    (out_dir / "bench.md").write_text("\n".join(tables), encoding="utf-8")


def parse_strategies(text: str) -> tuple[str, ...]:
    """``naive,extract`` -> the strategies in canonical order; unknown names are a config error."""
    names = {n.strip() for n in text.split(",") if n.strip()}
    unknown = names - set(STRATEGIES)
    if unknown or not names:
        raise ConfigError(f"unknown strategy {', '.join(sorted(unknown)) or '(none)'}; choose from {', '.join(STRATEGIES)}")
    return tuple(s for s in STRATEGIES if s in names)


# ---------------------------------------------------------------- the scale benchmark

#: Sentences of the synthetic articles: each states a number, as news about forces does.
_SYNTHETIC = (
    "The United States has {n:,} troops in Iraq, officials said on {day}.",
    "About {n:,} soldiers of the coalition will leave the northern bases by the end of the year, the ministry said.",
    "Militants attacked a convoy near the border on {day}, killing {k} people and wounding {m} others.",
    "The parliament voted {k} to {m} on a bill that would end the foreign military mission within two years.",
    "Officials said the handover of the airbase to local forces would take about {k} weeks.",
    "The coalition said it had carried out {k} operations against the group in the past month.",
    "Analysts said the reduction to {n:,} troops reflects a shift toward training and advising local units.",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")


def synthetic_articles(count: int, *, chars: int = 2_100, seed: int = 14) -> Iterator[dict[str, str]]:
    """``count`` JSONL records of about ``chars`` characters (several windows each), the same for a seed."""
    rng = random.Random(seed)
    for i in range(1, count + 1):
        sentences = [f"Troop levels and operations, report {i}"]
        while sum(len(s) + 1 for s in sentences) < chars:
            template = rng.choice(_SYNTHETIC)
            sentences.append(
                template.format(n=rng.randrange(500, 5_000), k=rng.randrange(2, 60), m=rng.randrange(2, 60), day=rng.choice(_DAYS))
            )
        yield {"id": f"synthetic-{i:06d}", "text": sentences[0] + "\n\n" + " ".join(sentences[1:])}


@contextlib.contextmanager
def fake_server(delay: float) -> Iterator[str]:
    """Start ``extract.fake_server`` in its own process; yield its base URL, stop it afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "extract.fake_server", str(delay)], stdout=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.strip().isdigit():
            raise ConfigError("the fake server of the scale benchmark did not start")
        yield f"http://127.0.0.1:{int(line)}/v1"
    finally:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class ScaleRow:
    """One concurrency of the scale benchmark: what it made and what it cost the harness."""

    concurrency: int
    articles: int
    calls: int
    seconds: float
    cpu_seconds: float
    delay: float

    def to_json(self) -> dict[str, Any]:
        limit = self.concurrency / self.delay
        rate = self.calls / self.seconds if self.seconds else 0.0
        return {
            "concurrency": self.concurrency,
            "articles": self.articles,
            "calls": self.calls,
            "seconds": round(self.seconds, 3),
            "calls_per_s": round(rate, 1),
            "limit_calls_per_s": round(limit, 1),
            "share_of_limit": round(rate / limit, 3),
            "cpu_ms_per_call": round(1000 * self.cpu_seconds / max(1, self.calls), 2),
        }


def scale_benchmark(
    *,
    articles: int,
    concurrencies: Sequence[int],
    prompts: PromptSet,
    delay: float = 0.05,
    on_row: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """The real pipeline (lazy input, call threads, streamed run folder) against a fake server that
    answers after ``delay`` seconds, once per concurrency, each with a fresh private cache.

    Calls/s is set against the limit the server allows (concurrency / delay); the harness CPU is
    this process's CPU time (all threads; the server runs in another process) per call.
    """
    from extract.cache import ResponseCache
    from extract.config import Config
    from extract.documents import iter_documents
    from extract.pipeline import RunWriter, count_calls, run_articles

    rows = []
    with tempfile.TemporaryDirectory(prefix="extract-scale-") as tmp, fake_server(delay) as url:
        root = Path(tmp)
        source = root / "articles.jsonl"
        with source.open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r) + "\n" for r in synthetic_articles(articles))
        # One untimed article first: the SDK's imports and first connection are no per-call cost.
        warm = Config(base_url=url, model="fake", llama_cpp=True, max_retries=0, cache_dir=root / "cache-warm")
        warm_client = LLMClient(warm, cache=ResponseCache(warm.cache_dir), endpoint=lambda: url, model_identity="fake")
        for _ in run_articles(itertools.islice(iter_documents(source), 1), client=warm_client, prompts=prompts):
            pass
        warm_client.cache.close()
        for concurrency in concurrencies:
            config = Config(
                base_url=url, model="fake", llama_cpp=True, concurrency=concurrency, max_retries=0,
                cache_dir=root / f"cache-{concurrency}",
            )  # fmt: skip
            client = LLMClient(config, cache=ResponseCache(config.cache_dir), endpoint=lambda: url, model_identity="fake")
            run_dir = root / f"run-{concurrency}"
            run_dir.mkdir()
            writer = RunWriter(run_dir, header={"run_info": {"input": str(source)}})
            wall, cpu = time.monotonic(), time.process_time()
            planned = sum(count_calls(a) for a in iter_documents(source))
            for outcome in run_articles(iter_documents(source), client=client, prompts=prompts, concurrency=concurrency):
                writer.add(outcome)
            totals = writer.finish(seconds=time.monotonic() - wall, run_info={"input": str(source)})["totals"]
            row = ScaleRow(
                concurrency, totals["articles"], totals["calls"], time.monotonic() - wall, time.process_time() - cpu, delay
            ).to_json()
            client.cache.close()
            if totals["calls"] != planned or totals["failed_passes"]:
                raise ConfigError(f"the scale benchmark made {totals['calls']} of {planned} calls ({totals['failed_passes']} failed)")
            rows.append(row)
            if on_row:
                on_row(row)
    return rows


SCALE_COLUMNS = (
    ("concurrency", "concurrency"),
    ("calls", "calls"),
    ("calls_per_s", "calls/s"),
    ("limit_calls_per_s", "limit (concurrency / delay)"),
    ("share_of_limit", "share of the limit"),
    ("cpu_ms_per_call", "harness CPU ms/call"),
)


def render_scale_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The scale benchmark as a Markdown table, one row per concurrency."""
    lines = ["| " + " | ".join(t for _, t in SCALE_COLUMNS) + " |", "|" + "---|" * len(SCALE_COLUMNS)]
    for row in rows:
        cells = [f"{row[k]:.0%}" if k == "share_of_limit" else f"{row[k]:,}" for k, _ in SCALE_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

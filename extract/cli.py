"""The ``extract`` command line: run, score, compare, serve, cache and gold commands.

Every ExtractError becomes one line on stderr and exit code 1; nothing else is caught broadly.
"""

from __future__ import annotations

import contextlib
import functools
import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from extract.cache import ResponseCache
from extract.config import Config, GenerationParams, load_config
from extract.errors import ConfigError, ExtractError
from extract.gold import DEFAULT_ALIASES_PATH, DEFAULT_GOLD_PATH, Aliases, check_gold, load_gold
from extract.llm import LLMClient
from extract.pipeline import WINDOW_MAX_TOKENS, ArticleOutcome, plan_calls, run_articles, write_run
from extract.prompts import PromptSet
from extract.bench import STRATEGIES
from extract.schema import SCHEMA_VERSION
from extract.seeds import Article, load_documents
from extract.server import MODEL_IDENTITY, EmbeddedServer, ensure_model

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False)
cache_app = typer.Typer(no_args_is_help=True, help="Inspect, clear, export or import the response cache.")
gold_app = typer.Typer(no_args_is_help=True, help="Gold set tools.")
app.add_typer(cache_app, name="cache")
app.add_typer(gold_app, name="gold")

console = Console(stderr=True)
out = Console()

DEFAULT_SNAPSHOT = Path("tests/recordings/responses.jsonl")


def _package_version() -> str:
    try:
        return version("extract")
    except PackageNotFoundError:
        return "0+unknown"


def _progress(**columns: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if not columns.get("bytes") else DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,  # logs get the per-article lines only
    )


def _assemble(config: Config, bar: Progress) -> Path:
    """The embedded model's GGUF, assembled on first use with a progress bar."""
    task: TaskID | None = None

    def progress(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            console.print(f"assembling the embedded model into {config.model_dir} (once)")
            task = bar.add_task("assembling model", total=total)
        bar.update(task, completed=done)

    return ensure_model(config.model_dir, progress=progress)


@contextlib.contextmanager
def _endpoint(config: Config, bar: Progress) -> Iterator[Callable[[], str]]:
    """Yield a function giving the base URL; for the embedded model it starts the server lazily."""
    if not config.embedded:
        yield lambda: str(config.base_url)
        return
    server: EmbeddedServer | None = None

    def start() -> str:
        nonlocal server
        path = _assemble(config, bar)
        console.print("[dim]starting the embedded llama.cpp server…[/dim]")
        server = EmbeddedServer(path, n_ctx=config.n_ctx, threads=config.server_threads)
        server.start()
        return server.base_url

    try:
        yield start
    finally:
        if server is not None:
            server.stop()


ReplayOption = Annotated[
    Optional[list[Path]],
    typer.Option(help=f"Read-only snapshot(s) of recorded responses [default: {DEFAULT_SNAPSHOT}, if present]."),
]
NoReplayOption = Annotated[bool, typer.Option("--no-replay", help="Use no snapshot, only the cache.")]


def _make_cache(config: Config, replay: list[Path] | None, *, no_replay: bool = False) -> ResponseCache:
    """The response cache, layered over the given snapshots (or the repository's recording)."""
    if no_replay:
        snapshots = []
    elif not replay:
        snapshots = [DEFAULT_SNAPSHOT] if DEFAULT_SNAPSHOT.is_file() else []
    else:
        missing = [str(p) for p in replay if not p.is_file()]
        if missing:
            raise ConfigError(f"no snapshot at {', '.join(missing)}")
        snapshots = replay
    return ResponseCache(config.cache_dir, snapshots=snapshots)


def _score_into(run_dir: Path, *, gold: Path, aliases: Path, articles: list[Article] | None = None) -> None:
    """Score a run folder; ``articles`` saves reloading the documents the run already holds."""
    from extract.report import print_summary, render_html, render_markdown
    from extract.score import read_events, score_run

    if not gold.exists():
        console.print(f"[yellow]no gold file at {gold}; scores skipped[/yellow]")
        return
    alias_table = Aliases.load(aliases)
    gold_articles = load_gold(gold)
    predicted = read_events(run_dir / "events.jsonl")
    scores = score_run(predicted, {k: v.events for k, v in gold_articles.items()}, aliases=alias_table)
    (run_dir / "scores.json").write_text(
        json.dumps(scores.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (run_dir / "report.md").write_text(render_markdown(scores), encoding="utf-8")
    if articles is None:
        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        articles = load_documents(Path(run["input"]))
    html = render_html(
        scores,
        articles=articles,
        predicted=predicted,
        gold={k: list(v.events) for k, v in gold_articles.items()},
    )
    (run_dir / "report.html").write_text(html, encoding="utf-8")
    print_summary(scores, out)
    console.print(f"wrote {run_dir}/scores.json, report.md, report.html")


def _extract(
    articles: list[Article],
    *,
    config: Config,
    cache: ResponseCache,
    prompts: PromptSet,
    aliases: Aliases | None,
    identity: str,
    run_dir: Path,
) -> list[ArticleOutcome]:
    """Make every article's calls with a progress display, starting the server if needed."""
    with _progress() as bar, _endpoint(config, bar) as endpoint:
        client = LLMClient(config, cache=cache, endpoint=endpoint, model_identity=identity)
        passes = sum(len(plan_calls(a, prompts=prompts)) for a in articles)
        task = bar.add_task(f"{len(articles)} articles, {passes} calls", total=passes)
        console.print(f"extracting {len(articles)} articles ({passes} calls, one per window) into {run_dir}")

        def done(o: ArticleOutcome) -> None:
            note = "cached" if o.usage.calls == 0 else f"{o.usage.calls} calls, {o.seconds:.0f}s"
            flag = "" if o.status == "ok" else f" [red]{o.status.upper()}: {'; '.join(o.errors)}[/red]"
            flag += f" [yellow]({'; '.join(o.notes)})[/yellow]" if o.notes else ""
            console.print(f"  {o.article_id}: {len(o.events)} events ({note}){flag}")

        return run_articles(
            articles,
            client=client,
            prompts=prompts,
            aliases=aliases,
            concurrency=config.concurrency,
            on_pass=lambda _: bar.advance(task),
            on_done=done,
        )


@app.command()
def run(
    input: Annotated[Path, typer.Argument(help="A .txt file, a .jsonl file or a folder of them.")] = Path("seeds"),
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default: a new one under runs/).")] = None,
    offline: Annotated[bool, typer.Option(help="Never call a model: a cache miss is an error.")] = False,
    refresh: Annotated[bool, typer.Option(help="Call the model even when cached, and overwrite.")] = False,
    base_url: Annotated[Optional[str], typer.Option(help="OpenAI-compatible endpoint (default: embedded model).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Model name at --base-url.")] = None,
    mode: Annotated[Optional[str], typer.Option(help="instructor mode, e.g. json_schema_mode, tool_call.")] = None,
    llama_cpp: Annotated[
        Optional[bool], typer.Option("--llama-cpp/--no-llama-cpp", help="Send the schema as llama.cpp's server wants it.")
    ] = None,
    concurrency: Annotated[Optional[int], typer.Option(min=1, help="Articles in flight at once.")] = None,
    retries: Annotated[Optional[int], typer.Option(min=0, help="Retries on 429/5xx/timeouts (with backoff).")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = GenerationParams.seed,
    temperature: Annotated[float, typer.Option(min=0.0)] = GenerationParams.temperature,
    max_tokens: Annotated[
        int, typer.Option(min=16, help=f"Answer limit per call (a window's answer is held to at most {WINDOW_MAX_TOKENS}).")
    ] = GenerationParams.max_tokens,
    prompts_dir: Annotated[Path, typer.Option("--prompts")] = Path("prompts"),
    replay: ReplayOption = None,
    no_replay: NoReplayOption = False,
    gold: Annotated[Path, typer.Option(help="Gold file to score against.")] = DEFAULT_GOLD_PATH,
    aliases: Annotated[Path, typer.Option(help="Alias table.")] = DEFAULT_ALIASES_PATH,
) -> None:
    """Extract events from every article, write events.jsonl and run.json, then score."""
    if offline and refresh:
        raise ConfigError("--offline and --refresh contradict each other")
    config = load_config(
        base_url=base_url,
        model=model,
        mode=mode,
        llama_cpp=llama_cpp,
        concurrency=concurrency,
        max_retries=retries,
        cache_policy="offline" if offline else "refresh" if refresh else "default",
        params=GenerationParams(temperature=temperature, seed=seed, max_tokens=max_tokens),
    )
    articles = load_documents(input)
    prompts = PromptSet.load(prompts_dir)
    run_dir = out_dir or Path("runs") / f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{prompts.hash[:8]}"
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = _make_cache(config, replay, no_replay=no_replay)
    identity = MODEL_IDENTITY if config.embedded else f"openai-compatible:{config.model}"
    started, wall = datetime.now(timezone.utc), time.monotonic()
    alias_table = Aliases.load(aliases) if aliases.exists() else None
    try:
        outcomes = _extract(
            articles,
            config=config,
            cache=cache,
            prompts=prompts,
            aliases=alias_table,
            identity=identity,
            run_dir=run_dir,
        )
    except KeyboardInterrupt:
        console.print("interrupted: every finished call is cached; rerun the same command to resume")
        raise typer.Exit(130) from None
    finally:
        cache.close()
    info = {
        "package_version": _package_version(),
        "input": str(input),
        "model": {"name": config.model, "identity": identity, "embedded": config.embedded, "base_url": config.base_url},
        "mode": config.mode,
        "params": config.params.to_json(),
        "prompts": {"hash": prompts.hash, "files": prompts.hashes},
        "started": started.isoformat(timespec="seconds"),
    }
    totals = write_run(run_dir, outcomes, seconds=time.monotonic() - wall, run_info=info)["totals"]
    console.print(
        f"{totals['events']} events from {totals['articles']} articles ({totals['failed']} failed, "
        f"{totals['failed_passes']} failed passes, {totals['rejected']} events rejected); "
        f"model calls: {totals['calls']}, cache hits: {totals['cache_hits']}; wrote {run_dir}"
    )
    _score_into(run_dir, gold=gold, aliases=aliases, articles=articles)
    if totals["failed"] or totals["partial"]:
        raise typer.Exit(2)


@app.command()
def bench(
    input: Annotated[Path, typer.Argument(help="A .txt file, a .jsonl file or a folder of them.")] = Path("seeds"),
    out_dir: Annotated[Path, typer.Option("--out", help="Benchmark folder.")] = Path("runs/bench"),
    strategies: Annotated[str, typer.Option(help="Comma-separated: naive, langextract, extract.")] = ",".join(STRATEGIES),
    offline: Annotated[bool, typer.Option(help="Never call a model: a cache miss is an error.")] = False,
    refresh: Annotated[bool, typer.Option(help="Call the model even when cached, and overwrite.")] = False,
    prompts_dir: Annotated[Path, typer.Option("--prompts")] = Path("prompts"),
    replay: ReplayOption = None,
    no_replay: NoReplayOption = False,
    gold: Annotated[Path, typer.Option(help="Gold file to score against.")] = DEFAULT_GOLD_PATH,
    aliases: Annotated[Path, typer.Option(help="Alias table.")] = DEFAULT_ALIASES_PATH,
) -> None:
    """Benchmark naive instructor, langextract and the project's strategy on the embedded model.

    Writes bench.json, bench.md and one run folder per strategy under --out.
    """
    from extract import bench as b

    if offline and refresh:
        raise ConfigError("--offline and --refresh contradict each other")
    chosen = b.parse_strategies(strategies)
    config = load_config(cache_policy="offline" if offline else "refresh" if refresh else "default")
    if not config.embedded:
        raise ConfigError("the benchmark runs on the embedded model; unset EXTRACT_BASE_URL")
    if not gold.exists():
        raise ConfigError(f"no gold file at {gold}")
    articles = load_documents(input)
    prompts = PromptSet.load(prompts_dir)
    alias_table = Aliases.load(aliases)
    # Strategies are compared on the articles benchmarked: gold of other articles is left out.
    gold_events = {k: v.events for k, v in load_gold(gold).items() if k in {a.id for a in articles}}
    if not gold_events:
        raise ConfigError(f"no gold events for the articles in {input}; the benchmark needs labeled articles")
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = _make_cache(config, replay, no_replay=no_replay)
    results = []
    try:
        with _progress() as bar, _endpoint(config, bar) as endpoint:
            client = LLMClient(config, cache=cache, endpoint=endpoint, model_identity=MODEL_IDENTITY)
            task = bar.add_task(f"{len(chosen)} strategies × {len(articles)} articles", total=len(chosen) * len(articles))

            def done(name: str, o: ArticleOutcome) -> None:
                bar.advance(task)
                note = "cached" if o.usage.calls == 0 else f"{o.usage.calls} calls, {o.seconds:.0f}s"
                flag = f" [yellow]({'; '.join(o.errors + o.notes)})[/yellow]" if o.errors or o.notes else ""
                console.print(f"  {name:<11} {o.article_id}: {len(o.events)} events ({note}){flag}", highlight=False)

            for name in chosen:
                console.print(f"{name}: {len(articles)} articles")
                if name == "naive":
                    run_one = functools.partial(b.naive_article, client=client, prompts=prompts)
                elif name == "extract":
                    run_one = b.extract_runner(client=client, prompts=prompts, aliases=alias_table)
                else:
                    from extract.llm import RecordingTransport

                    try:
                        from extract.lx import LangExtract
                    except ModuleNotFoundError as e:
                        raise ConfigError(f"the langextract baseline needs {e.name}: pip install -e '.[bench]'") from e

                    transport = RecordingTransport(
                        config, cache=cache, endpoint=endpoint, model_identity=MODEL_IDENTITY,
                        label="langextract", prompt_hash=prompts.hash_of("langextract"),
                    )
                    source = LangExtract(config, prompts=prompts, transport=transport)
                    run_one = functools.partial(b.source_article, source=source, keys=transport.keys)
                results.append(b.run_strategy(name, articles, run_one, on_done=done))
    except KeyboardInterrupt:
        console.print("interrupted: every finished call is cached; rerun the same command to resume")
        raise typer.Exit(130) from None
    finally:
        cache.close()
    b.score_strategies(results, gold_events, aliases=alias_table)
    info = {
        "input": str(input),
        "model": MODEL_IDENTITY,
        "params": config.params.to_json(),
        "prompts": {name: prompts.hash_of(name) for name in chosen},
        "schema_version": SCHEMA_VERSION,
    }
    record = b.write_bench(out_dir, results, info=info)
    out.print(b.render_table(record), markup=False, highlight=False, soft_wrap=True)
    for name, row in record["strategies"].items():
        if "harness_overhead" in row:
            console.print(f"{name}: harness overhead {row['harness_overhead']:.1%} over {row['live_calls']} live calls")
    console.print(f"wrote {out_dir}/bench.json, bench.md and one run folder per strategy")


@app.command()
def score(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with events.jsonl and run.json.")],
    gold: Annotated[Path, typer.Option()] = DEFAULT_GOLD_PATH,
    aliases: Annotated[Path, typer.Option()] = DEFAULT_ALIASES_PATH,
) -> None:
    """Score a run against the gold: writes scores.json, report.md and report.html."""
    for name in ("events.jsonl", "run.json"):
        if not (run_dir / name).is_file():
            raise ConfigError(f"{run_dir} is not a run folder (no {name})")
    if not gold.exists():
        raise ConfigError(f"no gold file at {gold}")
    _score_into(run_dir, gold=gold, aliases=aliases)


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="Baseline run folder (scored).")],
    run_b: Annotated[Path, typer.Argument(help="Candidate run folder (scored).")],
    threshold: Annotated[Optional[float], typer.Option(help="Exit 1 when B's F1 drops more than this.")] = None,
) -> None:
    """Compare two scored runs: metrics side by side, events gained and lost."""
    from extract.report import render_comparison_markdown
    from extract.score import compare as compare_scores

    loaded = []
    for run_dir in (run_a, run_b):
        path = run_dir / "scores.json"
        if not path.is_file():
            raise ConfigError(f"{run_dir} has no scores.json; run `extract score {run_dir}` first")
        loaded.append(json.loads(path.read_text(encoding="utf-8")))
    comparison = compare_scores(loaded[0], loaded[1])
    out.print(render_comparison_markdown(comparison), markup=False, highlight=False, soft_wrap=True)
    if threshold is not None and comparison.is_regression(threshold):
        console.print(f"[red]regression: B is worse than A by more than {threshold}[/red]")
        raise typer.Exit(1)


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8080,
) -> None:
    """Run the embedded model's OpenAI-compatible server in the foreground until Ctrl-C."""
    config = load_config()
    with _progress(bytes=True) as bar:
        path = _assemble(config, bar)
    with EmbeddedServer(path, port=port, n_ctx=config.n_ctx, threads=config.server_threads) as server:
        console.print(f"serving {config.model} at {server.base_url} (Ctrl-C to stop)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopping")


@cache_app.command("stats")
def cache_stats(replay: ReplayOption = None, no_replay: NoReplayOption = False) -> None:
    """Entries and size of the cache and its snapshots."""
    out.print_json(json.dumps(_make_cache(load_config(), replay, no_replay=no_replay).stats()))


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every cached response (snapshots are untouched)."""
    n = ResponseCache(load_config().cache_dir).clear()
    console.print(f"removed {n} cached responses")


@cache_app.command("export")
def cache_export(
    path: Annotated[Path, typer.Argument(help="JSONL snapshot to write.")],
    run_dir: Annotated[
        Optional[Path], typer.Option("--run", help="Only the responses used by the run(s) in this folder (a bench folder too).")
    ] = None,
    replay: ReplayOption = None,
    no_replay: NoReplayOption = False,
) -> None:
    """Write cached responses to a sorted, diff-friendly JSONL snapshot."""
    keys = None
    if run_dir is not None:
        manifests = sorted(run_dir.rglob("run.json"))
        if not manifests:
            raise ConfigError(f"no run.json under {run_dir}")
        keys = set()
        for manifest in manifests:
            record = json.loads(manifest.read_text(encoding="utf-8"))
            keys |= {k for a in record["articles"].values() for k in a["cache_keys"]}
    n = _make_cache(load_config(), replay, no_replay=no_replay).export(path, keys=keys)
    console.print(f"exported {n} responses to {path}")


@cache_app.command("import")
def cache_import(path: Annotated[Path, typer.Argument(help="JSONL snapshot to read.")]) -> None:
    """Copy a snapshot's responses into the cache."""
    n = ResponseCache(load_config().cache_dir).import_(path)
    console.print(f"imported {n} responses from {path}")


@gold_app.command("check")
def gold_check(
    gold: Annotated[Path, typer.Option()] = DEFAULT_GOLD_PATH,
    aliases: Annotated[Path, typer.Option()] = DEFAULT_ALIASES_PATH,
    seeds: Annotated[Path, typer.Option()] = Path("seeds"),
) -> None:
    """Validate the gold against the schema, the seeds and the alias table."""
    problems = check_gold(gold, articles=load_documents(seeds), aliases=Aliases.load(aliases))
    for p in problems:
        out.print(str(p), markup=False, highlight=False, soft_wrap=True)
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/red]")
        raise typer.Exit(1)
    n = sum(len(a.events) for a in load_gold(gold).values())
    console.print(f"gold ok: {len(load_gold(gold))} articles, {n} events (schema v{SCHEMA_VERSION})")


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the embedded server is stopped and nothing is half-written."""
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: run the app, turning known errors into one-line messages."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        app()  # standalone: typer reports usage errors and exits with the command's code
    except ExtractError as e:
        console.print(f"error: {e}", style="red", markup=False, highlight=False, soft_wrap=True)
        sys.exit(1)

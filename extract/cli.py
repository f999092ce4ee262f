"""The ``extract`` command line: run, score, compare, serve, cache and gold commands.

Every ExtractError becomes one line on stderr and exit code 1; nothing else is caught broadly.
The exit codes are extract.errors' EXIT_* constants. Only typer, rich's console and the light
modules (config, errors) are imported here; each command imports what it uses, so ``--help``
starts in a fraction of a second.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console

from extract.config import (
    BENCH_STRATEGIES,
    DEFAULT_TIMEOUT_S,
    ENV_BASE_URL,
    ENV_MODEL,
    ENV_PRICE,
    ENV_TIMEOUT,
    ENVIRONMENT,
    EXTRACTORS,
    STRATEGIES,
    WINDOW_MAX_TOKENS,
    CachePolicy,
    Config,
    GenerationParams,
    Price,
    default_gold,
    default_input,
    default_sets,
    load_config,
)
from extract.documents import MAX_CHARS
from extract.errors import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_FAILED_CALLS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REGRESSION,
    CacheMissError,
    ConfigError,
    ExtractError,
)

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from extract.api import Extractor
    from rich.text import Text

    from extract.cache import ResponseCache
    from extract.documents import Article
    from extract.pipeline import ArticleOutcome


def _epilog() -> str:
    """The environment variables and exit codes, for the app's --help."""
    env = "\n".join(f"  {name}: {what}" for name, what in ENVIRONMENT.items())
    codes = "\n".join(f"  {code}: {what}" for code, what in EXIT_CODES.items())
    return f"Environment (read only by extract/config.py):\n{env}\n\nExit codes:\n{codes}"


app = typer.Typer(add_completion=True, no_args_is_help=True, pretty_exceptions_enable=False, epilog=_epilog())
cache_app = typer.Typer(no_args_is_help=True, help="Inspect, clear, export or import the response cache.")
gold_app = typer.Typer(no_args_is_help=True, help="Gold set tools.")
app.add_typer(cache_app, name="cache")
app.add_typer(gold_app, name="gold")

console = Console(stderr=True)
out = Console()

#: The distribution's name on PyPI (the import name and the command are ``extract``).
DISTRIBUTION = "extract-events"


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return "0+unknown"


def _print_version(value: bool) -> None:
    """``--version``: print ``extract <version>`` and stop."""
    if value:
        out.print(f"extract {_package_version()}", markup=False, highlight=False)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _app(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version, help="Print the version and exit.")
    ] = False,
) -> None:
    """Extract typed events from news articles with an LLM and score them against a hand-labeled gold set."""


def _cache_policy(*, offline: bool, refresh: bool) -> CachePolicy:
    """The cache policy the flags ask for; both at once is a usage error (exit 2)."""
    if offline and refresh:
        raise typer.BadParameter("--offline and --refresh contradict each other", param_hint="'--offline' / '--refresh'")
    return "offline" if offline else "refresh" if refresh else "default"


def _progress(**columns: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn() if not columns.get("bytes") else DownloadColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,  # logs get the per-article lines only
    )


def _hooks(bar: Progress) -> dict[str, Any]:
    """The Extractor's set-up callbacks, shown on the console: the model assembled (once), the server started."""
    task: TaskID | None = None

    def on_assemble(done: int, total: int) -> None:
        nonlocal task
        if task is None:
            console.print("assembling the embedded model (once)", markup=False, highlight=False)
            task = bar.add_task("assembling model", total=total)
        bar.update(task, completed=done)

    def on_start() -> None:
        console.print("[dim]starting the embedded llama.cpp server…[/dim]")

    return {"on_assemble": on_assemble, "on_start": on_start}


def _required(path: Path | None, what: str, option: str) -> Path:
    """A default that exists only inside this repository; elsewhere the user must give it."""
    if path is None:
        raise ConfigError(f"no {what} given: pass {option} (the default exists only in the extract repository)")
    return path


ReplayOption = Annotated[
    Optional[list[Path]],
    typer.Option(help="Read-only snapshot(s) of recorded responses (default: the repository's recording, inside it)."),
]
NoReplayOption = Annotated[bool, typer.Option("--no-replay", help="Use no snapshot, only the cache.")]
# Options that `run` and `batch export` share: a batch file must be built as the run will ask.
ModeOption = Annotated[Optional[str], typer.Option(help="instructor mode, e.g. json_schema_mode, tool_call.")]
LlamaCppOption = Annotated[
    Optional[bool], typer.Option("--llama-cpp/--no-llama-cpp", help="Send the schema as llama.cpp's server wants it.")
]
SeedOption = Annotated[int, typer.Option(help="Sampling seed.")]
TemperatureOption = Annotated[float, typer.Option(min=0.0)]
PromptsOption = Annotated[Optional[Path], typer.Option("--prompts", help="Prompt folder (default: the task's).")]
AliasesOption = Annotated[Optional[Path], typer.Option(help="Alias table (default: the task's).")]
TaskOption = Annotated[
    Optional[str], typer.Option(help="A task folder (see `extract init`) or module (default: the built-in military task).")
]
InputArgument = Annotated[
    Optional[Path], typer.Argument(help="A .txt file, a .jsonl file or a folder of them (default: the repository's seeds).")
]
GoldOption = Annotated[
    Optional[Path], typer.Option(help="Gold file to score against (default: the repository's gold/events.yaml).")
]


def _snapshots(replay: list[Path] | None, *, no_replay: bool) -> list[Path] | None:
    """The snapshots the options name: none with --no-replay, None (the default) when not given."""
    return [] if no_replay else (replay or None)


def _make_cache(config: Config, replay: list[Path] | None, *, no_replay: bool = False) -> ResponseCache:
    """The response cache, layered over the given snapshots (or the repository's recording)."""
    from extract.api import open_cache

    return open_cache(config, snapshots=_snapshots(replay, no_replay=no_replay))


def _score_into(
    run_dir: Path, *, gold: Path | None, aliases: Path | None, articles: list[Article] | None = None, summary: bool = True
) -> dict[str, Any] | None:
    """``api.score_folder`` with its warnings and summary on the console; the scores as JSON, if any."""
    from extract.api import score_folder
    from extract.report import print_summary

    scored = score_folder(run_dir, gold=gold, aliases=aliases, articles=articles)
    for warning in scored.warnings:
        console.print(warning, style="yellow", markup=False)
    if scored.scores is not None:
        if summary:
            print_summary(scored.scores, out)
        if scored.scores.gold_not_in_input:
            console.print(
                f"gold articles not in this input (not scored): {', '.join(scored.scores.gold_not_in_input)}",
                markup=False,
                highlight=False,
            )
    console.print(f"wrote {run_dir}/{', '.join(scored.written)}", markup=False, highlight=False)
    return scored.scores.to_json() if scored.scores is not None else None


def _outcome_line(o: ArticleOutcome, *, prefix: str = "") -> Text:
    """One article's progress line, as plain text (an id or a message is never read as markup); an
    article is "cached" only when every call came from the cache and none failed."""
    from rich.text import Text

    u = o.usage
    hits = f", {u.cache_hits} cached" if u.cache_hits else ""
    note = "cached" if u.calls == 0 and not o.errors else f"{u.calls} calls{hits}, {o.seconds:.0f}s"
    line = Text(f"  {prefix}{o.article_id}: {len(o.events)} events ({note})")
    if o.status != "ok":
        line.append(f" {o.status.upper()}: {'; '.join(o.errors)}", style="red")
    if o.notes:
        line.append(f" ({'; '.join(o.notes)})", style="yellow")
    return line


#: The options a resumed run takes over from the run it goes on with, unless given again (in
#: ``run``'s parameter order): what it reads, asks and scores with.
def _strategy(value: str | None) -> str | None:
    """An unknown strategy is a usage error (exit 2)."""
    if value is not None and value not in EXTRACTORS:
        raise typer.BadParameter(f"{value!r}: choose {', '.join(EXTRACTORS)}")
    return value


StrategyOption = Annotated[
    Optional[str],
    typer.Option(
        callback=_strategy,
        help=f"How to extract: {', '.join(EXTRACTORS)} (default: the first the task's prompts allow; README: the development set).",
    ),
]
#: What the planned calls of a run are, by strategy (a detect run's fills depend on its answers).
PLANNED = {
    "windows": ", one per window",
    "detect": " to detect event types, then one per type found",
    "hybrid": " for windows, detection and cue-routed fills, then one per detected type it fills",
    "thorough": " for windows, detection of every type and cue-routed fills, then one per detected type",
}

RESUMED = (
    "input", "task", "base_url", "model", "mode", "llama_cpp", "seed", "temperature", "max_tokens", "prompts_dir",
    "replay", "no_replay", "gold", "aliases", "price", "max_chars", "strategy",
)  # fmt: skip


def _saved_options(options: dict[str, Any], *, base_url: str | None) -> dict[str, Any]:
    """The RESUMED options as a run's progress header keeps them: JSON, the endpoint without credentials."""
    saved = {k: str(v) if isinstance(v, Path) else v for k, v in options.items()}
    saved["replay"] = [str(p) for p in options["replay"]] if options["replay"] is not None else None
    return saved | {"base_url": base_url}


def _resumed_options(ctx: typer.Context, saved: dict[str, Any]) -> dict[str, Any]:
    """The saved options of the run to resume, for those this command line does not give."""
    paths = {"input", "prompts_dir", "gold", "aliases"}
    restored = {}
    for name, value in saved.items():
        source = ctx.get_parameter_source(name)  # typer's own click: compared by name
        if name in RESUMED and (source is None or source.name in ("DEFAULT", "DEFAULT_MAP")):
            if name in paths and value is not None:
                value = Path(value)
            elif name == "replay" and value is not None:
                value = [Path(v) for v in value]
            restored[name] = value
    return restored


def _check_resumable(run_dir: Path, saved: dict[str, Any], info: dict[str, Any]) -> None:
    """A run resumes only with what it began with: the same input, task, model, parameters and prompts.

    A run begun before runs named their task was made with the built-in one (schema v1), and one
    begun before runs named their strategy with the windows strategy.
    """
    from extract.task import load_task

    builtin = load_task()
    older = {"task": {"name": builtin.name, "spec": None}, "schema_version": builtin.schema_version, "strategy": "windows"}
    saved = {**older, **saved}
    for key in sorted((saved.keys() | info.keys()) - {"started", "package_version"}):
        if saved.get(key) != info.get(key):
            raise ConfigError(
                f"cannot resume {run_dir}: it ran with {key} {json.dumps(saved.get(key))}, this command gives "
                f"{json.dumps(info.get(key))}; resume without that option, or start a new run"
            )


@app.command()
def run(
    ctx: typer.Context,
    input: InputArgument = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Run folder (default: a new one under runs/).")] = None,
    offline: Annotated[bool, typer.Option(help="Never call a model: a cache miss is an error.")] = False,
    refresh: Annotated[bool, typer.Option(help="Call the model even when cached, and overwrite.")] = False,
    task: TaskOption = None,
    base_url: Annotated[
        Optional[str], typer.Option(help=f"OpenAI-compatible endpoint (default: embedded model; env: {ENV_BASE_URL}).")
    ] = None,
    model: Annotated[Optional[str], typer.Option(help=f"Model name at --base-url (env: {ENV_MODEL}).")] = None,
    mode: ModeOption = None,
    llama_cpp: LlamaCppOption = None,
    concurrency: Annotated[Optional[int], typer.Option(min=1, help="Calls in flight at once, within and across articles.")] = None,
    retries: Annotated[Optional[int], typer.Option(min=0, help="Retries on 429/5xx/timeouts (with backoff).")] = None,
    timeout: Annotated[
        Optional[float], typer.Option(min=0.001, help=f"Seconds to wait for one answer (default: {DEFAULT_TIMEOUT_S:g}; env: {ENV_TIMEOUT}).")
    ] = None,
    seed: SeedOption = GenerationParams.seed,
    temperature: TemperatureOption = GenerationParams.temperature,
    max_tokens: Annotated[
        int, typer.Option(min=16, help=f"Answer limit per call (a window's answer is held to at most {WINDOW_MAX_TOKENS}).")
    ] = GenerationParams.max_tokens,
    prompts_dir: PromptsOption = None,
    replay: ReplayOption = None,
    no_replay: NoReplayOption = False,
    gold: GoldOption = None,
    aliases: AliasesOption = None,
    price: Annotated[
        Optional[str], typer.Option(help=f"USD per million prompt,completion tokens, for the report's cost (env: {ENV_PRICE}).")
    ] = None,
    max_chars: Annotated[
        int, typer.Option(min=1, help="The longest article accepted, in characters: a longer one is an error naming it.")
    ] = MAX_CHARS,
    resume: Annotated[
        Optional[Path],
        typer.Option(help="Go on with the stopped run in this folder, with its options: its finished articles are kept."),
    ] = None,
    strategy: StrategyOption = None,
) -> None:
    """Extract events from every article, write events.jsonl and run.json as articles finish, then score."""
    policy = _cache_policy(offline=offline, refresh=refresh)
    if resume is not None and out_dir is not None:
        raise typer.BadParameter("--resume names the run folder already", param_hint="'--out' / '--resume'")
    from extract import api
    from extract.api import Extractor
    from extract.pipeline import RunWriter

    params, header = ctx.params, RunWriter.read_header(resume) if resume is not None else None
    if header is not None:
        params = {**params, **_resumed_options(ctx, header["options"])}
        if params["strategy"] is None:  # the default when the run began, which may not be today's
            params["strategy"] = header["run_info"].get("strategy", "windows")
    input, task, base_url, model, mode, llama_cpp, seed, temperature, max_tokens, prompts_dir = (params[k] for k in RESUMED[:10])
    replay, no_replay, gold, aliases, price, max_chars, strategy = (params[k] for k in RESUMED[10:])
    input = _required(input or default_input(), "input", "INPUT")
    config = load_config(
        base_url=base_url,
        model=model,
        mode=mode,
        llama_cpp=llama_cpp,
        concurrency=concurrency,
        max_retries=retries,
        timeout_s=timeout,
        cache_policy=policy,
        params=GenerationParams(temperature=temperature, seed=seed, max_tokens=max_tokens),
        price=Price.parse(price) if price is not None else None,
        strategy=strategy,
    )
    bar = _progress()
    extractor = Extractor(
        config, task=task, prompts=prompts_dir, aliases=aliases, snapshots=_snapshots(replay, no_replay=no_replay),
        **_hooks(bar),
    )  # fmt: skip
    started, wall = datetime.now(timezone.utc), time.monotonic()
    info = {
        "package_version": _package_version(),
        "input": str(input),
        **extractor.run_info(),
        "started": started.isoformat(timespec="seconds"),
    }
    if header is not None:
        _check_resumable(resume, header["run_info"], info)
        info["started"] = header["run_info"]["started"]
    writer = RunWriter.resume(resume) if resume is not None else None
    planned = api.plan(extractor, input, max_chars=max_chars, done=writer.done if writer else ())
    run_dir = resume or out_dir or api.new_run_dir(extractor.prompts.hash_of(extractor.strategy))
    with api.run_folder(run_dir, resume=resume is not None):
        options = _saved_options({k: params[k] for k in RESUMED}, base_url=config.redacted_base_url)
        writer = writer or RunWriter(run_dir, header={"options": options, "run_info": info})
        before = f"; {writer.finished} finished before" if writer.finished else ""
        console.print(
            f"extracting {planned.articles} article{'s' * (planned.articles != 1)} ({planned.calls} calls{PLANNED[extractor.strategy]}{before}) into {run_dir}",
            markup=False, highlight=False,
        )  # fmt: skip
        try:
            with bar:
                progress = bar.add_task(f"{planned.articles} articles, {planned.calls} calls", total=planned.calls)
                api.extract_into(
                    extractor, input, writer, max_chars=max_chars, on_call=lambda _: bar.advance(progress),
                    on_outcome=lambda o: console.print(_outcome_line(o), highlight=False),
                )  # fmt: skip
        except KeyboardInterrupt:
            hint = (
                f"{writer.finished} finished article(s) are kept in {run_dir}: resume with `extract run --resume {run_dir}`"
                if writer.finished
                else "every finished call is cached: rerun the same command to resume"
            )
            console.print(f"interrupted; {hint}", markup=False, highlight=False)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        totals = writer.finish(seconds=time.monotonic() - wall, run_info=info)["totals"]
    console.print(
        f"{totals['events']} events from {totals['articles']} articles ({totals['failed']} failed, "
        f"{totals['failed_passes']} failed passes, {totals['rejected']} events rejected); "
        f"model calls: {totals['calls']}, cache hits: {totals['cache_hits']}; wrote {run_dir}",
        markup=False, highlight=False,
    )
    _score_into(run_dir, gold=gold or default_gold(), aliases=aliases)
    if totals["failed"] or totals["partial"]:
        raise typer.Exit(EXIT_FAILED_CALLS)


@app.command()
def bench(
    input: InputArgument = None,
    out_dir: Annotated[Path, typer.Option("--out", help="Benchmark folder.")] = Path("runs/bench"),
    strategies: Annotated[str, typer.Option(help=f"Comma-separated, of: {', '.join(STRATEGIES)}.")] = ",".join(BENCH_STRATEGIES),
    offline: Annotated[bool, typer.Option(help="Never call a model: a cache miss is an error.")] = False,
    refresh: Annotated[bool, typer.Option(help="Call the model even when cached, and overwrite.")] = False,
    task: TaskOption = None,
    prompts_dir: PromptsOption = None,
    replay: ReplayOption = None,
    no_replay: NoReplayOption = False,
    gold: GoldOption = None,
    aliases: AliasesOption = None,
    scale: Annotated[
        bool, typer.Option("--scale", help="Instead: the harness's throughput against a fake server on 127.0.0.1.")
    ] = False,
    articles: Annotated[int, typer.Option(min=1, help="--scale: synthetic articles (about 2,100 characters each).")] = 100,
    concurrency: Annotated[str, typer.Option(help="--scale: the concurrencies to run, comma-separated.")] = "1,4,8,16",
    delay_ms: Annotated[float, typer.Option(min=1.0, help="--scale: the fake server's delay per answer.")] = 50.0,
) -> None:
    """Benchmark naive instructor, langextract and the project's strategy on the embedded model.

    Writes bench.json, bench.md and one run folder per strategy under --out. With --scale, runs the
    pipeline against a fake server instead and prints calls/s and harness CPU per call.
    """
    policy = _cache_policy(offline=offline, refresh=refresh)
    from extract import bench as b
    from extract.api import Extractor, resolve_task
    from extract.prompts import PromptSet

    if scale:
        try:
            levels = [int(c) for c in concurrency.split(",")]
        except ValueError:
            levels = []
        if not levels or min(levels) < 1:
            raise typer.BadParameter(f"{concurrency!r}: give concurrencies such as 1,4,8,16", param_hint="'--concurrency'")
        console.print(f"scale benchmark: {articles} synthetic articles, a fake server answering after {delay_ms:g} ms")
        rows = b.scale_benchmark(
            articles=articles, concurrencies=levels, prompts=PromptSet.load(resolve_task(task), prompts_dir),
            delay=delay_ms / 1000,
            on_row=lambda r: console.print(f"  concurrency {r['concurrency']}: {r['calls_per_s']} calls/s"),
        )  # fmt: skip
        out.print(b.render_scale_table(rows), markup=False, highlight=False, soft_wrap=True)
        return
    chosen = b.parse_strategies(strategies)
    config = load_config(cache_policy=policy)
    if not config.embedded:
        raise ConfigError(f"the benchmark runs on the embedded model; unset {ENV_BASE_URL}")
    if input is not None:
        sets = {"input": (input, _required(gold or default_gold(), "gold file", "--gold"))}
    else:
        sets = default_sets() if gold is None else {}
        _required(sets or None, "input", "INPUT")
    bar = _progress()
    extractor = Extractor(
        config, task=task, prompts=prompts_dir, aliases=aliases, snapshots=_snapshots(replay, no_replay=no_replay),
        **_hooks(bar),
    )  # fmt: skip
    if extractor.aliases is None:
        raise ConfigError(f"no alias table for the task {extractor.task.name}; scoring needs one (--aliases)")
    records = {}
    try:
        with bar, extractor:
            for set_name, (set_input, set_gold) in sets.items():
                records[set_name] = _bench_set(
                    set_name, set_input, set_gold, chosen=chosen, extractor=extractor, bar=bar,
                    out_dir=out_dir / set_name if len(sets) > 1 else out_dir,
                )  # fmt: skip
    except KeyboardInterrupt:
        console.print("interrupted: every finished call is cached; rerun the same command to resume")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if len(records) > 1:
        b.write_sets(out_dir, records)
    for set_name, record in records.items():
        out.print(f"\n{set_name} ({record['input']}):\n", markup=False, highlight=False)
        out.print(b.render_table(record), markup=False, highlight=False, soft_wrap=True)
        for name, row in record["strategies"].items():
            if "harness_overhead" in row:
                console.print(f"{name}: harness overhead {row['harness_overhead']:.1%} over {row['live_calls']} live calls")
    console.print(f"wrote {out_dir}: bench.json, bench.md and one run folder per strategy", markup=False, highlight=False)


def _bench_set(
    set_name: str, input: Path, gold: Path, *, chosen: Sequence[str], extractor: Extractor, bar: Progress, out_dir: Path
) -> dict[str, Any]:
    """Benchmark the chosen strategies on one set of articles against its gold; write and return its record."""
    from extract import bench as b
    from extract.api import load_documents
    from extract.gold import load_gold

    if not gold.exists():
        raise ConfigError(f"no gold file at {gold}")
    docs = load_documents(input)
    # Strategies are compared on the articles benchmarked: gold of other articles is left out.
    gold_events = {k: v.events for k, v in load_gold(gold, task=extractor.task).items() if k in {a.id for a in docs}}
    if not gold_events:
        raise ConfigError(f"no gold events for the articles in {input}; the benchmark needs labeled articles")
    out_dir.mkdir(parents=True, exist_ok=True)
    progress = bar.add_task(f"{set_name}: {len(chosen)} strategies × {len(docs)} articles", total=len(chosen) * len(docs))

    def done(name: str, o: ArticleOutcome) -> None:
        bar.advance(progress)
        console.print(_outcome_line(o, prefix=f"{name:<11} "), highlight=False)

    results, unrecorded = [], []
    for name in chosen:
        console.print(f"{set_name}, {name}: {len(docs)} articles")
        try:
            results.append(b.run_strategy(name, docs, b.strategy_runner(name, extractor), on_done=done))
        except CacheMissError as e:
            if extractor.config.cache_policy != "offline" or len(chosen) == 1:
                raise
            # Offline, a strategy the recording does not hold for this set is left out, and said so.
            console.print(f"{set_name}, {name}: left out, not in the recording (article {e.article_id}, prompts {e.prompt})")
            unrecorded.append(name)
    b.score_strategies(results, gold_events, aliases=extractor.aliases, articles=docs)
    info = {
        **({"not_recorded": unrecorded} if unrecorded else {}),
        "input": str(input),
        "model": extractor.identity,
        "params": extractor.config.params.to_json(),
        "prompts": {r.name: extractor.prompts.hash_of(r.name) for r in results},
        "schema_version": extractor.task.schema_version,
    }
    return b.write_bench(out_dir, results, info=info)


@app.command()
def score(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with events.jsonl and run.json.")],
    gold: GoldOption = None,
    aliases: AliasesOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print scores.json instead of the summary table.")] = False,
) -> None:
    """Score a run against the gold of its articles: writes scores.json, report.md and report.html."""
    from extract.export import read_manifest

    read_manifest(run_dir)  # a folder that is not a run is an error before the gold is looked for
    gold = _required(gold or default_gold(), "gold file", "--gold")
    if not gold.exists():
        raise ConfigError(f"no gold file at {gold}")
    data = _score_into(run_dir, gold=gold, aliases=aliases, summary=not as_json)
    if as_json:
        out.print_json(json.dumps(data, sort_keys=True, ensure_ascii=False))


@app.command()
def compare(
    run_a: Annotated[Path, typer.Argument(help="Baseline run folder (scored).")],
    run_b: Annotated[Path, typer.Argument(help="Candidate run folder (scored).")],
    threshold: Annotated[
        Optional[float], typer.Option(help=f"Exit {EXIT_REGRESSION} when B's strict or lenient F1 drops more than this.")
    ] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Folder for compare.md, compare.json, compare.html (default: RUN_B).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print compare.json instead of the Markdown.")] = False,
) -> None:
    """Compare two scored runs: figures side by side, paired significance tests, events gained and lost."""
    from extract.report import render_comparison_html, render_comparison_markdown
    from extract.score import compare as compare_scores
    from extract.score import load_scores

    loaded = []
    for run_dir in (run_a, run_b):
        path = run_dir / "scores.json"
        if not path.is_file():
            raise ConfigError(f"{run_dir} has no scores.json; run `extract score {run_dir}` first")
        loaded.append(load_scores(path))
    comparison = compare_scores(loaded[0], loaded[1])
    record = {"a": str(run_a), "b": str(run_b), **comparison.to_json()}
    markdown = render_comparison_markdown(comparison)
    target = out_dir or run_b
    target.mkdir(parents=True, exist_ok=True)
    (target / "compare.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    (target / "compare.md").write_text(markdown, encoding="utf-8")
    html = render_comparison_html(comparison, a=str(run_a), b=str(run_b))
    (target / "compare.html").write_text(html, encoding="utf-8")
    if as_json:
        out.print_json(json.dumps(record, sort_keys=True))
    else:
        out.print(markdown, markup=False, highlight=False, soft_wrap=True)
    console.print(f"wrote {target}/compare.md, compare.json, compare.html", markup=False, highlight=False)
    if threshold is not None and comparison.is_regression(threshold):
        console.print(f"regression: B is worse than A by more than {threshold}", style="red", markup=False)
        raise typer.Exit(EXIT_REGRESSION)


@app.command()
def init(directory: Annotated[Path, typer.Argument(help="A new (or empty) folder for the task.")]) -> None:
    """Write a working skeleton of a task to edit: its event model, prompts, examples, aliases and guidelines."""
    from extract.task import init_task

    written = init_task(directory)
    for path in written:
        out.print(str(path), markup=False, highlight=False)
    console.print(
        f"wrote a one-type task into {directory}; edit task.py and prompts/, then `extract run INPUT --task {directory}`",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip


@app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 8080,
) -> None:
    """Run the embedded model's OpenAI-compatible server in the foreground until Ctrl-C."""
    from extract.server import EmbeddedServer, ensure_model

    config = load_config()
    with _progress(bytes=True) as bar:
        path = ensure_model(config.model_dir, progress=_hooks(bar)["on_assemble"])
    with EmbeddedServer(path, port=port, n_ctx=config.n_ctx, threads=config.server_threads) as server:
        console.print(f"serving {config.model} at {server.base_url} (Ctrl-C to stop)", markup=False, highlight=False)
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
    from extract.cache import ResponseCache

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
    console.print(f"exported {n} responses to {path}", markup=False, highlight=False)


@cache_app.command("import")
def cache_import(path: Annotated[Path, typer.Argument(help="JSONL snapshot to read.")]) -> None:
    """Copy a snapshot's responses into the cache."""
    from extract.cache import ResponseCache

    n = ResponseCache(load_config().cache_dir).import_(path)
    console.print(f"imported {n} responses from {path}", markup=False, highlight=False)


@gold_app.command("check")
def gold_check(
    gold: GoldOption = None,
    aliases: AliasesOption = None,
    seeds: Annotated[
        Optional[Path],
        typer.Option(help="The labeled articles: a folder, a .txt or a .jsonl file (default: the repository's seeds)."),
    ] = None,
    task: TaskOption = None,
) -> None:
    """Validate the gold against the task's schema, the articles and the alias table; unreviewed draft events fail."""
    from extract.aliases import Aliases
    from extract.api import load_documents, resolve_task
    from extract.gold import check_gold, load_gold

    gold = _required(gold or default_gold(), "gold file", "--gold")
    resolved = resolve_task(task)
    alias_table = Aliases.load(aliases or resolved.aliases_path)
    docs = load_documents(_required(seeds or default_input(), "articles", "--seeds"))
    problems = check_gold(gold, articles=docs, aliases=alias_table, task=resolved)
    for p in problems:
        out.print(str(p), markup=False, highlight=False, soft_wrap=True)
    if problems:
        console.print(f"[red]{len(problems)} problem(s)[/red]")
        raise typer.Exit(EXIT_ERROR)
    labeled = load_gold(gold, task=resolved)
    n = sum(len(a.events) for a in labeled.values())
    console.print(f"gold ok: {len(labeled)} articles, {n} events ({resolved.name} task, schema v{resolved.schema_version})")


@gold_app.command("draft")
def gold_draft(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with events.jsonl and run.json.")],
    out_path: Annotated[Optional[Path], typer.Option("--out", help="Draft to write (default: RUN/gold-draft.yaml).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing draft.")] = False,
) -> None:
    """Pre-annotate: write a run's kept events as gold, each marked `reviewed: false` until an analyst checks it."""
    from extract.api import task_of_run
    from extract.export import read_manifest, write_gold_draft

    manifest = read_manifest(run_dir)
    path, count = write_gold_draft(run_dir, task=task_of_run(manifest), out=out_path, force=force)
    seeds = manifest.get("input", "INPUT")
    console.print(
        f"wrote {count} unreviewed events to {path}; correct them, remove each `reviewed: false`, "
        f"then run `extract gold check --gold {path} --seeds {seeds}`",
        markup=False, highlight=False, soft_wrap=True,
    )


@app.command("export")
def export(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with events.jsonl and run.json.")],
    fmt: Annotated[str, typer.Option("--format", help="csv, jsonl or parquet (needs extract-events[parquet]).")] = "csv",
    out_path: Annotated[
        Optional[Path], typer.Option("--out", help="File to write (default: RUN/events.csv, events.flat.jsonl or events.parquet).")
    ] = None,
) -> None:
    """Write every event of a run, kept and rejected, as one flat row (columns in extract/export.py)."""
    from extract.api import task_of_run
    from extract.export import export_run, read_manifest

    exported = export_run(run_dir, fmt=fmt, task=task_of_run(read_manifest(run_dir)), out=out_path)
    console.print(str(exported), markup=False, highlight=False, soft_wrap=True)


batch_app = typer.Typer(
    no_args_is_help=True,
    help="Batch files for an OpenAI-compatible batch engine (the OpenAI Batch API, vllm run-batch).",
)
app.add_typer(batch_app, name="batch")


@batch_app.command("export")
def batch_export(
    input: Annotated[Path, typer.Argument(help="A .txt file, a .jsonl file or a folder of them (as `extract run` reads).")],
    out_path: Annotated[Path, typer.Argument(help="The batch input file to write (JSONL).")],
    base_url: Annotated[
        Optional[str], typer.Option(help=f"The endpoint `extract run` will name (its identity only: nothing is sent; env: {ENV_BASE_URL}).")
    ] = None,
    model: Annotated[Optional[str], typer.Option(help=f"Model name in every request body (env: {ENV_MODEL}).")] = None,
    mode: ModeOption = None,
    llama_cpp: LlamaCppOption = None,
    seed: SeedOption = GenerationParams.seed,
    temperature: TemperatureOption = GenerationParams.temperature,
    max_tokens: Annotated[int, typer.Option(min=16, help="Answer limit per call, as `extract run`'s.")] = GenerationParams.max_tokens,
    task: TaskOption = None,
    prompts_dir: PromptsOption = None,
    replay: ReplayOption = None,
    no_replay: NoReplayOption = False,
    strategy: StrategyOption = None,
) -> None:
    """Write the run's calls that the cache does not answer as an OpenAI Batch API input file; calls no model.

    Give the options `extract run` will get. After `extract batch import`, export again until it writes
    nothing (an invalid answer's reask is only known once the answer is in; the detect strategy's fills,
    once its detections are).
    """
    from extract.api import Extractor, load_documents
    from extract.batch import PendingStore, batch_client, export_batch

    config = load_config(
        base_url=base_url,
        model=model,
        mode=mode,
        llama_cpp=llama_cpp,
        params=GenerationParams(temperature=temperature, seed=seed, max_tokens=max_tokens),
        strategy=strategy,
    )
    articles = load_documents(input)
    with Extractor(config, task=task, prompts=prompts_dir, snapshots=_snapshots(replay, no_replay=no_replay)) as extractor:
        client = batch_client(config, extractor.cache)
        summary = export_batch(
            articles, out_path, client=client, prompts=extractor.prompts, pending=PendingStore(config.cache_dir),
            task_spec=extractor.task_spec, strategy=extractor.strategy,
        )  # fmt: skip
    console.print(
        f"wrote {summary.exported} requests to {out_path} ({summary.answered} of {summary.calls} calls already "
        "answered by the cache); run them on a batch engine, then `extract batch import RESULTS.jsonl`",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip


@batch_app.command("import")
def batch_import(
    results: Annotated[Path, typer.Argument(help="A batch output file (JSONL lines of custom_id, response, error).")],
) -> None:
    """Store a batch engine's answers in the cache as live calls would; `extract run --offline` then finishes the run.

    Every custom_id must be a request `extract batch export` wrote from this cache; unknown ids and failed
    lines are listed, never stored (exit 1).
    """
    from extract.batch import PendingStore, import_batch
    from extract.cache import ResponseCache
    from extract.errors import BatchError

    config = load_config()
    cache = ResponseCache(config.cache_dir)
    try:
        summary = import_batch(results, config=config, cache=cache, pending=PendingStore(config.cache_dir))
    except BatchError as e:
        for problem in e.problems[1:21]:  # the first is in the error line
            console.print(problem, markup=False, highlight=False, soft_wrap=True)
        raise
    finally:
        cache.close()
    console.print(
        f"stored {summary.stored} answers from {results} ({summary.invalid} invalid: their reasks are in the next "
        f"`extract batch export`; {summary.already_cached} already cached); {summary.pending} requests still pending",
        markup=False, highlight=False, soft_wrap=True,
    )  # fmt: skip


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
        sys.exit(EXIT_ERROR)

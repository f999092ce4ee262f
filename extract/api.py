"""The library's face: extract events from a text or a corpus, and evaluate them against gold.

    import extract
    events = extract.extract("The U.S. has 2,500 troops in Iraq.", published="2021-01-15")

An ``Extractor`` holds one task, one frozen ``Config`` and one response cache; as a context
manager it opens the cache and, on the first call the cache cannot answer, starts the embedded
model's server, and stops it at the end. The command line is a thin layer over these.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from extract.aliases import Aliases
from extract.config import Config, default_snapshots, load_config
from extract.documents import Article, iter_documents
from extract.errors import ConfigError
from extract.prompts import PromptSet
from extract.schema import Event
from extract.task import TASK_FILE, Task, load_task

if TYPE_CHECKING:
    from extract.cache import ResponseCache
    from extract.llm import LLMClient
    from extract.pipeline import ArticleOutcome, RunWriter
    from extract.score import Scores
    from extract.server import EmbeddedServer

#: ``(done, total)`` bytes while the embedded model is assembled from its parts (once).
AssembleProgress = Callable[[int, int], None]


def resolve_task(task: Task | str | Path | None) -> Task:
    """A Task as given, or the one a spec names (None: the built-in task)."""
    return task if isinstance(task, Task) else load_task(task)


def task_spec(task: Task | str | Path | None) -> str | None:
    """How run records name a task so that it loads again: None for the built-in one, a folder
    for a task given as a ``Task`` defined in its folder's ``task.py``."""
    if task is None or (isinstance(task, Task) and task is load_task()):
        return None
    if isinstance(task, Task):
        return str(task.directory) if (task.directory / TASK_FILE).is_file() else None
    return str(task)


def snapshot_paths(snapshots: Sequence[Path] | None) -> list[Path]:
    """The read-only recordings a cache answers from (None: the repository's, inside this
    repository only); a snapshot that does not exist is a ConfigError."""
    paths = default_snapshots() if snapshots is None else list(snapshots)
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise ConfigError(f"no snapshot at {', '.join(missing)}")
    return paths


def open_cache(config: Config, *, snapshots: Sequence[Path] | None = None) -> ResponseCache:
    """The response cache, layered over read-only snapshots (see ``snapshot_paths``)."""
    from extract.cache import ResponseCache

    return ResponseCache(config.cache_dir, snapshots=snapshot_paths(snapshots))


class Extractor:
    """Extracts events with one task, configuration and cache: ``with Extractor() as x: x.extract(text)``.

    ``prompts`` and ``aliases`` override the task's own files; ``snapshots`` are recordings the
    cache answers from (None: the repository's, inside this repository). ``on_assemble`` and
    ``on_start`` report the embedded model's one-off set-up (its parts assembled, the server started).
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        task: Task | str | Path | None = None,
        prompts: Path | None = None,
        aliases: Path | None = None,
        snapshots: Sequence[Path] | None = None,
        on_assemble: AssembleProgress | None = None,
        on_start: Callable[[], None] | None = None,
    ) -> None:
        self.config = config or load_config()
        self.task = resolve_task(task)
        self.task_spec = task_spec(task)
        self.prompts = PromptSet.load(self.task, prompts)
        alias_path = aliases or self.task.aliases_path
        if aliases is not None and not aliases.is_file():
            raise ConfigError(f"no alias table at {aliases}")
        self.aliases = Aliases.load(alias_path) if alias_path.is_file() else None
        self._snapshots = snapshot_paths(snapshots)
        self._on_assemble = on_assemble
        self._on_start = on_start
        self._cache: ResponseCache | None = None
        self._client: LLMClient | None = None
        self._server: EmbeddedServer | None = None

    # --- resources ---------------------------------------------------------------------

    @property
    def cache(self) -> ResponseCache:
        """The response cache, opened on first use."""
        if self._cache is None:
            self._cache = open_cache(self.config, snapshots=self._snapshots)
        return self._cache

    @property
    def identity(self) -> str:
        """The model's identity in cache keys: the GGUF's sha256 for the embedded model, else
        the endpoint's model name and address (never its credentials)."""
        from extract.server import model_identity

        return model_identity(self.config)

    @property
    def client(self) -> LLMClient:
        """The cached model client; it reaches for the endpoint only on a cache miss."""
        if self._client is None:
            from extract.llm import LLMClient

            self._client = LLMClient(self.config, cache=self.cache, endpoint=self.endpoint, model_identity=self.identity)
        return self._client

    def endpoint(self) -> str:
        """The base URL; for the embedded model, the server is assembled and started on first use."""
        if not self.config.embedded:
            return str(self.config.base_url)
        if self._server is None:
            from extract.server import EmbeddedServer, ensure_model

            path = ensure_model(self.config.model_dir, progress=self._on_assemble)
            if self._on_start is not None:
                self._on_start()
            server = EmbeddedServer(path, n_ctx=self.config.n_ctx, threads=self.config.server_threads)
            server.start()
            self._server = server
        return self._server.base_url

    def close(self) -> None:
        """Stop the embedded server if it was started, and close the cache."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._cache is not None:
            self._cache.close()
            self._cache = None
        self._client = None

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- work --------------------------------------------------------------------------

    @functools.cached_property
    def strategy(self) -> str:
        """How this extractor extracts: the configured strategy, else the best its task's prompts allow
        (found once: planning asks for every article)."""
        strategy = self.config.strategy or self.prompts.best_strategy
        self.prompts.hash_of(strategy)  # a ConfigError when the task has no templates for it
        return strategy

    def run_info(self) -> dict[str, Any]:
        """What a run record says of the extraction: task, model, mode, parameters and prompts."""
        config = self.config
        info: dict[str, Any] = {
            "task": {"name": self.task.name, "spec": self.task_spec},
            "schema_version": self.task.schema_version,
            "model": {
                "name": config.model, "identity": self.identity, "embedded": config.embedded,
                "base_url": config.redacted_base_url,
            },
            "mode": config.mode,
            "params": config.params.to_json(),
            "strategy": self.strategy,
            "prompts": {"hash": self.prompts.hash_of(self.strategy), "files": self.prompts.hashes},
        }  # fmt: skip
        if config.price is not None:
            info["price"] = config.price.to_json()
        return info

    def count_calls(self, article: Article) -> int:
        """How many calls an article takes (no prompt is rendered): for progress bars."""
        if self.strategy == "windows":
            from extract.pipeline import count_calls

            return count_calls(article)
        from extract.detect import count_calls as count_detect_calls

        return count_detect_calls(article, task=self.task, strategy=self.strategy)

    def run(self, articles: Iterable[Article], *, on_call: Callable[[str], None] | None = None) -> Iterator[ArticleOutcome]:
        """Extract every article (read lazily), yielding outcomes in article order as they finish."""
        from extract.pipeline import run_articles

        batch_fn, batch = None, 1
        if self.strategy != "windows":
            from extract.detect import BATCH, batch_runner

            batch_fn = batch_runner(self.strategy, client=self.client, prompts=self.prompts, aliases=self.aliases, on_pass=on_call)
            batch = BATCH
        yield from run_articles(
            articles, client=self.client, prompts=self.prompts, aliases=self.aliases,
            concurrency=self.config.concurrency, on_pass=on_call, batch_fn=batch_fn, batch=batch,
        )  # fmt: skip

    def extract(self, text: str, *, published: str | None = None, id: str = "text") -> list[Event]:
        """The grounded events of one text; an LLMError when every call for it failed (the events of
        the calls that succeeded are kept otherwise)."""
        from extract.errors import LLMError

        (outcome,) = self.run([article_of(text, published=published, id=id)])
        if outcome.status == "failed":
            raise LLMError(f"{id}: {'; '.join(outcome.errors)}", article_id=id)
        return [record.event for record in outcome.events]


def article_of(text: str, *, published: str | None = None, id: str = "text") -> Article:
    """One text as an article of its own (no headline, no page cleaning)."""
    if not text.strip():
        raise ConfigError("the text to extract from is empty")
    body = text.strip()
    return Article(id=id, title="", text=body, source=id, published=published, runs=((0, text.index(body), len(body)),))


def extract(
    text: str,
    *,
    published: str | None = None,
    config: Config | None = None,
    task: Task | str | Path | None = None,
) -> list[Event]:
    """The events of one text, with the default (or given) configuration and task."""
    with Extractor(config, task=task) as extractor:
        return extractor.extract(text, published=published)


def load_documents(path: Path | str, *, max_chars: int | None = None) -> list[Article]:
    """The articles of a ``.txt`` file, a ``.jsonl`` file (``id``, ``text``, ``published``) or a folder of them."""
    return list(iter_documents(Path(path), max_chars=max_chars))


# --- run folders --------------------------------------------------------------------------


def new_run_dir(prompt_hash: str) -> Path:
    """A default run folder, ``runs/<time to the microsecond>-<prompt hash>-<random>``: two runs never share one."""
    import secrets
    from datetime import datetime

    return Path("runs") / f"{datetime.now().strftime('%Y%m%d-%H%M%S-%f')}-{prompt_hash[:8]}-{secrets.token_hex(3)}"


@contextlib.contextmanager
def run_folder(path: Path, *, resume: bool = False) -> Iterator[Path]:
    """Create the run folder (and missing parents); if the block fails, remove those still empty.

    A folder that existed before is never removed, nor one the block wrote anything into; a
    non-empty one is written into only to resume its run.
    """
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{path} is not a folder")
    if not resume and path.is_dir() and any(path.iterdir()):
        raise ConfigError(f"{path} is not empty: choose another --out, or go on with its run: extract run --resume {path}")
    created = [p for p in (path, *path.parents) if not p.exists()]  # deepest first
    path.mkdir(parents=True, exist_ok=True)
    try:
        yield path
    except BaseException:
        for folder in created:
            if not folder.is_dir() or any(folder.iterdir()):
                break
            folder.rmdir()
        raise


@dataclass(frozen=True)
class Plan:
    """What a run will do: the articles still to extract and their calls (no prompt rendered)."""

    articles: int
    calls: int


def plan(extractor: Extractor, input: Path, *, max_chars: int | None, done: Iterable[str] = ()) -> Plan:
    """Read the input once, lazily: duplicate ids and over-long articles stop the run before any call."""
    skip, articles, calls = set(done), 0, 0
    for article in iter_documents(input, max_chars=max_chars):
        if article.id not in skip:
            articles, calls = articles + 1, calls + extractor.count_calls(article)
    return Plan(articles, calls)


def extract_into(
    extractor: Extractor,
    input: Path,
    writer: RunWriter,
    *,
    max_chars: int | None,
    on_call: Callable[[str], None] | None = None,
    on_outcome: Callable[[ArticleOutcome], None] | None = None,
) -> None:
    """Extract the input's articles that ``writer`` has not finished, each written as soon as it is.

    An ExtractError after some articles were written becomes a RunStoppedError naming the folder
    to resume; before any, it propagates as is (a rerun replays every finished call).
    """
    from extract.errors import ExtractError, RunStoppedError
    from extract.llm import RESUME_HINT

    try:
        articles = (a for a in iter_documents(input, max_chars=max_chars) if a.id not in writer.done)
        with extractor:
            for outcome in extractor.run(articles, on_call=on_call):
                writer.add(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
    except ExtractError as e:
        if not writer.finished:
            raise
        # "rerun the same command" becomes "resume this folder"
        raise RunStoppedError(str(e).removesuffix(RESUME_HINT), run_dir=writer.run_dir, finished=writer.finished) from e
    finally:
        writer.close()


# --- evaluation ---------------------------------------------------------------------------


def task_of_run(run: Mapping[str, Any]) -> Task:
    """The task a run was made with, as its run.json names it (the built-in one for older runs)."""
    recorded = run.get("task") or {}
    task = load_task(recorded.get("spec"))
    if recorded.get("name", task.name) != task.name:
        raise ConfigError(
            f"the run was made with the task {recorded['name']!r}, which its run.json does not say how to load "
            "(a Task made in code): read it with extract.evaluate(..., task=that Task)"
        )
    return task


def evaluate(
    events_or_run: Path | str | Mapping[str, Sequence[Event]],
    gold: Path | str | Mapping[str, Sequence[Event]],
    *,
    articles: Sequence[Article] | None = None,
    task: Task | str | Path | None = None,
    aliases: Aliases | Path | None = None,
) -> Scores:
    """Score events (per article id) or a run folder against gold events or a gold file.

    A run folder brings its task and articles; ``articles`` scopes the gold to them and locates
    quotes (without them, every gold article is scored).
    """
    from extract.export import read_manifest
    from extract.gold import load_gold
    from extract.score import read_events, score_run

    if isinstance(events_or_run, (str, Path)):
        run_dir = Path(events_or_run)
        run = read_manifest(run_dir)
        resolved = resolve_task(task) if task is not None else task_of_run(run)
        predicted: Mapping[str, Sequence[Event]] = read_events(run_dir / "events.jsonl", task=resolved)
        if articles is None:
            articles = load_documents(Path(run["input"]))
    else:
        resolved, predicted = resolve_task(task), events_or_run
    gold_events = (
        {k: list(v.events) for k, v in load_gold(Path(gold), task=resolved).items()}
        if isinstance(gold, (str, Path))
        else gold
    )
    if not isinstance(aliases, Aliases):
        aliases = Aliases.load(aliases or resolved.aliases_path)
    return score_run(predicted, gold_events, aliases=aliases, articles=articles)


@dataclass(frozen=True)
class Scored:
    """What ``score_folder`` wrote, and what the caller should say about it."""

    scores: Scores | None
    written: tuple[str, ...]
    #: Why there are no scores, or why they are provisional (a draft gold).
    warnings: tuple[str, ...]


def score_folder(
    run_dir: Path,
    *,
    gold: Path | None,
    aliases: Path | None = None,
    articles: Sequence[Article] | None = None,
) -> Scored:
    """Score a run folder against the gold of its own articles and write scores.json, report.md and
    report.html; a run whose articles have no gold still gets report.html of its events."""
    from extract.export import read_manifest
    from extract.gold import load_gold
    from extract.report import read_rejected, render_html, render_markdown
    from extract.score import read_events, score_run

    run = read_manifest(run_dir)
    task = task_of_run(run)
    if articles is None:
        articles = load_documents(Path(run["input"]))
    alias_path = aliases or task.aliases_path
    alias_table = Aliases.load(alias_path) if alias_path.exists() else None
    predicted = read_events(run_dir / "events.jsonl", task=task)
    gold_articles = load_gold(gold, task=task) if gold is not None and gold.exists() else {}
    gold_events = {k: list(v.events) for k, v in gold_articles.items()}
    ids = {a.id for a in articles}
    warnings = []
    unreviewed = sum(v.unreviewed for k, v in gold_articles.items() if k in ids)
    if unreviewed:
        warnings.append(
            f"{gold} holds {unreviewed} unreviewed draft event(s) for these articles: the scores are provisional "
            "until an analyst reviews them (`extract gold check`)"
        )
    scores = None
    if gold is None or not gold.exists():
        warnings.append(f"no gold file{f' at {gold}' if gold else ''}: events and report without scores")
    elif not ids & set(gold_events):
        warnings.append(f"no gold in {gold} for the {len(ids)} article(s) of this input: events and report without scores")
    else:
        if alias_table is None:
            raise ConfigError(f"no alias table at {alias_path}; scoring needs one (--aliases)")
        scores = score_run(predicted, gold_events, aliases=alias_table, articles=articles)
    written = ["report.html"]
    stale = [run_dir / "scores.json", run_dir / "report.md"]
    if scores is not None:
        data = scores.to_json()
        stale[0].write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
        stale[1].write_text(render_markdown(scores), encoding="utf-8")
        written = ["scores.json", "report.md", *written]
    else:
        for path in stale:  # scores of an earlier scoring would no longer describe this run
            path.unlink(missing_ok=True)
    html = render_html(
        scores,
        articles=articles,
        predicted=predicted,
        gold={k: v for k, v in gold_events.items() if k in ids} if scores is not None else None,
        rejected=read_rejected(run_dir / "rejected.jsonl", task=task),
        run=run,
        aliases=alias_table,
        event_types=task.event_types,
    )
    (run_dir / "report.html").write_text(html, encoding="utf-8")
    return Scored(scores=scores, written=tuple(written), warnings=tuple(warnings))

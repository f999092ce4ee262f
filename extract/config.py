"""Run configuration: one frozen dataclass, built once from the environment and the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import platformdirs

from extract.errors import ConfigError

CachePolicy = Literal["default", "offline", "refresh"]

APP_NAME = "extract"
#: The embedded model's name as the llama.cpp server reports it.
EMBEDDED_MODEL = "qwen2.5-coder-1.5b-instruct"
#: Where responses and the assembled model live unless the environment says otherwise:
#: the platform's user cache folder (platformdirs; ``~/.cache/extract`` on Linux).
DEFAULT_HOME = platformdirs.user_cache_path(APP_NAME)

# The environment variables load_config reads (named once, for it and for --help).
ENV_HOME = "EXTRACT_HOME"
ENV_CACHE_DIR = "EXTRACT_CACHE_DIR"
ENV_BASE_URL = "EXTRACT_BASE_URL"
ENV_MODEL = "EXTRACT_MODEL"
ENV_API_KEY = "OPENAI_API_KEY"
ENV_XDG_CACHE_HOME = "XDG_CACHE_HOME"
ENV_PRICE = "EXTRACT_PRICE"
ENV_TIMEOUT = "EXTRACT_TIMEOUT"
#: Each variable with what it sets, in the order --help lists them.
ENVIRONMENT = {
    ENV_HOME: "cache and model folder (default: $XDG_CACHE_HOME/extract, else the platform's user cache folder)",
    ENV_CACHE_DIR: "response cache folder (default: $EXTRACT_HOME/responses)",
    ENV_BASE_URL: "OpenAI-compatible endpoint, as --base-url (default: the embedded model)",
    ENV_MODEL: "model name at the endpoint, as --model",
    ENV_API_KEY: "the endpoint's API key (never cached or written)",
    ENV_XDG_CACHE_HOME: "the user cache folder that holds extract/ when EXTRACT_HOME is unset",
    ENV_PRICE: "USD per million prompt and completion tokens, e.g. 0.15,0.60, as --price (the report shows a cost)",
    ENV_TIMEOUT: "seconds to wait for one answer, as --timeout (default: 180)",
}

#: This package's source checkout, when it runs from one (an editable install); None when installed.
_CHECKOUT = Path(__file__).resolve().parent.parent
REPOSITORY: Path | None = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "tests" / "recordings").is_dir() else None


def _in_repository(*parts: str) -> Path | None:
    """A path of this repository, as seen from the current folder; None outside a checkout or if absent.

    No default depends on the current folder: only a package run from its checkout has these.
    """
    if REPOSITORY is None or not (REPOSITORY.joinpath(*parts)).exists():
        return None
    return Path(os.path.relpath(REPOSITORY.joinpath(*parts)))


def default_input() -> Path | None:
    """The seed articles, inside this repository."""
    return _in_repository("seeds")


def default_gold() -> Path | None:
    """The hand-labeled gold of the seeds, inside this repository."""
    return _in_repository("gold", "events.yaml")


def default_sets() -> dict[str, tuple[Path, Path]]:
    """The benchmark's article sets with their gold, inside this repository: the seeds the
    strategies were first tuned on, the development set that choices are made on, and the
    held-out set that no choice may look at (gold/heldout/README.md)."""
    sets = {"seeds": (default_input(), default_gold())}
    for name in ("dev", "heldout"):
        sets[name] = (_in_repository("gold", name, "articles"), _in_repository("gold", name, "events.yaml"))
    return {name: (i, g) for name, (i, g) in sets.items() if i is not None and g is not None}


def default_snapshots() -> list[Path]:
    """The committed recordings of real model responses, inside this repository: the benchmark's
    ``responses.jsonl`` and every ``*.responses.jsonl`` beside it (the library example, the test task)."""
    folder = _in_repository("tests", "recordings")
    if folder is None:
        return []
    return [p for p in (folder / "responses.jsonl", *sorted(folder.glob("*.responses.jsonl"))) if p.is_file()]

#: A window's answer limit: its few events need well under 384 tokens, and a model that
#: starts repeating itself is cut early (its complete events are kept).
WINDOW_MAX_TOKENS = 384
#: Seconds to wait for one answer. A window on the embedded model (2 cores) reads the ~2,300-token
#: prefix at ~50 tokens/s the first time (46 s) and writes at most 384 tokens at ~15 tokens/s
#: (26 s): 72 s at worst, so 180 s leaves 2.5x for a slower or busier machine.
DEFAULT_TIMEOUT_S = 180.0
#: The strategies a run extracts with, best first (on the development set, README): without
#: ``--strategy``, a run uses the first whose templates its task has. ``windows``: one call per
#: window of a few sentences for the whole event union (``extract.pipeline``); ``detect``: detect
#: the types of each window, then fill one type at a time (``extract.detect``); ``hybrid``: the
#: task's ``detect_types`` by detect-then-fill, the other types from the windows calls, and the
#: fills its ``fill_cues`` route; ``thorough``: the hybrid with every type also detected and
#: filled, beside every event of its windows calls (opt-in: about 1.7 times the hybrid's time).
EXTRACTORS = ("hybrid", "windows", "detect", "thorough")
#: The benchmark's strategies, in the order they run: two baselines, then the project's own.
STRATEGIES = ("naive", "langextract", "windows", "detect", "hybrid", "thorough")
#: What ``extract bench`` runs unless told: all of them (the recordings hold every one, so the
#: whole table replays offline).
BENCH_STRATEGIES = STRATEGIES


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters: all part of the cache key."""

    temperature: float = 0.0
    seed: int = 1234
    max_tokens: int = 2048

    def to_json(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "seed": self.seed, "temperature": self.temperature}


@dataclass(frozen=True)
class Price:
    """USD per million prompt and completion tokens: what puts a cost on a run's live calls."""

    prompt_per_mtok: float
    completion_per_mtok: float

    @classmethod
    def parse(cls, text: str) -> Price:
        """``"0.15,0.60"`` (prompt, completion); anything else is a ConfigError."""
        parts = text.split(",")
        try:
            prompt, completion = (float(p) for p in parts)
        except ValueError:
            raise ConfigError(f"price {text!r}: give USD per million prompt and completion tokens, e.g. 0.15,0.60") from None
        if prompt < 0 or completion < 0:
            raise ConfigError(f"price {text!r}: prices cannot be negative")
        return cls(prompt, completion)

    def to_json(self) -> dict[str, float]:
        return {"completion_per_mtok": self.completion_per_mtok, "prompt_per_mtok": self.prompt_per_mtok}


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know; passed explicitly, never read from globals."""

    #: None means the embedded llama.cpp server.
    base_url: str | None = None
    model: str = EMBEDDED_MODEL
    api_key: str | None = field(default=None, repr=False)
    mode: str = "json_schema_mode"
    params: GenerationParams = GenerationParams()
    cache_dir: Path = DEFAULT_HOME / "responses"
    model_dir: Path = DEFAULT_HOME / "models"
    cache_policy: CachePolicy = "default"
    concurrency: int = 1
    #: How articles are extracted: one of EXTRACTORS; None: the best the task's prompts allow.
    strategy: str | None = None
    #: Retries of one call on a timeout, a connection failure, 408/409/429 or 5xx: 1 + max_retries attempts in all.
    max_retries: int = 4
    max_reasks: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    #: Timeouts or connection failures in a row (over all calls) after which the run stops.
    max_consecutive_failures: int = 3
    #: The first retry's wait in seconds, doubled at each retry up to 8 s (a Retry-After header wins).
    retry_backoff_s: float = 0.5
    #: Send the schema as llama.cpp wants it (``json_object`` + ``schema``); None: when embedded.
    llama_cpp: bool | None = None
    server_threads: int | None = None
    n_ctx: int = 8192
    #: What a live call costs; None: no cost is shown.
    price: Price | None = None

    @property
    def embedded(self) -> bool:
        return self.base_url is None

    @property
    def llama_cpp_format(self) -> bool:
        return self.embedded if self.llama_cpp is None else self.llama_cpp

    @property
    def redacted_base_url(self) -> str | None:
        """The endpoint as run.json may record it: no user:password, no query string (it may hold a key)."""
        return None if self.base_url is None else redact_url(self.base_url)

    @property
    def endpoint_identity(self) -> str:
        """A remote endpoint's identity in the cache keys: model name, scheme, host, port and path, never
        credentials. (The embedded model is identified by its GGUF's sha256 instead: server.MODEL_IDENTITY.)"""
        return f"openai-compatible:{self.model}@{redact_url(self.base_url or '', explicit_port=True)}"

    def __post_init__(self) -> None:
        if self.strategy is not None and self.strategy not in EXTRACTORS:
            raise ConfigError(f"unknown strategy {self.strategy!r}; choose from {', '.join(EXTRACTORS)}")

    def with_(self, **changes: Any) -> Config:
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def redact_url(url: str, *, explicit_port: bool = False) -> str:
    """``scheme://host[:port]/path`` of a URL: user info, query and fragment dropped, scheme and host
    lower-cased, no trailing slash; ``explicit_port`` writes the scheme's default port too."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as e:
        raise ConfigError(f"the endpoint URL has an invalid port ({e})") from None  # the URL may hold a secret
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    if port is None and explicit_port:
        port = {"http": 80, "https": 443}.get(parts.scheme.lower())
    netloc = host if port is None else f"{host}:{port}"
    return f"{parts.scheme.lower()}://{netloc}{parts.path.rstrip('/')}"


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Build the configuration; the only place that reads environment variables."""
    env = os.environ if env is None else env
    if env.get(ENV_HOME):
        cache_root = Path(env[ENV_HOME])
    elif env.get(ENV_XDG_CACHE_HOME):
        cache_root = Path(env[ENV_XDG_CACHE_HOME]) / APP_NAME
    else:
        cache_root = DEFAULT_HOME
    config = Config(
        base_url=env.get(ENV_BASE_URL) or None,
        api_key=env.get(ENV_API_KEY) or None,
        cache_dir=Path(env[ENV_CACHE_DIR]) if env.get(ENV_CACHE_DIR) else cache_root / "responses",
        model_dir=cache_root / "models",
    )
    if env.get(ENV_MODEL):
        config = config.with_(model=env[ENV_MODEL])
    if env.get(ENV_PRICE):
        config = config.with_(price=Price.parse(env[ENV_PRICE]))
    if env.get(ENV_TIMEOUT):
        try:
            timeout = float(env[ENV_TIMEOUT])
        except ValueError:
            timeout = 0.0
        if not timeout > 0:
            raise ConfigError(f"{ENV_TIMEOUT}={env[ENV_TIMEOUT]!r}: give the seconds to wait for one answer, e.g. 180")
        config = config.with_(timeout_s=timeout)
    return config.with_(**overrides)

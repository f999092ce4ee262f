"""Run configuration: one frozen dataclass, built once from the environment and the command line."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

CachePolicy = Literal["default", "offline", "refresh"]

#: The embedded model's name as the llama.cpp server reports it.
EMBEDDED_MODEL = "qwen2.5-coder-1.5b-instruct"
#: Where responses and the assembled model live unless EXTRACT_HOME says otherwise.
DEFAULT_HOME = Path.home() / ".cache" / "extract"


@dataclass(frozen=True)
class GenerationParams:
    """Sampling parameters: all part of the cache key."""

    temperature: float = 0.0
    seed: int = 1234
    max_tokens: int = 2048

    def to_json(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens, "seed": self.seed, "temperature": self.temperature}


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
    max_retries: int = 4
    max_reasks: int = 1
    timeout_s: float = 900.0
    #: Send the schema as llama.cpp wants it (``json_object`` + ``schema``); None: when embedded.
    llama_cpp: bool | None = None
    server_threads: int | None = None
    n_ctx: int = 8192

    @property
    def embedded(self) -> bool:
        return self.base_url is None

    @property
    def llama_cpp_format(self) -> bool:
        return self.embedded if self.llama_cpp is None else self.llama_cpp

    def with_(self, **changes: Any) -> Config:
        """A copy with some fields changed (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_config(env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Build the configuration; the only place that reads environment variables."""
    env = os.environ if env is None else env
    cache_root = Path(env.get("EXTRACT_HOME") or DEFAULT_HOME)
    config = Config(
        base_url=env.get("EXTRACT_BASE_URL") or None,
        api_key=env.get("OPENAI_API_KEY") or None,
        cache_dir=Path(env["EXTRACT_CACHE_DIR"]) if env.get("EXTRACT_CACHE_DIR") else cache_root / "responses",
        model_dir=cache_root / "models",
    )
    if env.get("EXTRACT_MODEL"):
        config = config.with_(model=env["EXTRACT_MODEL"])
    return config.with_(**overrides)

"""The exception hierarchy (one root, one subclass per failure kind, each with its context) and the exit codes."""

from __future__ import annotations

import os
from typing import Any

# The command line's exit codes, each kind of ending its own (listed in --help and the README).
EXIT_OK = 0
#: An ExtractError: one line on stderr.
EXIT_ERROR = 1
#: A usage error, as click reports it (unknown option, bad value, contradictory flags).
EXIT_USAGE = 2
#: ``extract run`` finished, but some calls failed (their articles are failed or partial in run.json).
EXIT_FAILED_CALLS = 3
#: ``extract compare --threshold``: the candidate is worse than the baseline by more than the threshold.
EXIT_REGRESSION = 4
#: Ctrl-C or SIGTERM (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130
#: Each code with its meaning, in the order --help lists them.
EXIT_CODES = {
    EXIT_OK: "done",
    EXIT_ERROR: "error (one line on stderr)",
    EXIT_USAGE: "usage error",
    EXIT_FAILED_CALLS: "a run with failed calls (listed in run.json)",
    EXIT_REGRESSION: "regression (compare --threshold)",
    EXIT_INTERRUPTED: "interrupted",
}


class ExtractError(Exception):
    """Root of every error this package raises on purpose; the CLI prints it as one line."""


class InputError(ExtractError):
    """A document, gold file, events file or snapshot cannot be read or is malformed."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else ""
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class ConfigError(ExtractError):
    """The configuration or the command line asks for something impossible."""


class ModelUnavailableError(ExtractError):
    """The embedded model or its server cannot be set up or started."""


class CacheMissError(ExtractError):
    """``--offline`` and the response is not cached."""

    def __init__(self, message: str, *, article_id: str, prompt: str, model: str, key: str) -> None:
        super().__init__(message)
        self.article_id = article_id
        self.prompt = prompt
        self.model = model
        self.key = key


class LLMError(ExtractError):
    """A call to the model failed (network, server error, invalid output) after all retries."""

    def __init__(
        self,
        message: str,
        *,
        article_id: str | None = None,
        attempts: int = 0,
        usage: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.article_id = article_id
        self.attempts = attempts
        self.usage = usage or {}


class ServerUnreachableError(LLMError):
    """The OpenAI-compatible endpoint does not answer at all."""


class EndpointDownError(ServerUnreachableError):
    """The endpoint timed out or refused ``failures`` attempts in a row: the run stops (and can resume).

    A ServerUnreachableError, so every caller that already stops the run on one lets it through.
    """

    def __init__(
        self,
        message: str,
        *,
        article_id: str | None = None,
        attempts: int = 0,
        usage: dict[str, Any] | None = None,
        endpoint: str,
        failures: int,
    ) -> None:
        super().__init__(message, article_id=article_id, attempts=attempts, usage=usage)
        self.endpoint = endpoint
        self.failures = failures


class InvalidOutputError(LLMError):
    """The model never produced output that validates against the schema.

    ``content`` is the last answer (a caller may salvage its complete parts); ``keys`` are the
    cache keys of every attempt, so the recorded responses can still be exported.
    """

    def __init__(
        self,
        message: str,
        *,
        article_id: str | None = None,
        attempts: int = 0,
        usage: dict[str, Any] | None = None,
        content: str | None = None,
        keys: list[str] | None = None,
    ) -> None:
        super().__init__(message, article_id=article_id, attempts=attempts, usage=usage)
        self.content = content
        self.keys = keys or []


class BatchError(ExtractError):
    """A batch results file holds lines that cannot be stored: unknown ids, failed requests, bad JSON.

    ``problems`` names each line; the good lines were stored all the same.
    """

    def __init__(self, message: str, *, path: str, problems: list[str]) -> None:
        super().__init__(message)
        self.path = path
        self.problems = problems


class RunStoppedError(ExtractError):
    """An error stopped a run part-way: its finished articles are kept in ``run_dir``, so the one
    line ends by saying how to go on (``extract run --resume``) instead of starting over."""

    def __init__(self, message: str, *, run_dir: str | os.PathLike[str], finished: int) -> None:
        super().__init__(
            f"{message.rstrip('; ')}; {finished} finished article(s) are kept in {run_dir}: "
            f"resume with `extract run --resume {run_dir}`"
        )
        self.run_dir = str(run_dir)
        self.finished = finished

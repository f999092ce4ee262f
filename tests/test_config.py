"""Configuration: read from the mapping it is given, overrides, secrets kept out of repr."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import platformdirs
import pytest

from extract.config import (
    DEFAULT_HOME,
    EMBEDDED_MODEL,
    ENV_XDG_CACHE_HOME,
    ENVIRONMENT,
    Config,
    GenerationParams,
    load_config,
)

ENV = {
    "OPENAI_API_KEY": "sk-test-SECRET-123456",
    "EXTRACT_BASE_URL": "http://127.0.0.1:9999/v1",
    "EXTRACT_CACHE_DIR": "/tmp/extract-test/cache",
    "EXTRACT_HOME": "/tmp/extract-test/home",
    "EXTRACT_MODEL": "gpt-test",
}


def test_reads_every_variable() -> None:
    config = load_config(ENV)
    assert config.api_key == "sk-test-SECRET-123456"
    assert config.base_url == "http://127.0.0.1:9999/v1"
    assert config.cache_dir == Path("/tmp/extract-test/cache")
    assert config.model_dir == Path("/tmp/extract-test/home/models")
    assert config.model == "gpt-test"
    assert not config.embedded


def test_home_sets_cache_dir_when_no_cache_dir() -> None:
    config = load_config({"EXTRACT_HOME": "/tmp/extract-test/home"})
    assert config.cache_dir == Path("/tmp/extract-test/home/responses")
    assert config.model_dir == Path("/tmp/extract-test/home/models")


def test_empty_mapping_gives_defaults() -> None:
    config = load_config({})
    assert config.api_key is None
    assert config.base_url is None
    assert config.embedded
    assert config.llama_cpp_format
    assert config.model == EMBEDDED_MODEL
    assert config.cache_dir == DEFAULT_HOME / "responses"
    assert config.model_dir == DEFAULT_HOME / "models"
    assert config.params == GenerationParams()


def test_default_home_is_the_platform_user_cache_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert DEFAULT_HOME == platformdirs.user_cache_path("extract")
    monkeypatch.delenv(ENV_XDG_CACHE_HOME, raising=False)
    assert load_config({}).cache_dir == platformdirs.user_cache_path("extract") / "responses"


def test_xdg_cache_home_is_read_from_the_given_mapping() -> None:
    config = load_config({"XDG_CACHE_HOME": "/tmp/xdg"})
    assert config.cache_dir == Path("/tmp/xdg/extract/responses")
    assert config.model_dir == Path("/tmp/xdg/extract/models")


def test_extract_variables_win_over_xdg_cache_home() -> None:
    config = load_config({"XDG_CACHE_HOME": "/tmp/xdg", "EXTRACT_HOME": "/tmp/home"})
    assert config.cache_dir == Path("/tmp/home/responses") and config.model_dir == Path("/tmp/home/models")
    config = load_config({"XDG_CACHE_HOME": "/tmp/xdg", "EXTRACT_CACHE_DIR": "/tmp/cache"})
    assert config.cache_dir == Path("/tmp/cache") and config.model_dir == Path("/tmp/xdg/extract/models")


class _Recording(dict):
    """A mapping that notes every key read from it."""

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def get(self, key: str, default: object = None) -> object:
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def test_the_variables_listed_for_help_are_exactly_those_read() -> None:
    for env in (_Recording(), _Recording({k: "" for k in ENVIRONMENT})):
        load_config(env)
        assert env.read == set(ENVIRONMENT)
    assert set(ENV) | {ENV_XDG_CACHE_HOME, "EXTRACT_PRICE", "EXTRACT_TIMEOUT"} == set(ENVIRONMENT)


def test_empty_strings_count_as_unset() -> None:
    config = load_config({k: "" for k in ENV})
    assert config == load_config({})


def test_overrides_win() -> None:
    config = load_config(
        ENV,
        model="other",
        base_url="http://localhost:1/v1",
        cache_dir=Path("/tmp/x"),
        concurrency=4,
        cache_policy="offline",
    )
    assert config.model == "other"
    assert config.base_url == "http://localhost:1/v1"
    assert config.cache_dir == Path("/tmp/x")
    assert config.concurrency == 4
    assert config.cache_policy == "offline"
    assert config.api_key == "sk-test-SECRET-123456"


def test_none_overrides_are_ignored() -> None:
    config = load_config(ENV, model=None, base_url=None, api_key=None, cache_dir=None, concurrency=None)
    assert config == load_config(ENV)


def test_api_key_not_in_repr() -> None:
    config = load_config(ENV)
    assert "sk-test-SECRET-123456" not in repr(config)
    assert "SECRET" not in str(config)
    assert "api_key" not in repr(config)


def test_config_is_frozen() -> None:
    config = load_config(ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.model = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.params.seed = 1  # type: ignore[misc]


def test_with_returns_a_copy() -> None:
    config = Config()
    changed = config.with_(model="m", llama_cpp=False, seed=None)
    assert changed.model == "m" and not changed.llama_cpp_format
    assert config.model == EMBEDDED_MODEL and config.llama_cpp_format


def test_generation_params_json() -> None:
    assert GenerationParams().to_json() == {"max_tokens": 2048, "seed": 1234, "temperature": 0.0}


def test_a_price_comes_from_the_environment_or_an_override_and_a_bad_one_is_a_config_error() -> None:
    from extract.config import Price
    from extract.errors import ConfigError

    assert load_config({}).price is None
    assert load_config({"EXTRACT_PRICE": "0.15,0.60"}).price == Price(0.15, 0.60)
    assert load_config({"EXTRACT_PRICE": "1,2"}, price=Price(3, 4)).price == Price(3, 4)
    for bad in ("abc", "1", "1,2,3", "-1,2"):
        with pytest.raises(ConfigError, match="price"):
            Price.parse(bad)

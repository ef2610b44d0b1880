"""Configuration, in one place.

Values come, highest priority first, from keyword arguments, ``LLMLOOP_*`` environment
variables, an optional TOML file (``LLMLOOP_CONFIG``, else ``./llmloop.toml``, else
``<data_dir>/llmloop.toml``) and the defaults below. A malformed value raises
:class:`~llmloop.errors.SettingsError` naming the variable and the value.
"""

from __future__ import annotations

import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any

import pydantic
from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from llmloop.errors import SettingsError

ENV_PREFIX = "LLMLOOP_"


def _default_data_dir() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "llmloop"


def _config_file() -> Path | None:
    explicit = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"{ENV_PREFIX}CONFIG={explicit!r}: no such file")
        return path
    candidates = [Path("llmloop.toml")]
    data_dir = os.environ.get(f"{ENV_PREFIX}DATA_DIR")
    candidates.append(
        Path(data_dir).expanduser() / "llmloop.toml"
        if data_dir
        else _default_data_dir() / "llmloop.toml"
    )
    return next((p for p in candidates if p.is_file()), None)


class Settings(BaseSettings):
    """All settings. Environment variable names are ``LLMLOOP_`` + the field name in caps."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Local files and the SQLite database."
    )
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<data_dir>/llmloop.db"
    )
    server_url: str | None = Field(
        default=None, description="Talk to this llmloop server instead of a local store."
    )
    api_key: str | None = Field(
        default=None, description="Bearer key used by the SDK and CLI against a server."
    )
    project: str = Field(default="default", description="Project used by the SDK and CLI.")

    host: str = "127.0.0.1"
    port: int = Field(default=8642, ge=1, le=65535)
    max_request_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    auto_migrate: bool = Field(default=True, description="Apply migrations when a store opens.")

    default_chat_model: str = "local/ticket-assistant"
    default_embedding_model: str = "local/embed"

    openai_base_url: str | None = None
    openai_api_key: str | None = None
    anthropic_api_key: str | None = None
    prices_file: Path | None = Field(
        default=None, description="TOML/JSON price overrides per model."
    )

    request_timeout_s: float = Field(default=60.0, gt=0)
    max_retries: int = Field(default=3, ge=0, le=20)

    gateway_requests_per_minute: int | None = Field(default=None, gt=0)
    gateway_tokens_per_minute: int | None = Field(default=None, gt=0)
    gateway_cost_per_day: float | None = Field(default=None, gt=0)
    redis_url: str | None = None
    gateway_cache_ttl_s: float | None = Field(
        default=None, gt=0, description="Exact-match response cache TTL; unset: no cache."
    )
    gateway_breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive upstream failures that open its circuit."
    )
    gateway_breaker_cooldown_s: float = Field(
        default=30.0, gt=0, description="Seconds an open circuit waits before a probe."
    )
    gateway_retry_backoff_s: float = Field(
        default=0.25, ge=0, description="First retry delay of the gateway; doubles per retry."
    )
    gateway_auth_ttl_s: float = Field(
        default=5.0, ge=0, le=60, description="How long the gateway caches a key lookup."
    )

    feedback_allowed_origins: str = Field(
        default="*",
        description="Browser origins (comma-separated, or *) that may send end-user feedback.",
    )
    feedback_per_minute: int = Field(
        default=120, ge=0, description="Feedback requests per key and client address; 0: no limit."
    )

    policy_interval_s: float = Field(
        default=30.0, ge=0, description="Seconds between deployment policy runs; 0: never."
    )

    trace_retention_days: int = Field(
        default=0, ge=0, description="Delete traces older than this many days; 0: keep forever."
    )

    log_level: str = "INFO"

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return upper

    @field_validator("server_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'llmloop.db'}"


def _describe(error: dict[str, Any], overrides: dict[str, Any]) -> str:
    field = str(error["loc"][0]) if error.get("loc") else "?"
    var = ENV_PREFIX + field.upper()
    value = overrides.get(field, os.environ.get(var, error.get("input")))
    return f"{var}={value!r}: {error['msg']}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, the TOML file and ``overrides``."""
    try:
        return Settings(**overrides)
    except pydantic.ValidationError as exc:
        problems = "; ".join(_describe(e, overrides) for e in exc.errors())  # type: ignore[arg-type]
        raise SettingsError(f"invalid setting: {problems}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {_config_file()} is not valid TOML: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()

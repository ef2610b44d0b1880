"""Settings: defaults, environment, TOML file, and errors naming the variable and value."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmloop.errors import SettingsError
from llmloop.settings import Settings, get_settings, load_settings


def test_tests_never_use_the_real_data_dir(_isolated_environment: Path) -> None:
    settings = get_settings()
    assert settings.data_dir == _isolated_environment / "data"
    assert settings.data_dir != Path.home() / ".local" / "share" / "llmloop"
    assert os.environ["LLMLOOP_CONFIG"] == str(_isolated_environment / "empty-config.toml")
    assert settings.resolved_database_url == (
        f"sqlite:///{_isolated_environment / 'data' / 'llmloop.db'}"
    )


def test_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LLMLOOP_DATA_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    settings = load_settings()
    assert settings.data_dir == tmp_path / "xdg" / "llmloop"
    assert settings.database_url is None
    assert (
        settings.resolved_database_url == f"sqlite:///{tmp_path / 'xdg' / 'llmloop' / 'llmloop.db'}"
    )
    assert settings.host == "127.0.0.1"
    assert settings.port == 8642
    assert settings.project == "default"
    assert settings.max_request_bytes == 10 * 1024 * 1024
    assert settings.auto_migrate is True
    assert settings.server_url is None
    assert settings.log_level == "INFO"


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_PORT", "9001")
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", "postgresql+psycopg://db.internal/llmloop")
    monkeypatch.setenv("LLMLOOP_AUTO_MIGRATE", "false")
    monkeypatch.setenv("LLMLOOP_SERVER_URL", "https://llmloop.example.com/")
    monkeypatch.setenv("LLMLOOP_LOG_LEVEL", "debug")
    monkeypatch.setenv("LLMLOOP_GATEWAY_COST_PER_DAY", "12.5")

    settings = load_settings()

    assert settings.data_dir == tmp_path
    assert settings.port == 9001
    assert settings.resolved_database_url == "postgresql+psycopg://db.internal/llmloop"
    assert settings.auto_migrate is False
    assert settings.server_url == "https://llmloop.example.com"
    assert settings.log_level == "DEBUG"
    assert settings.gateway_cost_per_day == 12.5
    assert get_settings().port == 9001


def test_keyword_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMLOOP_PORT", "9001")
    assert load_settings(port=9002).port == 9002
    assert Settings(port=9003).port == 9003


def test_toml_file_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "conf.toml"
    config.write_text('port = 9100\nproject = "support"\nmax_retries = 7\n')
    monkeypatch.setenv("LLMLOOP_CONFIG", str(config))
    monkeypatch.setenv("LLMLOOP_MAX_RETRIES", "2")

    settings = load_settings()

    assert settings.port == 9100
    assert settings.project == "support"
    assert settings.max_retries == 2


def test_toml_file_in_the_data_dir_is_found(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("LLMLOOP_CONFIG")
    monkeypatch.chdir(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "llmloop.toml").write_text('project = "from-data-dir"\n')
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(data_dir))
    assert load_settings().project == "from-data-dir"

    (tmp_path / "llmloop.toml").write_text('project = "from-cwd"\n')
    assert load_settings().project == "from-cwd"


def test_missing_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("LLMLOOP_CONFIG", str(missing))
    with pytest.raises(SettingsError, match=f"LLMLOOP_CONFIG='{missing}': no such file"):
        load_settings()


def test_malformed_toml_is_an_error_naming_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "broken.toml"
    config.write_text("port = = 1\n")
    monkeypatch.setenv("LLMLOOP_CONFIG", str(config))
    with pytest.raises(SettingsError, match=f"config file {config} is not valid TOML"):
        load_settings()


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("LLMLOOP_PORT", "abc", "valid integer"),
        ("LLMLOOP_PORT", "70000", "less than or equal to 65535"),
        ("LLMLOOP_SERVER_URL", "ftp://x", "must start with http:// or https://"),
        ("LLMLOOP_LOG_LEVEL", "loud", "must be one of DEBUG"),
        ("LLMLOOP_AUTO_MIGRATE", "perhaps", "valid boolean"),
        ("LLMLOOP_MAX_REQUEST_BYTES", "0", "greater than 0"),
    ],
)
def test_malformed_value_names_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert f"{variable}={value!r}" in message
    assert problem in message
    assert info.value.code == "invalid_setting"


def test_several_malformed_values_are_all_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMLOOP_PORT", "abc")
    monkeypatch.setenv("LLMLOOP_SERVER_URL", "ftp://x")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "LLMLOOP_PORT='abc'" in str(info.value)
    assert "LLMLOOP_SERVER_URL='ftp://x'" in str(info.value)


def test_get_settings_is_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    first = get_settings()
    monkeypatch.setenv("LLMLOOP_PORT", "9500")
    assert get_settings() is first
    get_settings.cache_clear()
    assert get_settings().port == 9500


@given(st.integers(min_value=-(10**6), max_value=10**6))
def test_port_is_accepted_exactly_in_range(port: int) -> None:
    assert "LLMLOOP_PORT" not in os.environ
    if 1 <= port <= 65535:
        assert load_settings(port=str(port)).port == port
    else:
        with pytest.raises(SettingsError, match=f"LLMLOOP_PORT='{port}'"):
            load_settings(port=str(port))

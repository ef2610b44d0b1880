"""The CLI: readable tables, ``--json`` everywhere, errors that exit non-zero."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmloop.cli.main import main
from llmloop.store.migrate import head_revision
from support import LiveServer, Tenant


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> None:
    monkeypatch.setenv("LLMLOOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", db_url)


@pytest.mark.usefixtures("local_env")
def test_local_projects_and_keys(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "projects", "list", "--json")
    assert code == 0
    assert [p["name"] for p in json.loads(out)] == ["default"]

    code, out, _ = run(capsys, "keys", "create", "ci", "--role", "editor", "--json")
    assert code == 0
    created = json.loads(out)
    assert created["key"]["role"] == "editor" and created["secret"].startswith("llk_")

    code, out, _ = run(capsys, "keys", "list")
    assert code == 0 and "ci" in out and "editor" in out and created["secret"] not in out

    code, out, _ = run(capsys, "keys", "revoke", created["key"]["id"], "--reason", "test", "--json")
    assert code == 0 and json.loads(out)["revoked_at"]


@pytest.mark.usefixtures("local_env")
def test_db_current_and_upgrade(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "db", "upgrade", "--json")
    assert code == 0 and json.loads(out)["to"] == head_revision()
    code, out, _ = run(capsys, "db", "current", "--json")
    assert code == 0 and json.loads(out)["up_to_date"] is True


@pytest.mark.usefixtures("local_env")
def test_errors_name_the_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "models", "chat", "nope/x", "hello")
    assert code == 1 and "unknown provider 'nope'" in err and "local" in err

    code, _, err = run(capsys, "keys", "create", "x", "--role", "superuser")
    assert code == 2 and "superuser" in err

    code, _, err = run(capsys, "keys", "revoke", "key_missing")
    assert code == 1 and "not found" in err


def test_bad_setting_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMLOOP_PORT", "eighty")
    code, _, err = run(capsys, "projects", "list")
    assert code == 1 and "LLMLOOP_PORT" in err and "eighty" in err


def test_bad_database_url_says_what_it_tried(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMLOOP_DATABASE_URL", "mysql://nobody@127.0.0.1/none")
    code, _, err = run(capsys, "projects", "list")
    assert code == 1 and "mysql://nobody@127.0.0.1/none" in err


def test_remote_mode(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    live_server: LiveServer,
    tenant: Tenant,
) -> None:
    monkeypatch.setenv("LLMLOOP_SERVER_URL", live_server.url)
    monkeypatch.setenv("LLMLOOP_API_KEY", tenant.secret("admin"))
    code, out, _ = run(capsys, "projects", "list", "--json")
    assert code == 0 and [p["name"] for p in json.loads(out)] == ["acme"]
    code, out, _ = run(capsys, "models", "list", "--json")
    assert code == 0 and "local/hashed-embed" in [m["id"] for m in json.loads(out)]

    monkeypatch.setenv("LLMLOOP_API_KEY", tenant.secret("viewer"))
    code, _, err = run(capsys, "keys", "create", "x")
    assert code == 1 and "admin" in err

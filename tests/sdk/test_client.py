"""The SDK behaves the same over the local store and against a server."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

import llmloop
from llmloop.embedded import ModelStore, TextModel
from llmloop.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    UnknownModelError,
    ValidationError,
)
from llmloop.records import Role
from llmloop.sdk.client import Client
from llmloop.settings import Settings
from support import LiveServer, Tenant

TEXTS = [
    "please refund my order",
    "i want my money back",
    "refund the charge please",
    "where is my parcel",
    "my package has not arrived",
    "the delivery is late again",
] * 5
LABELS = (["refund"] * 3 + ["shipping"] * 3) * 5


@pytest.fixture(params=["local", "remote"])
def sdk(
    request: pytest.FixtureRequest, settings: Settings, live_server: LiveServer, tenant: Tenant
) -> Iterator[Client]:
    """A client of project ``acme`` with an admin's rights, in either mode."""
    model = TextModel.train(TEXTS, LABELS, templates={"refund": "We will refund you."})
    ModelStore.for_data_dir(settings.data_dir).save("tiny", model)
    if request.param == "local":
        client = llmloop.connect(project="acme", settings=settings)
    else:
        client = llmloop.connect(live_server.url, api_key=tenant.secret("admin"), settings=settings)
    with client:
        yield client


def test_project_and_keys_round_trip(sdk: Client) -> None:
    assert sdk.projects.get().name == "acme"
    key, secret = sdk.keys.create("ci", role="editor")
    assert key.role is Role.editor and secret.startswith("llk_")
    assert "ci" in [k.name for k in sdk.keys.list()]
    revoked = sdk.keys.revoke(key.id, reason="rotated")
    assert revoked.revoked_at is not None
    assert "ci" not in [k.name for k in sdk.keys.list()]
    actions = [(e.action, e.object_id, e.reason) for e in sdk.audit.list(object_type="api_key")]
    assert ("key.revoke", key.id, "rotated") in actions
    assert ("key.create", key.id, None) in actions


def test_errors_are_the_same_types(sdk: Client) -> None:
    with pytest.raises(ValidationError, match="role"):
        sdk.keys.create("x", role="superuser")
    with pytest.raises(NotFoundError):
        sdk.keys.revoke("key_does_not_exist")
    with pytest.raises(UnknownModelError, match="known providers"):
        sdk.models.chat("nope/model", "hi")
    with pytest.raises(NotFoundError):
        sdk.projects.get("some-other-project")


def test_audit_as_dataframe(sdk: Client) -> None:
    sdk.keys.create("reporting")
    frame = sdk.audit.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert {"actor", "action", "object_id", "created_at"} <= set(frame.columns)
    assert "key.create" in set(frame["action"])


def test_models_chat_and_embed(sdk: Client) -> None:
    answer = sdk.models.chat("local/tiny", "could you refund my order")
    assert answer.extra["label"] == "refund"
    assert 0.5 < answer.extra["probability"] <= 1.0
    assert "refund" in answer.text.lower()
    vectors = sdk.models.embed("local/hashed-embed", ["where is my parcel", "refund please"])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert "local/hashed-embed" in [m.id for m in sdk.models.list()]


def test_remote_needs_a_key(live_server: LiveServer, settings: Settings) -> None:
    with pytest.raises(AuthenticationError, match="LLMLOOP_API_KEY"):
        llmloop.connect(live_server.url, settings=settings)
    with pytest.raises(AuthenticationError, match="invalid"):
        llmloop.connect(live_server.url, api_key="llk_wrong", settings=settings)


def test_remote_viewer_cannot_issue_keys(
    live_server: LiveServer, tenant: Tenant, settings: Settings
) -> None:
    with llmloop.connect(live_server.url, api_key=tenant.secret("viewer"), settings=settings) as c:
        assert c.projects.get().name == "acme"
        with pytest.raises(PermissionDeniedError, match="admin"):
            c.keys.create("sneaky", role="admin")


def test_revoking_twice_keeps_the_first_time(sdk: Client) -> None:
    key, _ = sdk.keys.create("temp")
    first = sdk.keys.revoke(key.id)
    second = sdk.keys.revoke(key.id)
    assert first.revoked_at == second.revoked_at

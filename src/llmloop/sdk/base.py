"""What every SDK operation is made of, and the bases of the per-feature API classes.

An operation is a :class:`Call`: its HTTP request and how to read the answer, written
once. A feature adds a module ``llmloop/sdk/<feature>.py`` with its calls and two thin
classes, one on :class:`SyncApi` and one on :class:`AsyncApi`, which the clients attach.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import pandas as pd
from pydantic import BaseModel, TypeAdapter

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)

    def request_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.json is not None:
            kwargs["json"] = self.json
        if self.params:
            kwargs["params"] = self.params
        return kwargs


def as_type(type_: Any) -> Callable[[Any], Any]:
    adapter = TypeAdapter(type_)
    return adapter.validate_python


def to_frame(items: Iterable[BaseModel]) -> pd.DataFrame:
    """A DataFrame with one row per item and one column per field."""
    return pd.DataFrame([item.model_dump(mode="python") for item in items])


class SyncRunner(Protocol):
    project: str

    def run(self, call: Call[T]) -> T: ...


class AsyncRunner(Protocol):
    project: str

    def run(self, call: Call[T]) -> Awaitable[T]: ...


class SyncApi:
    """Base of a feature's sync API: ``self._run(call)`` performs one operation."""

    def __init__(self, client: SyncRunner) -> None:
        self._client = client

    @property
    def _project(self) -> str:
        return self._client.project

    def _run(self, call: Call[T]) -> T:
        return self._client.run(call)


class AsyncApi:
    """Base of a feature's async API: ``await self._run(call)`` performs one operation."""

    def __init__(self, client: AsyncRunner) -> None:
        self._client = client

    @property
    def _project(self) -> str:
        return self._client.project

    async def _run(self, call: Call[T]) -> T:
        return await self._client.run(call)

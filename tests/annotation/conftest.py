"""Fixtures for annotation tests: a dataset of tickets in project ``acme``."""

from __future__ import annotations

import pytest

from llmloop.data.datasets import Datasets
from llmloop.records import Record
from llmloop.runtime import Runtime
from support import Tenant

INTENTS = ["refund", "shipping", "bug"]


def tickets(n: int = 6) -> list[Record]:
    return [
        Record(
            id=f"t{i}",
            inputs={"text": f"ticket number {i} about {INTENTS[i % 3]}"},
            expectations={"label": INTENTS[i % 3]},
            metadata={"lang": "en" if i % 2 else "de"},
        )
        for i in range(n)
    ]


@pytest.fixture
def acme_tickets(runtime: Runtime, tenant: Tenant) -> Tenant:
    data = Datasets(runtime.db, runtime.tenancy.audit)
    data.commit(tenant.project.id, "tickets", tickets(), actor="key:admin", create=True)
    return tenant

"""The wired-up application: settings, database, features and providers.

One :class:`Runtime` backs both the server and the local SDK, so the same code paths
serve a laptop script and a deployed server.
"""

from __future__ import annotations

from functools import cached_property

from llmloop.deployments.plans import DeploymentPlans
from llmloop.providers.registry import ProviderRegistry
from llmloop.settings import Settings, get_settings
from llmloop.store import Database, open_database
from llmloop.tenancy import Tenancy


class Runtime:
    def __init__(self, settings: Settings | None = None, *, db: Database | None = None) -> None:
        self.settings = settings or get_settings()
        self.db = db or open_database(
            self.settings.resolved_database_url, migrate=self.settings.auto_migrate
        )

    @cached_property
    def tenancy(self) -> Tenancy:
        return Tenancy(self.db)

    @cached_property
    def providers(self) -> ProviderRegistry:
        return ProviderRegistry(self.settings)

    @cached_property
    def deployment_plans(self) -> DeploymentPlans:
        """Route plans for ``deployment/<name>`` (the gateway's PlanSource), cached."""
        return DeploymentPlans(self.db)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

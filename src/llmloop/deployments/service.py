"""The deployments feature's rules: versions, stages, promotion, rollback and routing.

A deployment is a named use case in one environment (``production`` and ``staging``
are separate deployments with their own versions and pointers). Versions are immutable
and bind an existing prompt version. ``stable`` is the control version that serves
everything not split elsewhere; ``previous`` is where it was before the last promotion.
Promote, rollback, split, alias and policy changes are pointer or policy moves written
to the audit log, with the reason, in the same transaction as the move.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from llmloop.errors import ConflictError, NotFoundError, ValidationError
from llmloop.prompts.service import Prompts
from llmloop.records import Frozen, utcnow
from llmloop.store import AuditRepository, Database
from llmloop.store.deployments import (
    Deployment,
    DeploymentAlias,
    DeploymentRepository,
    DeploymentVersion,
    PolicyConfig,
    RoutingPolicy,
    SplitArm,
)
from llmloop.store.prompts import PromptVersion

DEFAULT_ENVIRONMENT = "production"
STABLE = "stable"
PREVIOUS = "previous"
RESERVED_ALIASES = (STABLE, PREVIOUS)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
ENV_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
NUMBER_REF = re.compile(r"^v(\d+)$")
MODEL_REF = re.compile(r"^[A-Za-z0-9_.-]+/\S+$")

OnChange = Callable[[str], None]
WRITE_ATTEMPTS = 3


class VersionSpec(Frozen):
    """What a new deployment version binds."""

    prompt: str | None = Field(default=None, description="Prompt name; none: messages pass.")
    prompt_version: str = Field(
        default="latest", description="Label, number (v2) or id (pv_…), resolved now."
    )
    model: str = Field(min_length=3, max_length=300, examples=["openai/gpt-4o-mini"])
    params: dict[str, Any] = Field(default_factory=dict)
    guardrails: dict[str, Any] = Field(default_factory=dict)
    fallbacks: list[str] = Field(default_factory=list, max_length=10)
    fallback_on_refusal: bool = False
    message: str = Field(default="", max_length=2000)


class ArmWeight(Frozen):
    version: str = Field(min_length=1, description="Alias, number (v2) or id (dpv_…).")
    weight: float = Field(gt=0, le=1_000_000)


class DeploymentSummary(Frozen):
    deployment: Deployment
    versions: int
    stable: DeploymentVersion | None = None
    aliases: list[DeploymentAlias] = Field(default_factory=list)
    arms: dict[str, float] = Field(
        default_factory=dict, description="Arm name (v3) -> share of traffic (0-1)."
    )
    shadow: str | None = None


class PointerMove(Frozen):
    """What a promote or rollback did."""

    action: Literal["promote", "rollback"]
    stable: DeploymentVersion
    previous: DeploymentVersion | None = None
    removed_arms: list[str] = Field(default_factory=list)
    reason: str


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        message = (
            f"deployment name {name!r} is invalid: use 1-100 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
        raise ValidationError(message, details=[{"field": "name", "message": message}])


def check_environment(environment: str) -> None:
    if not ENV_PATTERN.match(environment):
        message = (
            f"environment {environment!r} is invalid: use 1-64 lowercase letters, digits, "
            "'-', '_' or '.', starting with a letter (e.g. production, staging)"
        )
        raise ValidationError(message, details=[{"field": "environment", "message": message}])


def _check_model(ref: str, field: str) -> None:
    if not MODEL_REF.match(ref):
        message = f"{field} {ref!r} is not a model reference; use provider/name (openai/gpt-4o)"
        raise ValidationError(message, details=[{"field": field, "message": message}])


def _reason(reason: str | None, what: str) -> str:
    if reason is None or not reason.strip():
        raise ValidationError(
            f"a {what} needs a reason; it is recorded in the audit log",
            details=[{"field": "reason", "message": "required"}],
        )
    return reason.strip()


class Deployments:
    """Deployments of one database. ``on_change(project_id)`` runs after every write."""

    def __init__(
        self, db: Database, audit: AuditRepository, *, on_change: OnChange | None = None
    ) -> None:
        self.db = db
        self.repo = DeploymentRepository(db)
        self.audit = audit
        self.prompts = Prompts(db, audit)
        self._on_change = on_change

    def _changed(self, project_id: str) -> None:
        if self._on_change is not None:
            self._on_change(project_id)

    # ---------------------------------------------------------------- reading

    def get(self, project_id: str, name: str, environment: str | None = None) -> Deployment:
        return self.repo.get(project_id, name, environment or DEFAULT_ENVIRONMENT)

    def list(self, project_id: str, environment: str | None = None) -> list[DeploymentSummary]:
        return [self._summary(d) for d in self.repo.list(project_id, environment)]

    def summary(
        self, project_id: str, name: str, environment: str | None = None
    ) -> DeploymentSummary:
        return self._summary(self.get(project_id, name, environment))

    def _summary(self, deployment: Deployment) -> DeploymentSummary:
        versions = self.repo.versions(deployment.id)
        aliases = self.repo.aliases(deployment.id)
        by_id = {v.id: v for v in versions}
        stable_id = next((a.version_id for a in aliases if a.name == STABLE), None)
        stable = by_id.get(stable_id) if stable_id else None
        arms = traffic(deployment.routing, stable)
        shadow = deployment.routing.shadow_version_id
        return DeploymentSummary(
            deployment=deployment,
            versions=len(versions),
            stable=stable,
            aliases=aliases,
            arms={by_id[vid].label: arms[vid] for vid in _control_first(arms, stable, by_id)},
            shadow=by_id[shadow].label if shadow in by_id else None,
        )

    def versions(
        self, project_id: str, name: str, environment: str | None = None
    ) -> builtins.list[DeploymentVersion]:
        return self.repo.versions(self.get(project_id, name, environment).id)

    def version(
        self, project_id: str, name: str, ref: str | None, environment: str | None = None
    ) -> DeploymentVersion:
        return self._resolve(self.get(project_id, name, environment), ref)

    def _resolve(self, deployment: Deployment, ref: str | None) -> DeploymentVersion:
        """A version by alias (default ``stable``), number (``v3``) or id (``dpv_…``)."""
        ref = (ref or STABLE).strip()
        found: DeploymentVersion | None
        if match := NUMBER_REF.match(ref):
            found = self.repo.version(deployment.id, number=int(match.group(1)))
        elif ref.startswith("dpv_"):
            found = self.repo.version(deployment.id, version_id=ref)
        else:
            alias = next((a for a in self.repo.aliases(deployment.id) if a.name == ref), None)
            found = (
                None
                if alias is None
                else self.repo.version(deployment.id, version_id=alias.version_id)
            )
        if found is None:
            raise NotFoundError(
                f"deployment {deployment.name!r} ({deployment.environment}) has no version "
                f"{ref!r}; give an alias (stable, previous, …), a number (v1) or an id (dpv_…)"
            )
        return found

    def prompt_version(self, project_id: str, version: DeploymentVersion) -> PromptVersion | None:
        if version.prompt_version_id is None:
            return None
        return self.prompts.version_by_id(project_id, version.prompt_version_id)

    # ---------------------------------------------------------------- writing

    def create(
        self,
        project_id: str,
        name: str,
        environment: str | None = None,
        description: str = "",
        *,
        actor: str,
    ) -> Deployment:
        environment = environment or DEFAULT_ENVIRONMENT
        check_name(name)
        check_environment(environment)
        with self.db.begin() as conn:
            deployment = self._create(conn, project_id, name, environment, description, actor)
        self._changed(project_id)
        return deployment

    def _create(
        self,
        conn: Connection,
        project_id: str,
        name: str,
        environment: str,
        description: str,
        actor: str,
    ) -> Deployment:
        deployment = self.repo.create(project_id, name, environment, description, conn=conn)
        self.audit.record(
            project_id,
            actor=actor,
            action="deployment.create",
            object_type="deployment",
            object_id=deployment.id,
            data={"name": name, "environment": environment},
            conn=conn,
        )
        return deployment

    def create_version(
        self,
        project_id: str,
        name: str,
        spec: VersionSpec,
        *,
        actor: str,
        environment: str | None = None,
        create: bool = False,
    ) -> DeploymentVersion:
        """Add an immutable version; the first one becomes ``stable``.

        The prompt version is resolved now (a label is followed once, not later) and must
        exist; otherwise nothing is written and the error names the field.
        """
        environment = environment or DEFAULT_ENVIRONMENT
        check_environment(environment)
        _check_model(spec.model, "model")
        for i, fallback in enumerate(spec.fallbacks):
            _check_model(fallback, f"fallbacks[{i}]")
        prompt_version_id = self._bind_prompt(project_id, spec)
        values = spec.model_dump(exclude={"prompt", "prompt_version"})
        values["prompt_version_id"] = prompt_version_id
        for attempt in range(WRITE_ATTEMPTS):
            try:
                version = self._add_version(
                    project_id, name, environment, spec, values, actor, create
                )
                break
            except (IntegrityError, ConflictError):  # a concurrent writer won the race
                if attempt == WRITE_ATTEMPTS - 1:
                    raise ConflictError(
                        f"deployment {name!r} is being changed concurrently; retry"
                    ) from None
        self._changed(project_id)
        return version

    def _add_version(
        self,
        project_id: str,
        name: str,
        environment: str,
        spec: VersionSpec,
        values: dict[str, Any],
        actor: str,
        create: bool,
    ) -> DeploymentVersion:
        prompt_version_id = values["prompt_version_id"]
        with self.db.begin() as conn:
            deployment = self.repo.find(project_id, name, environment, conn=conn)
            if deployment is None:
                if not create:
                    raise NotFoundError(
                        f"deployment {name!r} not found in environment {environment!r}; "
                        "create it first or pass create=true"
                    )
                check_name(name)
                deployment = self._create(conn, project_id, name, environment, "", actor)
            version = self.repo.add_version(deployment.id, values, actor=actor, conn=conn)
            self.audit.record(
                project_id,
                actor=actor,
                action="deployment.version",
                object_type="deployment",
                object_id=deployment.id,
                reason=spec.message or None,
                conn=conn,
                data={
                    "version": version.label,
                    "version_id": version.id,
                    "model": spec.model,
                    "prompt_version_id": prompt_version_id,
                    "environment": environment,
                },
            )
            if version.number == 1:
                self._set_alias(conn, deployment, STABLE, version, actor, "first version")
        return version

    def _bind_prompt(self, project_id: str, spec: VersionSpec) -> str | None:
        if spec.prompt is None:
            return None
        try:
            return self.prompts.version(project_id, spec.prompt, spec.prompt_version).id
        except NotFoundError as exc:
            raise ValidationError(
                f"cannot bind the deployment version: {exc.message}",
                details=[
                    {
                        "field": "prompt_version" if "version" in exc.message else "prompt",
                        "message": exc.message,
                    }
                ],
            ) from None

    def _set_alias(
        self,
        conn: Connection,
        deployment: Deployment,
        alias: str,
        version: DeploymentVersion,
        actor: str,
        reason: str | None,
        action: str = "deployment.alias",
    ) -> str | None:
        _, before = self.repo.set_alias(deployment.id, alias, version.id, actor=actor, conn=conn)
        self.audit.record(
            deployment.project_id,
            actor=actor,
            action=action,
            object_type="deployment",
            object_id=deployment.id,
            reason=reason,
            conn=conn,
            data={
                "alias": alias,
                "version": version.label,
                "version_id": version.id,
                "from_version_id": before,
                "environment": deployment.environment,
            },
        )
        return before

    def move_alias(
        self,
        project_id: str,
        name: str,
        alias: str,
        ref: str,
        *,
        actor: str,
        reason: str | None = None,
        environment: str | None = None,
    ) -> DeploymentAlias:
        if alias in RESERVED_ALIASES:
            raise ValidationError(
                f"{alias!r} moves with promote and rollback; use those, or another alias name"
            )
        if not ENV_PATTERN.match(alias) or NUMBER_REF.match(alias):
            raise ValidationError(
                f"alias {alias!r} is invalid: use lowercase letters, digits, '-', '_' or '.', "
                "starting with a letter, and not shaped like a version ('v3')"
            )
        deployment = self.get(project_id, name, environment)
        version = self._resolve(deployment, ref)
        with self.db.begin() as conn:
            self._set_alias(conn, deployment, alias, version, actor, reason)
        self._changed(project_id)
        return next(a for a in self.repo.aliases(deployment.id) if a.name == alias)

    def promote(
        self,
        project_id: str,
        name: str,
        ref: str,
        *,
        actor: str,
        reason: str | None,
        environment: str | None = None,
    ) -> PointerMove:
        """Make ``ref`` the stable version: all traffic goes to it, the split is cleared."""
        why = _reason(reason, "promotion")
        deployment = self.get(project_id, name, environment)
        version = self._resolve(deployment, ref)
        stable = self._stable(deployment)
        if stable is not None and stable.id == version.id and not deployment.routing.split:
            raise ValidationError(f"{version.label} is already stable and serves all traffic")
        removed = self._arm_labels(deployment, exclude=version.id)
        with self.db.begin() as conn:
            self._set_alias(conn, deployment, STABLE, version, actor, why, "deployment.promote")
            if stable is not None and stable.id != version.id:
                self._set_alias(conn, deployment, PREVIOUS, stable, actor, why)
            self._write_routing(conn, deployment, [], actor, why)
        self._changed(project_id)
        return PointerMove(
            action="promote", stable=version, previous=stable, removed_arms=removed, reason=why
        )

    def rollback(
        self,
        project_id: str,
        name: str,
        *,
        actor: str,
        reason: str | None,
        to: str | None = None,
        canary: str | None = None,
        environment: str | None = None,
    ) -> PointerMove:
        """Undo a change by moving pointers back.

        With a split in place and no ``to``: stop the canary arms (``canary`` alone, or all
        arms but stable); traffic returns to stable. Otherwise ``stable`` moves to ``to``
        (default: ``previous``).
        """
        why = _reason(reason, "rollback")
        deployment = self.get(project_id, name, environment)
        stable = self._stable(deployment)
        if stable is None:
            raise ValidationError(f"deployment {name!r} has no stable version to roll back")
        if to is None and self._arm_labels(deployment, exclude=stable.id):
            return self._stop_canary(deployment, stable, canary, actor, why)
        if to is None and not any(a.name == PREVIOUS for a in self.repo.aliases(deployment.id)):
            raise ValidationError(
                f"deployment {name!r} has no previous version and no canary to roll back; "
                "name the version to go back to"
            )
        target = self._resolve(deployment, to or PREVIOUS)
        if target.id == stable.id:
            raise ValidationError(f"{target.label} is already the stable version")
        with self.db.begin() as conn:
            self._set_alias(conn, deployment, STABLE, target, actor, why, "deployment.rollback")
            self._set_alias(conn, deployment, PREVIOUS, stable, actor, why)
            self._write_routing(conn, deployment, [], actor, why)
        self._changed(project_id)
        return PointerMove(action="rollback", stable=target, previous=stable, reason=why)

    def _stop_canary(
        self,
        deployment: Deployment,
        stable: DeploymentVersion,
        canary: str | None,
        actor: str,
        why: str,
    ) -> PointerMove:
        split = deployment.routing.split
        if canary is not None:
            drop = {self._resolve(deployment, canary).id}
            if not drop & {a.version_id for a in split}:
                raise ValidationError(f"{canary!r} receives no traffic; nothing to roll back")
        else:
            drop = {a.version_id for a in split if a.version_id != stable.id}
        kept = [a for a in split if a.version_id not in drop]
        if len(kept) == 1 and kept[0].version_id == stable.id:
            kept = []
        labels = {v.id: v.label for v in self.repo.versions(deployment.id)}
        removed = sorted(labels[v] for v in drop if v in labels)
        with self.db.begin() as conn:
            self._write_routing(conn, deployment, kept, actor, why)
            self.audit.record(
                deployment.project_id,
                actor=actor,
                action="deployment.rollback",
                object_type="deployment",
                object_id=deployment.id,
                reason=why,
                conn=conn,
                data={
                    "removed_arms": removed,
                    "stable": stable.label,
                    "environment": deployment.environment,
                },
            )
        self._changed(deployment.project_id)
        return PointerMove(action="rollback", stable=stable, removed_arms=removed, reason=why)

    def set_routing(
        self,
        project_id: str,
        name: str,
        split: Sequence[ArmWeight],
        *,
        actor: str,
        reason: str | None = None,
        sticky_by: str | None = None,
        shadow: str | None = None,
        environment: str | None = None,
    ) -> DeploymentSummary:
        """Replace the weighted split (and sticky key and shadow) of a deployment."""
        deployment = self.get(project_id, name, environment)
        if sticky_by not in (None, "user", "session"):
            raise ValidationError(f"sticky_by must be 'user' or 'session', got {sticky_by!r}")
        arms: list[SplitArm] = []
        for i, item in enumerate(split):
            try:
                version = self._resolve(deployment, item.version)
            except NotFoundError as exc:
                raise ValidationError(
                    exc.message, details=[{"field": f"split[{i}].version", "message": exc.message}]
                ) from None
            if any(a.version_id == version.id for a in arms):
                raise ValidationError(f"{version.label} appears twice in the split")
            arms.append(SplitArm(version_id=version.id, weight=item.weight))
        shadow_id = None if shadow is None else self._resolve(deployment, shadow).id
        with self.db.begin() as conn:
            routing = RoutingPolicy(
                split=arms,
                sticky_by=sticky_by,
                shadow_version_id=shadow_id,
                updated_by=actor,
                updated_at=utcnow(),
                reason=reason,
            )
            self.repo.update(deployment.id, routing=routing.model_dump(mode="json"), conn=conn)
            labels = {v.id: v.label for v in self.repo.versions(deployment.id)}
            self.audit.record(
                project_id,
                actor=actor,
                action="deployment.split",
                object_type="deployment",
                object_id=deployment.id,
                reason=reason,
                conn=conn,
                data={
                    "split": {labels[a.version_id]: a.weight for a in arms},
                    "sticky_by": sticky_by,
                    "shadow": labels.get(shadow_id or ""),
                    "environment": deployment.environment,
                },
            )
        self._changed(project_id)
        return self.summary(project_id, name, deployment.environment)

    def set_policy(
        self,
        project_id: str,
        name: str,
        policy: PolicyConfig,
        *,
        actor: str,
        reason: str | None = None,
        environment: str | None = None,
    ) -> Deployment:
        deployment = self.get(project_id, name, environment)
        with self.db.begin() as conn:
            self.repo.update(deployment.id, policy=policy.model_dump(mode="json"), conn=conn)
            self.audit.record(
                project_id,
                actor=actor,
                action="deployment.policy",
                object_type="deployment",
                object_id=deployment.id,
                reason=reason,
                conn=conn,
                data={**policy.model_dump(mode="json"), "environment": deployment.environment},
            )
        self._changed(project_id)
        return self.get(project_id, name, deployment.environment)

    # ---------------------------------------------------------------- helpers

    def _stable(self, deployment: Deployment) -> DeploymentVersion | None:
        alias = next((a for a in self.repo.aliases(deployment.id) if a.name == STABLE), None)
        return (
            None if alias is None else self.repo.version(deployment.id, version_id=alias.version_id)
        )

    def _arm_labels(self, deployment: Deployment, *, exclude: str) -> builtins.list[str]:
        ids = [a.version_id for a in deployment.routing.split if a.version_id != exclude]
        labels = {v.id: v.label for v in self.repo.versions(deployment.id)} if ids else {}
        return sorted(labels[i] for i in ids if i in labels)

    def _write_routing(
        self,
        conn: Connection,
        deployment: Deployment,
        split: builtins.list[SplitArm],
        actor: str,
        reason: str,
    ) -> None:
        old = deployment.routing
        routing = RoutingPolicy(
            split=split,
            sticky_by=old.sticky_by,
            shadow_version_id=old.shadow_version_id,
            updated_by=actor,
            updated_at=utcnow(),
            reason=reason,
        )
        self.repo.update(deployment.id, routing=routing.model_dump(mode="json"), conn=conn)


def traffic(routing: RoutingPolicy, stable: DeploymentVersion | None) -> dict[str, float]:
    """Version id -> share of traffic (summing to 1); the stable version when no split."""
    if routing.split:
        total = sum(a.weight for a in routing.split)
        return {a.version_id: a.weight / total for a in routing.split}
    return {} if stable is None else {stable.id: 1.0}


def _control_first(
    shares: dict[str, float], stable: DeploymentVersion | None, by_id: dict[str, DeploymentVersion]
) -> list[str]:
    """Version ids with a share: stable first, then by version number."""
    known = [vid for vid in shares if vid in by_id]
    return sorted(known, key=lambda vid: (stable is None or vid != stable.id, by_id[vid].number))

"""Deployments: versions, stages, promote and rollback, routing, policies, A/B results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from llmloop.deployments.analysis import ABReport, analyse
from llmloop.deployments.plans import plan_summary
from llmloop.deployments.policies import PolicyAction, evaluate_policies
from llmloop.deployments.service import (
    ArmWeight,
    Deployments,
    DeploymentSummary,
    PointerMove,
    VersionSpec,
)
from llmloop.runtime import Runtime
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.deployments import Deployment, DeploymentAlias, DeploymentVersion, PolicyConfig

router = APIRouter(tags=["deployments"])
BASE = "/projects/{project}/deployments"
DEPLOYMENT = BASE + "/{deployment}"


def deployments_of(runtime: Runtime) -> Deployments:
    """The feature wired so that every write drops this process's cached route plans."""
    return Deployments(
        runtime.db, runtime.tenancy.audit, on_change=runtime.deployment_plans.invalidate
    )


def get_deployments(runtime: RuntimeDep) -> Deployments:
    return deployments_of(runtime)


DeploymentsDep = Annotated[Deployments, Depends(get_deployments)]
Environment = Annotated[
    str, Query(min_length=1, max_length=64, description="Environment (default production).")
]


class DeploymentCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["ticket-triage"])
    environment: str = Field(default="production", min_length=1, max_length=64)
    description: str = Field(default="", max_length=5000)


class VersionCreate(VersionSpec):
    create: bool = Field(default=False, description="Create the deployment when missing.")


class Move(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="Recorded in the audit log.")


class Promote(Move):
    version: str = Field(min_length=1, description="Alias, number (v2) or id (dpv_…).")


class Rollback(Move):
    to: str | None = Field(default=None, description="Version to go back to (default previous).")
    canary: str | None = Field(default=None, description="Only stop this canary arm.")


class RoutingBody(BaseModel):
    split: list[ArmWeight] = Field(
        default_factory=list, max_length=20, description="Empty: everything to stable."
    )
    sticky_by: Literal["user", "session"] | None = None
    shadow: str | None = None
    reason: str | None = Field(default=None, max_length=2000)


class AliasMove(BaseModel):
    version: str = Field(min_length=1)
    reason: str | None = Field(default=None, max_length=2000)


class PolicyBody(PolicyConfig):
    reason: str | None = Field(default=None, max_length=2000)


@router.get(BASE, summary="Deployments with their stable version and traffic split.")
def list_deployments(
    project: ProjectDep,
    _: Viewer,
    deployments: DeploymentsDep,
    environment: Annotated[str | None, Query(max_length=64)] = None,
) -> list[DeploymentSummary]:
    return deployments.list(project.id, environment)


@router.post(BASE, status_code=201, summary="Create a deployment in an environment.")
def create_deployment(
    body: DeploymentCreate, project: ProjectDep, principal: Editor, deployments: DeploymentsDep
) -> DeploymentSummary:
    deployments.create(
        project.id, body.name, body.environment, body.description, actor=principal.actor
    )
    return deployments.summary(project.id, body.name, body.environment)


@router.get(DEPLOYMENT, summary="A deployment with its stable version, aliases and split.")
def get_deployment(
    deployment: str,
    project: ProjectDep,
    _: Viewer,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> DeploymentSummary:
    return deployments.summary(project.id, deployment, environment)


@router.get(DEPLOYMENT + "/versions", summary="Versions, newest first.")
def list_versions(
    deployment: str,
    project: ProjectDep,
    _: Viewer,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> list[DeploymentVersion]:
    return deployments.versions(project.id, deployment, environment)


@router.post(DEPLOYMENT + "/versions", status_code=201, summary="Add an immutable version.")
def create_version(
    deployment: str,
    body: VersionCreate,
    project: ProjectDep,
    principal: Editor,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> DeploymentVersion:
    spec = VersionSpec(**body.model_dump(exclude={"create"}))
    return deployments.create_version(
        project.id,
        deployment,
        spec,
        actor=principal.actor,
        environment=environment,
        create=body.create,
    )


@router.get(DEPLOYMENT + "/versions/{version}", summary="A version by alias, number or id.")
def get_version(
    deployment: str,
    version: str,
    project: ProjectDep,
    _: Viewer,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> DeploymentVersion:
    return deployments.version(project.id, deployment, version, environment)


@router.post(DEPLOYMENT + "/promote", summary="Make a version stable (audited with the reason).")
def promote(
    deployment: str,
    body: Promote,
    project: ProjectDep,
    principal: Editor,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> PointerMove:
    return deployments.promote(
        project.id,
        deployment,
        body.version,
        actor=principal.actor,
        reason=body.reason,
        environment=environment,
    )


@router.post(DEPLOYMENT + "/rollback", summary="Stop a canary, or move stable back.")
def rollback(
    deployment: str,
    body: Rollback,
    project: ProjectDep,
    principal: Editor,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> PointerMove:
    return deployments.rollback(
        project.id,
        deployment,
        actor=principal.actor,
        reason=body.reason,
        to=body.to,
        canary=body.canary,
        environment=environment,
    )


@router.put(DEPLOYMENT + "/routing", summary="Set the weighted split, sticky key and shadow.")
def set_routing(
    deployment: str,
    body: RoutingBody,
    project: ProjectDep,
    principal: Editor,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> DeploymentSummary:
    return deployments.set_routing(
        project.id,
        deployment,
        body.split,
        actor=principal.actor,
        reason=body.reason,
        sticky_by=body.sticky_by,
        shadow=body.shadow,
        environment=environment,
    )


@router.put(DEPLOYMENT + "/aliases/{alias}", summary="Move a custom alias (audited).")
def move_alias(
    deployment: str,
    alias: str,
    body: AliasMove,
    project: ProjectDep,
    principal: Editor,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> DeploymentAlias:
    return deployments.move_alias(
        project.id,
        deployment,
        alias,
        body.version,
        actor=principal.actor,
        reason=body.reason,
        environment=environment,
    )


@router.put(DEPLOYMENT + "/policy", summary="Set automatic rollback/promotion (audited).")
def set_policy(
    deployment: str,
    body: PolicyBody,
    project: ProjectDep,
    principal: Editor,
    deployments: DeploymentsDep,
    environment: Environment = "production",
) -> Deployment:
    policy = PolicyConfig(**body.model_dump(exclude={"reason"}))
    return deployments.set_policy(
        project.id,
        deployment,
        policy,
        actor=principal.actor,
        reason=body.reason,
        environment=environment,
    )


@router.get(DEPLOYMENT + "/ab", summary="A/B statistics of the arms against the control.")
def ab_report(
    deployment: str,
    project: ProjectDep,
    _: Viewer,
    deployments: DeploymentsDep,
    environment: Environment = "production",
    since: Annotated[datetime | None, Query(description="Default: when the split was set.")] = None,
    alpha: Annotated[float | None, Query(gt=0, lt=0.5)] = None,
) -> ABReport:
    found = deployments.get(project.id, deployment, environment)
    return analyse(deployments, found, since=since, alpha=alpha)


@router.get(DEPLOYMENT + "/plan", summary="The route plan the gateway serves right now.")
def route_plan(
    deployment: str,
    project: ProjectDep,
    _: Viewer,
    runtime: RuntimeDep,
    environment: Environment = "production",
) -> dict[str, Any]:
    return dict(plan_summary(runtime.deployment_plans.plan(project.id, deployment, environment)))


@router.post(BASE + "/evaluate-policies", summary="Apply this project's policies now.")
def run_policies(project: ProjectDep, _: Editor, deployments: DeploymentsDep) -> list[PolicyAction]:
    return evaluate_policies(deployments, project.id)

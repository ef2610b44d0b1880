"""Prompts: versions, labels, diffs and rendering."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from llmloop.prompts.service import PromptCommit, PromptDiff, Prompts, PromptSummary
from llmloop.server.deps import Editor, ProjectDep, RuntimeDep, Viewer
from llmloop.store.prompts import ChatTemplate, PromptContent, PromptLabel, PromptVersion, Variable

router = APIRouter(tags=["prompts"])
BASE = "/projects/{project}/prompts"
PROMPT = BASE + "/{prompt}"


def get_prompts(runtime: RuntimeDep) -> Prompts:
    return Prompts(runtime.db, runtime.tenancy.audit)


PromptsDep = Annotated[Prompts, Depends(get_prompts)]


class ContentBody(BaseModel):
    """A version's content: ``messages`` (a chat prompt) or ``text`` (a text prompt)."""

    messages: list[ChatTemplate] | None = Field(default=None, max_length=200)
    text: str | None = Field(default=None, max_length=200_000)
    variables: list[Variable] = Field(
        default_factory=list, description="Declared variables; none: inferred as strings."
    )
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"temperature": 0.2}])
    tools: list[dict[str, Any]] | None = None
    response_schema: dict[str, Any] | None = None

    def content(self) -> PromptContent:
        kind: Literal["chat", "text"] = "text" if self.messages is None else "chat"
        return PromptContent(
            kind=kind,
            messages=self.messages or [],
            text=self.text,
            variables=self.variables,
            params=self.params,
            tools=self.tools,
            response_schema=self.response_schema,
        )


class PromptCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, examples=["ticket-triage"])
    description: str = Field(default="", max_length=5000)
    version: ContentBody | None = Field(default=None, description="Optional first version.")
    message: str = Field(default="", max_length=2000)


class VersionCreate(ContentBody):
    message: str = Field(default="", max_length=2000)
    labels: list[str] = Field(
        default_factory=list, max_length=20, description="Labels to move to the new version."
    )
    create: bool = Field(default=False, description="Create the prompt when missing.")


class LabelMove(BaseModel):
    version: str = Field(min_length=1, description="Label, number (v2) or id (pv_…).")
    reason: str | None = Field(default=None, max_length=2000)


class RenderBody(BaseModel):
    version: str | None = Field(default=None, description="Default: latest.")
    variables: dict[str, Any] = Field(default_factory=dict)


class Rendered(BaseModel):
    version: PromptVersion
    messages: list[dict[str, Any]]


@router.get(BASE, summary="Prompts with their latest version and labels.")
def list_prompts(project: ProjectDep, _: Viewer, prompts: PromptsDep) -> list[PromptSummary]:
    return prompts.list(project.id)


@router.post(BASE, status_code=201, summary="Create a prompt, optionally with a first version.")
def create_prompt(
    body: PromptCreate, project: ProjectDep, principal: Editor, prompts: PromptsDep
) -> PromptSummary:
    content = None if body.version is None else body.version.content()
    return prompts.create(
        project.id,
        body.name,
        body.description,
        content,
        actor=principal.actor,
        message=body.message,
    )


@router.get(PROMPT, summary="A prompt with its latest version and labels.")
def get_prompt(prompt: str, project: ProjectDep, _: Viewer, prompts: PromptsDep) -> PromptSummary:
    return prompts.summary(project.id, prompt)


@router.get(PROMPT + "/versions", summary="Versions, newest first.")
def list_versions(
    prompt: str, project: ProjectDep, _: Viewer, prompts: PromptsDep
) -> list[PromptVersion]:
    return prompts.versions(project.id, prompt)


@router.post(
    PROMPT + "/versions",
    status_code=201,
    summary="Commit a version (the same content returns the existing version).",
)
def create_version(
    prompt: str, body: VersionCreate, project: ProjectDep, principal: Editor, prompts: PromptsDep
) -> PromptCommit:
    return prompts.commit(
        project.id,
        prompt,
        body.content(),
        actor=principal.actor,
        message=body.message,
        create=body.create,
        labels=tuple(body.labels),
    )


@router.get(PROMPT + "/versions/{version}", summary="A version by label, number or id.")
def get_version(
    prompt: str, version: str, project: ProjectDep, _: Viewer, prompts: PromptsDep
) -> PromptVersion:
    return prompts.version(project.id, prompt, version)


@router.get(PROMPT + "/labels", summary="Labels and the versions they point at.")
def list_labels(
    prompt: str, project: ProjectDep, _: Viewer, prompts: PromptsDep
) -> list[PromptLabel]:
    return prompts.labels(project.id, prompt)


@router.put(PROMPT + "/labels/{label}", summary="Move a label (audited with the reason).")
def move_label(
    prompt: str,
    label: str,
    body: LabelMove,
    project: ProjectDep,
    principal: Editor,
    prompts: PromptsDep,
) -> PromptLabel:
    return prompts.move_label(
        project.id, prompt, label, body.version, actor=principal.actor, reason=body.reason
    )


@router.get(PROMPT + "/diff", summary="Template, parameter and variable changes.")
def diff_versions(
    prompt: str,
    project: ProjectDep,
    _: Viewer,
    prompts: PromptsDep,
    from_: Annotated[str, Query(alias="from", min_length=1)],
    to: Annotated[str, Query(min_length=1)] = "latest",
) -> PromptDiff:
    return prompts.diff(project.id, prompt, from_, to)


@router.post(PROMPT + "/render", summary="Render a version with variables.")
def render(
    prompt: str, body: RenderBody, project: ProjectDep, _: Viewer, prompts: PromptsDep
) -> Rendered:
    version = prompts.version(project.id, prompt, body.version)
    return Rendered(
        version=version, messages=prompts.render(project.id, prompt, body.variables, version.id)
    )

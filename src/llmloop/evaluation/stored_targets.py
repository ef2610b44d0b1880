"""Targets kept in the store: prompt versions and deployments.

``prompt:<name>@<label|vN|id>`` renders that prompt version's templates with the record's
inputs and asks the model named by ``model=`` (or the version's own ``model`` parameter);
``deployment:<name>`` evaluates what the deployment serves now: its stable version's
prompt, model and parameters (recorded in the run as ``deployment:<name>@<version>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmloop.errors import ValidationError
from llmloop.evaluation.targets import ModelTarget, RenderedTarget, Target
from llmloop.prompts.service import Prompts
from llmloop.prompts.templates import compile_version, used_variables
from llmloop.runtime import Runtime

PROMPT = "prompt:"
DEPLOYMENT = "deployment:"


def is_stored(reference: Any) -> bool:
    return isinstance(reference, str) and reference.startswith((PROMPT, DEPLOYMENT))


def _split(reference: str, prefix: str) -> tuple[str, str | None]:
    name, _, ref = reference.removeprefix(prefix).partition("@")
    if not name:
        raise ValidationError(f"{reference!r}: write {prefix}<name>[@<label|version>]")
    return name, ref or None


def prompt_target(
    runtime: Runtime,
    project_id: str,
    reference: str,
    *,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> RenderedTarget:
    name, ref = _split(reference, PROMPT)
    version = Prompts(runtime.db, runtime.tenancy.audit).version(project_id, name, ref)
    merged = {k: v for k, v in version.params.items() if k != "model"}
    if version.tools:
        merged["tools"] = version.tools
    merged.update(params or {})
    chosen = model or version.params.get("model")
    if not chosen:
        raise ValidationError(
            f"prompt {name!r} {version.label} names no model; give one (model=... or the "
            "models axis of an experiment)"
        )
    declared = {v.name: v for v in version.variables}
    needed = [
        n for n in used_variables(version.content()) if n not in declared or declared[n].required
    ]
    return RenderedTarget(
        description=f"{PROMPT}{name}@{version.label} on {chosen}",
        model=str(chosen),
        render=compile_version(version),
        params=merged,
        inputs=needed,
        stored={"kind": "prompt", "ref": f"{PROMPT}{name}@{version.id}", "model": chosen,
                "params": dict(params or {})},
    )  # fmt: skip


def deployment_target(runtime: Runtime, project_id: str, reference: str) -> RenderedTarget:
    name, environment = _split(reference, DEPLOYMENT)
    plan = runtime.deployment_plans.plan(project_id, name, environment)
    arm = plan.arms[0]  # the stable version comes first
    render = arm.render
    params = dict(arm.params)

    def messages(inputs: Mapping[str, Any]) -> list[dict[str, Any]]:
        if render is not None:
            return render(inputs)
        if "messages" in inputs:
            return list(inputs["messages"])
        if len(inputs) == 1:
            (value,) = inputs.values()
            return [{"role": "user", "content": str(value)}]
        raise ValidationError(
            f"deployment {name!r} {arm.name} has no prompt; records need a 'messages' input"
        )

    return RenderedTarget(
        description=f"{DEPLOYMENT}{name}@{arm.name}",
        model=arm.model,
        render=messages,
        params=params,
        inputs=[],
        stored={"kind": "deployment", "ref": reference},
    )


def stored_target(
    runtime: Runtime,
    project_id: str,
    reference: str,
    *,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> RenderedTarget:
    if reference.startswith(PROMPT):
        return prompt_target(runtime, project_id, reference, model=model, params=params)
    return deployment_target(runtime, project_id, reference)


def make_target(
    model: str,
    template: str | None,
    runtime: Runtime,
    project_id: str,
    *,
    system: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Target:
    """One experiment cell's target: a model (or deployment) with an inline Jinja2
    template, or a stored prompt version on that model."""
    if template is not None and template.startswith(PROMPT):
        return prompt_target(runtime, project_id, template, model=model, params=params)
    if model.startswith(DEPLOYMENT):
        if template is not None:
            raise ValidationError(f"{model!r} brings its own prompt; leave the prompts axis out")
        return deployment_target(runtime, project_id, model)
    return ModelTarget(model, prompt=template, system=system, params=dict(params or {}),
                       template="jinja")  # fmt: skip

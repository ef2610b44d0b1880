"""Concurrent commits get distinct version numbers (a lost race is retried, never a 500)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from llmloop.deployments.service import Deployments, VersionSpec
from llmloop.prompts.service import Prompts
from llmloop.runtime import Runtime
from llmloop.store.prompts import PromptContent

WRITERS = 8


def test_concurrent_prompt_and_deployment_versions(runtime: Runtime) -> None:
    project = runtime.tenancy.ensure_project("race")
    prompts = Prompts(runtime.db, runtime.tenancy.audit)
    deployments = Deployments(runtime.db, runtime.tenancy.audit)

    def commit(i: int) -> int:
        content = PromptContent(kind="text", text=f"variant {i % 4}: {{{{ x }}}}")
        return prompts.commit(project.id, "p", content, actor="t", create=True).version.number

    def deploy(i: int) -> int:
        spec = VersionSpec(model=f"scripted/m{i}")
        return deployments.create_version(project.id, "d", spec, actor="t", create=True).number

    with ThreadPoolExecutor(WRITERS) as pool:
        committed = list(pool.map(commit, range(WRITERS)))
        deployed = list(pool.map(deploy, range(WRITERS)))
    assert sorted(set(committed)) == [1, 2, 3, 4]  # four distinct contents, each once
    assert [v.number for v in prompts.versions(project.id, "p")] == [4, 3, 2, 1]
    assert sorted(deployed) == list(range(1, WRITERS + 1))
    summary = deployments.summary(project.id, "d")
    assert summary.stable is not None and summary.stable.number == 1

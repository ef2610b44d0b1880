"""The prompt registry's rules: immutable versions, ``latest`` follows commits, audited labels.

The repository (:mod:`llmloop.store.prompts`) persists rows. Here: a version is checked
(syntax, declared variables, defaults) before it is stored, identical content returns the
existing version, every label move is written to the audit log in the same transaction,
and versions are addressed by label (``production``), number (``v3``) or id (``pv_…``).
"""

from __future__ import annotations

import builtins
import difflib
import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field
from sqlalchemy.exc import IntegrityError

from llmloop.errors import ConflictError, NotFoundError, ValidationError
from llmloop.prompts.templates import check_content, compile_version
from llmloop.records import Frozen
from llmloop.store import AuditRepository, Database
from llmloop.store.prompts import (
    Prompt,
    PromptContent,
    PromptLabel,
    PromptRepository,
    PromptVersion,
)

LATEST = "latest"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
NUMBER_REF = re.compile(r"^v(\d+)$")
WRITE_ATTEMPTS = 3


class PromptSummary(Frozen):
    prompt: Prompt
    versions: int
    latest: PromptVersion | None = None
    labels: list[PromptLabel] = Field(default_factory=list)


class PromptCommit(Frozen):
    """The version a commit produced; ``created`` is False when the same content existed."""

    version: PromptVersion
    created: bool


class Change(Frozen):
    key: str
    before: Any = None
    after: Any = None
    kind: str = Field(description="added, removed or changed")


class PromptDiff(Frozen):
    from_version: PromptVersion
    to_version: PromptVersion
    template_diff: str = Field(description="Unified diff of the template text.")
    params: list[Change] = Field(default_factory=list)
    variables: list[Change] = Field(default_factory=list)
    tools_changed: bool = False
    response_schema_changed: bool = False

    @property
    def identical(self) -> bool:
        return self.from_version.content_hash == self.to_version.content_hash


def check_name(name: str) -> None:
    if not NAME_PATTERN.match(name):
        message = (
            f"prompt name {name!r} is invalid: use 1-100 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
        raise ValidationError(message, details=[{"field": "name", "message": message}])


def check_label(label: str) -> None:
    if not LABEL_PATTERN.match(label) or NUMBER_REF.match(label) or label.startswith("pv_"):
        raise ValidationError(
            f"label {label!r} is invalid: use 1-64 lowercase letters, digits, '-', '_' or '.', "
            "starting with a letter, and not shaped like a version ('v3', 'pv_…')"
        )


def template_text(version: PromptVersion) -> str:
    """The version's templates as one text, for diffs and display."""
    if version.kind == "text":
        return version.text or ""
    return "\n".join(f"[{m.role}]\n{m.content}" for m in version.messages)


def _changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    out: list[Change] = []
    for key in sorted(set(before) | set(after)):
        if key not in after:
            out.append(Change(key=key, before=before[key], kind="removed"))
        elif key not in before:
            out.append(Change(key=key, after=after[key], kind="added"))
        elif before[key] != after[key]:
            out.append(Change(key=key, before=before[key], after=after[key], kind="changed"))
    return out


def diff_versions(old: PromptVersion, new: PromptVersion) -> PromptDiff:
    lines = difflib.unified_diff(
        template_text(old).splitlines(keepends=True),
        template_text(new).splitlines(keepends=True),
        fromfile=f"{old.prompt_name} {old.label}",
        tofile=f"{new.prompt_name} {new.label}",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)

    def variables(v: PromptVersion) -> dict[str, Any]:
        return {x.name: x.model_dump(exclude={"name"}) for x in v.variables}

    return PromptDiff(
        from_version=old,
        to_version=new,
        template_diff=text,
        params=_changes(old.params, new.params),
        variables=_changes(variables(old), variables(new)),
        tools_changed=old.tools != new.tools,
        response_schema_changed=old.response_schema != new.response_schema,
    )


class Prompts:
    """The prompt registry of one database; create one per use, it holds no state."""

    def __init__(self, db: Database, audit: AuditRepository) -> None:
        self.db = db
        self.repo = PromptRepository(db)
        self.audit = audit

    # ---------------------------------------------------------------- reading

    def get(self, project_id: str, name: str) -> Prompt:
        return self.repo.get(project_id, name)

    def list(self, project_id: str) -> list[PromptSummary]:
        return [self._summary(p) for p in self.repo.list(project_id)]

    def summary(self, project_id: str, name: str) -> PromptSummary:
        return self._summary(self.repo.get(project_id, name))

    def _summary(self, prompt: Prompt) -> PromptSummary:
        labels = self.repo.labels(prompt.id)
        latest_id = next((lb.version_id for lb in labels if lb.name == LATEST), None)
        latest = None if latest_id is None else self.repo.version_by_id(prompt, latest_id)
        return PromptSummary(
            prompt=prompt,
            versions=self.repo.count_versions(prompt.id),
            latest=latest,
            labels=labels,
        )

    def versions(self, project_id: str, name: str) -> builtins.list[PromptVersion]:
        return self.repo.versions(self.repo.get(project_id, name))

    def labels(self, project_id: str, name: str) -> builtins.list[PromptLabel]:
        return self.repo.labels(self.repo.get(project_id, name).id)

    def version(self, project_id: str, name: str, ref: str | None = None) -> PromptVersion:
        """A version by label (default ``latest``), number (``v3``) or id (``pv_…``)."""
        prompt = self.repo.get(project_id, name)
        ref = (ref or LATEST).strip()
        found: PromptVersion | None
        if match := NUMBER_REF.match(ref):
            found = self.repo.version_by_number(prompt, int(match.group(1)))
        elif ref.startswith("pv_"):
            found = self.repo.version_by_id(prompt, ref)
        else:
            label = self.repo.label(prompt.id, ref)
            found = None if label is None else self.repo.version_by_id(prompt, label.version_id)
        if found is None:
            raise NotFoundError(
                f"prompt {name!r} has no version {ref!r}; give a label (latest, production, …), "
                "a number (v1) or a version id (pv_…)"
            )
        return found

    def version_by_id(self, project_id: str, version_id: str) -> PromptVersion:
        found = self.repo.version_in_project(project_id, version_id)
        if found is None:
            raise NotFoundError(f"prompt version {version_id!r} not found in this project")
        return found

    def diff(self, project_id: str, name: str, from_ref: str, to_ref: str) -> PromptDiff:
        return diff_versions(
            self.version(project_id, name, from_ref), self.version(project_id, name, to_ref)
        )

    def render(
        self, project_id: str, name: str, variables: Mapping[str, Any], ref: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        return compile_version(self.version(project_id, name, ref))(variables)

    # ---------------------------------------------------------------- writing

    def create(
        self,
        project_id: str,
        name: str,
        description: str = "",
        content: PromptContent | None = None,
        *,
        actor: str,
        message: str = "",
    ) -> PromptSummary:
        check_name(name)
        checked = None if content is None else check_content(content)
        with self.db.begin() as conn:
            prompt = self.repo.create(project_id, name, description, conn=conn)
            self.audit.record(
                project_id,
                actor=actor,
                action="prompt.create",
                object_type="prompt",
                object_id=prompt.id,
                data={"name": name},
                conn=conn,
            )
            if checked is not None:
                self._commit(conn, prompt, checked, actor=actor, message=message)
        return self._summary(prompt)

    def commit(
        self,
        project_id: str,
        name: str,
        content: PromptContent,
        *,
        actor: str,
        message: str = "",
        create: bool = False,
        labels: tuple[str, ...] = (),
    ) -> PromptCommit:
        """Store ``content`` as the next version (or find the identical one); ``latest``
        follows, and each of ``labels`` is moved to it (audited)."""
        for label in labels:
            self._check_movable(label)
        checked = check_content(content)
        for attempt in range(WRITE_ATTEMPTS):
            try:
                return self._commit_once(project_id, name, checked, actor, message, create, labels)
            except (IntegrityError, ConflictError):  # a concurrent commit won the race
                if attempt == WRITE_ATTEMPTS - 1:
                    raise ConflictError(
                        f"prompt {name!r} is being changed concurrently; retry the commit"
                    ) from None
        raise AssertionError("unreachable")

    def _commit_once(
        self,
        project_id: str,
        name: str,
        checked: PromptContent,
        actor: str,
        message: str,
        create: bool,
        labels: tuple[str, ...],
    ) -> PromptCommit:
        with self.db.begin() as conn:
            prompt = self.repo.find(project_id, name, conn=conn)
            if prompt is None:
                if not create:
                    raise NotFoundError(
                        f"prompt {name!r} not found in this project; create it first "
                        "or pass create=true"
                    )
                check_name(name)
                prompt = self.repo.create(project_id, name, conn=conn)
                self.audit.record(
                    project_id,
                    actor=actor,
                    action="prompt.create",
                    object_type="prompt",
                    object_id=prompt.id,
                    data={"name": name},
                    conn=conn,
                )
            commit = self._commit(conn, prompt, checked, actor=actor, message=message)
            for label in labels:
                self._move(conn, prompt, label, commit.version, actor=actor, reason=message)
        return commit

    def _commit(
        self, conn: Any, prompt: Prompt, content: PromptContent, *, actor: str, message: str
    ) -> PromptCommit:
        version, created = self.repo.add_version(
            prompt, content, message=message, actor=actor, conn=conn
        )
        if created:
            self.audit.record(
                prompt.project_id,
                actor=actor,
                action="prompt.version",
                object_type="prompt",
                object_id=prompt.id,
                data={
                    "version": version.label,
                    "version_id": version.id,
                    "content_hash": version.content_hash,
                },
                reason=message or None,
                conn=conn,
            )
            self.repo.set_label(prompt.id, LATEST, version.id, actor=actor, conn=conn)
        return PromptCommit(version=version, created=created)

    @staticmethod
    def _check_movable(label: str) -> None:
        check_label(label)
        if label == LATEST:
            raise ValidationError(
                "'latest' moves by itself to each new version; move another label "
                "(production, staging, or a name of yours)"
            )

    def move_label(
        self,
        project_id: str,
        name: str,
        label: str,
        ref: str,
        *,
        actor: str,
        reason: str | None = None,
    ) -> PromptLabel:
        """Point ``label`` at a version; the move is in the audit log with ``reason``."""
        self._check_movable(label)
        prompt = self.repo.get(project_id, name)
        version = self.version(project_id, name, ref)
        with self.db.begin() as conn:
            return self._move(conn, prompt, label, version, actor=actor, reason=reason)

    def _move(
        self,
        conn: Any,
        prompt: Prompt,
        label: str,
        version: PromptVersion,
        *,
        actor: str,
        reason: str | None,
    ) -> PromptLabel:
        moved, before = self.repo.set_label(prompt.id, label, version.id, actor=actor, conn=conn)
        before_label = None
        if before is not None and (old := self.repo.version_by_id(prompt, before)) is not None:
            before_label = old.label
        self.audit.record(
            prompt.project_id,
            actor=actor,
            action="prompt.label",
            object_type="prompt",
            object_id=prompt.id,
            reason=reason or None,
            conn=conn,
            data={
                "prompt": prompt.name,
                "label": label,
                "version": version.label,
                "version_id": version.id,
                "from": before_label,
            },
        )
        return moved

"""The datasets feature on SQLite and PostgreSQL: versions, aliases, audit, atomicity."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from llmloop.data.datasets import Datasets
from llmloop.data.importers import ColumnMapping
from llmloop.data.splits import SplitSpec
from llmloop.errors import ConflictError, NotFoundError, ValidationError
from llmloop.records import Project, Record
from llmloop.runtime import Runtime
from llmloop.store.datasets import dataset_records, dataset_versions, datasets, version_digest

ACTOR = "key:test"


@pytest.fixture
def project(runtime: Runtime) -> Project:
    return runtime.tenancy.create_project("acme", actor="test")


@pytest.fixture
def data(runtime: Runtime) -> Datasets:
    return Datasets(runtime.db, runtime.tenancy.audit)


def recs(*texts: str, lang: str = "en") -> list[Record]:
    return [
        Record(
            id=f"r{i}", inputs={"text": t}, expectations={"label": t[:1]}, metadata={"lang": lang}
        )
        for i, t in enumerate(texts)
    ]


def row_counts(runtime: Runtime) -> tuple[int, int, int]:
    with runtime.db.connect() as c:
        return tuple(  # type: ignore[return-value]
            int(c.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (datasets, dataset_versions, dataset_records)
        )


def test_commit_is_content_addressed_and_latest_follows(data: Datasets, project: Project) -> None:
    first = data.commit(project.id, "tickets", recs("a", "b"), actor=ACTOR, create=True)
    assert first.created and first.version.number == 1
    assert first.version.id == version_digest(recs("a", "b"))
    second = data.commit(project.id, "tickets", recs("a", "b", "c"), actor=ACTOR)
    assert second.created and second.version.number == 2
    again = data.commit(project.id, "tickets", recs("a", "b"), actor=ACTOR)
    assert not again.created and again.version == first.version
    assert data.version(project.id, "tickets").id == first.version.id  # latest moved back
    assert [v.number for v in data.versions(project.id, "tickets")] == [2, 1]
    stored = data.records(project.id, "tickets", "v2")
    assert [r.id for r in stored] == ["r0", "r1", "r2"]
    hashes = [r.content_hash() for r in recs("a", "b", "c")]
    assert [r.content_hash() for r in stored] == hashes


def test_records_round_trip_exactly(data: Datasets, project: Project) -> None:
    original = [
        Record(
            id="x1",
            inputs={"q": "ünïcode ✓", "n": 3, "nested": {"a": [1, 2.5, None]}},
            outputs={"r": True},
            expectations=None,
            metadata={"lang": "de"},
        )
    ]
    data.commit(project.id, "exact", original, actor=ACTOR, create=True)
    (back,) = data.records(project.id, "exact")
    assert back.model_dump(exclude={"source"}) == original[0].model_dump(exclude={"source"})
    assert back.content_hash() == original[0].content_hash()


def test_schema_is_inferred_with_slice_counts(data: Datasets, project: Project) -> None:
    extra = Record(id="z", inputs={"text": "zz", "n": 1}, metadata={"lang": "fr"})
    records = [*recs("apple", "avocado", "banana"), extra]
    version = data.commit(project.id, "s", records, actor=ACTOR, create=True).version
    schema = version.field_schema
    assert schema.inputs["text"].present == 4 and schema.inputs["text"].types == {"str": 4}
    assert schema.inputs["n"].types == {"int": 1}
    assert schema.slices["lang"] == {"en": 3, "fr": 1}
    assert schema.slices["expectations.label"] == {"a": 2, "b": 1}


def test_aliases_move_with_audit_in_the_same_transaction(
    data: Datasets, project: Project, runtime: Runtime
) -> None:
    v1 = data.commit(project.id, "d", recs("a"), actor=ACTOR, create=True).version
    v2 = data.commit(project.id, "d", recs("b"), actor=ACTOR).version
    moved = data.move_alias(project.id, "d", "golden", "v1", actor="key:ann", reason="reviewed")
    assert moved.version_id == v1.id and moved.updated_by == "key:ann"
    data.move_alias(project.id, "d", "golden", v2.id, actor="key:bob", reason="relabelled")
    assert data.version(project.id, "d", "golden") == v2
    events = runtime.tenancy.audit.list(project.id, object_type="dataset")
    moves = [(e.data["alias"], e.data["from"], e.data["to"], e.actor, e.reason)
             for e in events if e.action == "dataset.alias.move"]  # fmt: skip
    assert moves == [
        ("golden", v1.id, v2.id, "key:bob", "relabelled"),
        ("golden", None, v1.id, "key:ann", "reviewed"),
        ("latest", v1.id, v2.id, ACTOR, None),
        ("latest", None, v1.id, ACTOR, None),
    ]
    with pytest.raises(ValidationError, match="'latest' moves by itself"):
        data.move_alias(project.id, "d", "latest", "v1", actor=ACTOR)
    with pytest.raises(ValidationError, match="alias 'v7' is invalid"):
        data.move_alias(project.id, "d", "v7", "v1", actor=ACTOR)
    with pytest.raises(NotFoundError, match="no version 'v9'"):
        data.move_alias(project.id, "d", "golden", "v9", actor=ACTOR)


def test_bad_records_write_nothing(data: Datasets, project: Project, runtime: Runtime) -> None:
    before = row_counts(runtime)
    audit_before = runtime.tenancy.audit.count(project.id)
    duplicated = [Record(id="a", inputs={"q": 1}), Record(id="a", inputs={"q": 2})]
    with pytest.raises(ValidationError, match="1 duplicate record id"):
        data.create(project.id, "new", records=duplicated, actor=ACTOR)
    with pytest.raises(ValidationError, match="at least one record"):
        data.commit(project.id, "new", [], actor=ACTOR, create=True)
    with pytest.raises(ValidationError, match="dataset name 'bad name'"):
        data.commit(project.id, "bad name", recs("a"), actor=ACTOR, create=True)
    with pytest.raises(NotFoundError, match="dataset 'missing' not found"):
        data.commit(project.id, "missing", recs("a"), actor=ACTOR)
    assert row_counts(runtime) == before
    assert runtime.tenancy.audit.count(project.id) == audit_before


def test_a_failing_insert_rolls_back_the_dataset_and_version(
    data: Datasets, project: Project, runtime: Runtime
) -> None:
    before = row_counts(runtime)
    data.create(project.id, "taken", actor=ACTOR)
    with pytest.raises(ConflictError):
        data.create(project.id, "taken", records=recs("a"), actor=ACTOR)
    assert row_counts(runtime) == (before[0] + 1, before[1], before[2])


def test_import_commits_all_accepted_rows_or_nothing(
    data: Datasets, project: Project, runtime: Runtime
) -> None:
    csv = b"id,text,label\n1,hi,a\n,,\n1,dup,b\n2,yo,b\n"
    mapping = ColumnMapping(id="id", inputs=["text"], expectations=["label"])
    outcome = data.import_file(project.id, "imp", csv, "csv", mapping, actor=ACTOR)
    assert outcome.created and outcome.version.record_count == 2
    assert [s.row for s in outcome.report.skipped] == [2, 3]
    before = row_counts(runtime)
    with pytest.raises(ValidationError, match="nothing was imported"):
        data.import_file(project.id, "imp", csv, "csv", mapping, actor=ACTOR, on_error="fail")
    with pytest.raises(ValidationError, match="no column 'label'"):
        data.import_file(project.id, "imp2", b"id,text\n1,a\n", "csv", mapping, actor=ACTOR)
    with pytest.raises(ValidationError, match="no row of the csv input"):
        data.import_file(project.id, "imp3", b"id,text\n,\n", "csv", actor=ACTOR)
    assert row_counts(runtime) == before


def test_diff_by_record_id(data: Datasets, project: Project) -> None:
    old = [Record(id=i, inputs={"q": i}) for i in ("a", "b", "c")]
    new = [
        Record(id="a", inputs={"q": "a"}),
        Record(id="c", inputs={"q": "C"}),
        Record(id="d", inputs={"q": "d"}),
    ]
    data.commit(project.id, "d", old, actor=ACTOR, create=True)
    data.commit(project.id, "d", new, actor=ACTOR)
    diff = data.diff(project.id, "d", "v1", "latest")
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (["d"], ["b"], ["c"], 1)
    assert diff.from_version.number == 1 and diff.to_version.number == 2


def test_split_saved_as_aliased_versions_leaves_latest(data: Datasets, project: Project) -> None:
    records = [
        Record(id=f"r{i}", inputs={"q": i}, metadata={"lang": "en" if i % 4 else "fr"})
        for i in range(40)
    ]
    full = data.commit(project.id, "s", records, actor=ACTOR, create=True).version
    outcome = data.split(
        project.id, "s", SplitSpec(stratify="lang", seed=1), save=True, actor=ACTOR
    )
    assert {k: v.record_count for k, v in outcome.versions.items()} == {
        "train": 32,
        "dev": 4,
        "test": 4,
    }
    assert data.version(project.id, "s").id == full.id
    train = data.records(project.id, "s", "train")
    assert [r.id for r in train] == outcome.split.parts["train"]
    assert outcome.versions["test"].parent_id == full.id
    view = data.split(project.id, "s", SplitSpec(stratify="lang", seed=1), actor=ACTOR)
    assert view.split == outcome.split and view.versions == {}


def test_dedup_commits_a_version_without_duplicates(data: Datasets, project: Project) -> None:
    records = [
        Record(id="a", inputs={"text": "my parcel never arrived and I want a refund"}),
        Record(id="b", inputs={"text": "My parcel never arrived, and I want a refund!"}),
        Record(id="c", inputs={"text": "how do I reset my password"}),
        Record(id="d", inputs={"text": "how do I reset my password"}),
    ]
    data.commit(project.id, "dd", records, actor=ACTOR, create=True)
    report = data.duplicates(project.id, "dd", threshold=0.7)
    assert sorted(g.kind for g in report.groups) == ["exact", "near"]
    outcome = data.dedup(project.id, "dd", threshold=0.7, actor=ACTOR)
    assert outcome.removed == 2 and outcome.commit.created
    assert [r.id for r in data.records(project.id, "dd")] == ["a", "c"]
    again = data.dedup(project.id, "dd", threshold=0.7, actor=ACTOR)
    assert again.removed == 0 and not again.commit.created


def test_datasets_are_scoped_to_their_project(data: Datasets, runtime: Runtime) -> None:
    a = runtime.tenancy.create_project("a", actor="t")
    b = runtime.tenancy.create_project("b", actor="t")
    data.commit(a.id, "shared-name", recs("x"), actor=ACTOR, create=True)
    with pytest.raises(NotFoundError):
        data.records(b.id, "shared-name")
    data.commit(b.id, "shared-name", recs("x"), actor=ACTOR, create=True)
    assert [s.dataset.name for s in data.list(b.id)] == ["shared-name"]
    assert data.version(a.id, "shared-name").id == data.version(b.id, "shared-name").id


def test_concurrent_commits_get_distinct_numbers(data: Datasets, project: Project) -> None:
    data.create(project.id, "busy", actor=ACTOR)
    errors: list[BaseException] = []

    def commit(i: int) -> None:
        try:
            data.commit(project.id, "busy", recs(f"text {i}"), actor=ACTOR)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(v.number for v in data.versions(project.id, "busy")) == [1, 2, 3, 4, 5, 6]

"""Weak supervision on stored datasets: label matrices, label-model fits, learning curves.

* :meth:`Labeling.start_apply` checks the request, reads the dataset version, builds the
  labeling functions and records a matrix in status ``running``; the returned job applies
  the functions in chunks (updating ``progress``) and stores the packed votes, the
  per-function failure counts (a function that raises on a record abstains there) and the
  gold labels found in ``expectations.<gold_field>``.
* :meth:`Labeling.analysis` — coverage, overlap, conflict, empirical accuracy per function.
* :meth:`Labeling.fit` — fits the :class:`~llmloop.labeling.label_model.LabelModel`,
  stores its probabilistic labels and its report against majority vote;
  :meth:`Labeling.write_labels` commits them into a new dataset version.
* :meth:`Labeling.simulate` — replays a labeled version with each active-learning
  strategy and stores the learning curves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from llmloop.data.datasets import Commit, Datasets, check_name
from llmloop.errors import ConflictError, NotFoundError, ValidationError
from llmloop.labeling.analysis import SourceStats, analyze_sources, label_model_report
from llmloop.labeling.functions import LabelingFunction, record_text
from llmloop.labeling.label_model import LabelModel
from llmloop.labeling.matrix import LabelMatrix, apply_labeling_functions, check_classes
from llmloop.labeling.simulation import Classifier, simulate
from llmloop.labeling.specs import FunctionContext, LFSpec, build_function, describe
from llmloop.providers.registry import ProviderRegistry
from llmloop.records import Frozen, Record
from llmloop.store import AuditRepository, Database
from llmloop.store.label_matrices import (
    LabelMatrixRepository,
    StoredFit,
    StoredMatrix,
    StoredSimulation,
)

CHUNK = 5000
MAX_FAILURES_SHOWN = 20
Job = Callable[[], None]


class MatrixAnalysis(Frozen):
    matrix: StoredMatrix
    sources: list[dict[str, Any]]
    coverage: float
    gold_records: int


class FitOutcome(Frozen):
    matrix: StoredMatrix
    fit: StoredFit


class LatestFit(Frozen):
    matrix: StoredMatrix
    fit: StoredFit | None = None


class LabelsWritten(Frozen):
    commit: Commit
    labeled: int
    field: str
    fit_id: str


class SimulationRequest(Frozen):
    label_field: str = Field(min_length=1)
    text_field: str = "text"
    strategies: list[str] = Field(
        default_factory=lambda: ["entropy", "margin", "least_confidence", "k_center", "hybrid"]
    )
    initial: int = Field(default=20, ge=2)
    batch: int = Field(default=20, ge=1)
    rounds: int = Field(default=15, ge=1, le=200)
    seed: int = 0


def _gold(records: Sequence[Record], field: str | None, classes: Sequence[str]) -> list[str | None]:
    if field is None:
        return [None] * len(records)
    allowed = set(classes)
    values = [(r.expectations or {}).get(field) for r in records]
    return [v if isinstance(v, str) and v in allowed else None for v in values]


def _merge_failures(into: dict[str, Any], matrix: LabelMatrix, offset: int) -> None:
    counts: dict[str, int] = into.setdefault("counts", {})
    for name, count in matrix.failure_counts.items():
        counts[name] = counts.get(name, 0) + count
    shown: list[dict[str, Any]] = into.setdefault("examples", [])
    for failure in matrix.failures:
        if sum(1 for s in shown if s["function"] == failure.function) < MAX_FAILURES_SHOWN:
            shown.append(failure.as_dict() | {"row": failure.row + offset})


class Labeling:
    def __init__(
        self,
        db: Database,
        audit: AuditRepository,
        *,
        data_dir: Path | None = None,
        providers: ProviderRegistry | None = None,
    ) -> None:
        self.repo = LabelMatrixRepository(db)
        self.datasets = Datasets(db, audit)
        self.audit = audit
        self.context = FunctionContext(data_dir, providers)

    # ---------------------------------------------------------------- matrices

    def start_apply(
        self,
        project_id: str,
        dataset: str,
        *,
        specs: Sequence[LFSpec],
        classes: Sequence[str],
        version: str | None = None,
        name: str = "default",
        gold_field: str | None = None,
        replace: bool = False,
        actor: str,
        functions: Sequence[LabelingFunction] = (),
    ) -> tuple[StoredMatrix, Job]:
        """Validate, record the matrix as ``running`` and return the job that fills it."""
        names = list(check_classes(classes))
        check_name(name)
        ds = self.datasets.get(project_id, dataset)
        target = self.datasets.version(project_id, dataset, version)
        built: list[tuple[LabelingFunction, dict[str, Any]]] = []
        for spec in specs:
            built += [(f, describe(f, spec)) for f in build_function(spec, names, self.context)]
        built += [(f, {"name": f.name, "kind": f.kind, "settings": f.settings}) for f in functions]
        if not built:
            raise ValidationError("give at least one labeling function")
        lf_names = [f.name for f, _ in built]
        repeated = sorted({n for n in lf_names if lf_names.count(n) > 1})
        if repeated:
            raise ValidationError(f"labeling function names must be distinct; repeated: {repeated}")
        existing = self.repo.find(project_id, ds.id, name)
        if existing is not None and existing.version_id == target.id:
            if not replace:
                raise ConflictError(
                    f"label matrix {name!r} already exists for {dataset} {target.label}; "
                    "pass replace=true or choose another name"
                )
            self.repo.delete(existing.id)
        records = self.datasets.records(project_id, dataset, target.id)
        matrix = self.repo.create(
            project_id, ds.id, target.id, name, classes=names,
            functions=[d for _, d in built], gold_field=gold_field, rows=len(records), actor=actor,
        )  # fmt: skip
        self.audit.record(
            project_id, actor=actor, action="labels.matrix.create", object_type="dataset",
            object_id=ds.id, data={"matrix": matrix.id, "name": name, "version": target.id},
        )  # fmt: skip
        lfs = [f for f, _ in built]

        def job() -> None:
            self._fill(matrix, lfs, records, names, gold_field)

        return matrix, job

    def _fill(
        self,
        matrix: StoredMatrix,
        lfs: list[LabelingFunction],
        records: list[Record],
        classes: list[str],
        gold_field: str | None,
    ) -> None:
        started = time.perf_counter()
        try:
            votes = np.full((len(records), len(lfs)), -1, dtype=np.int16)
            failures: dict[str, Any] = {"counts": {}, "examples": []}
            for start in range(0, len(records), CHUNK):
                part = records[start : start + CHUNK]
                chunk = apply_labeling_functions(lfs, part, classes)
                votes[start : start + len(part)] = chunk.values
                _merge_failures(failures, chunk, start)
                self.repo.progress(matrix.id, min(start + CHUNK, len(records)) / len(records))
            self.repo.finish(
                matrix.id, votes=votes, record_ids=[r.id for r in records],
                gold=_gold(records, gold_field, classes) if gold_field else None,
                failures=failures, seconds=time.perf_counter() - started,
            )  # fmt: skip
        except Exception as exc:  # stored on the matrix, so the caller can see why
            self.repo.fail(matrix.id, f"{type(exc).__name__}: {exc}", time.perf_counter() - started)

    def apply(self, project_id: str, dataset: str, **kwargs: Any) -> StoredMatrix:
        """:meth:`start_apply` and run the job now; the finished matrix."""
        matrix, job = self.start_apply(project_id, dataset, **kwargs)
        job()
        return self.repo.get(project_id, matrix.id)

    def matrices(self, project_id: str, dataset: str) -> list[StoredMatrix]:
        return self.repo.list(project_id, self.datasets.get(project_id, dataset).id)

    def matrix(self, project_id: str, dataset: str, name_or_id: str) -> StoredMatrix:
        ds = self.datasets.get(project_id, dataset)
        found = self.repo.find(project_id, ds.id, name_or_id)
        if found is None:
            raise_missing(dataset, name_or_id)
        assert found is not None
        return found

    def load(
        self, project_id: str, dataset: str, name_or_id: str
    ) -> tuple[StoredMatrix, LabelMatrix, list[str | None] | None]:
        stored = self.matrix(project_id, dataset, name_or_id)
        if stored.status != "done":
            raise ConflictError(
                f"label matrix {stored.name!r} is {stored.status}"
                + (f" ({stored.error})" if stored.error else "")
                + "; wait until it is done or apply the functions again"
            )
        votes, ids, gold = self.repo.votes(stored.id)
        names = tuple(f["name"] for f in stored.functions)
        matrix = LabelMatrix(votes, tuple(stored.classes), names, tuple(ids))
        return stored, matrix, gold

    def analysis(self, project_id: str, dataset: str, name_or_id: str) -> MatrixAnalysis:
        stored, matrix, gold = self.load(project_id, dataset, name_or_id)
        fit = self.repo.latest_fit(stored.id)
        learned = None if fit is None else fit.report.get("learned_accuracies")
        stats = analyze_sources(matrix, gold=gold)
        counts = stored.failures.get("counts", {})
        sources = []
        for j, s in enumerate(stats):
            row: dict[str, Any] = s.as_dict() | {"errors": int(counts.get(s.name, 0))}
            row["kind"] = stored.functions[j].get("kind")
            if learned is not None:
                row["learned_accuracy"] = learned[j]
            sources.append(row)
        covered = float((matrix.values != -1).any(axis=1).mean())
        gold_records = 0 if gold is None else sum(g is not None for g in gold)
        return MatrixAnalysis(
            matrix=stored, sources=sources, coverage=covered, gold_records=gold_records
        )

    # ---------------------------------------------------------------- label model

    def fit(
        self,
        project_id: str,
        dataset: str,
        name_or_id: str,
        *,
        class_balance: str = "votes",
        actor: str,
        seed: int = 0,
    ) -> FitOutcome:
        if class_balance not in ("votes", "learn"):
            raise ValidationError(
                f"class_balance must be 'votes' or 'learn', got {class_balance!r}"
            )
        stored, matrix, gold = self.load(project_id, dataset, name_or_id)
        model = LabelModel(matrix.cardinality, class_balance=class_balance)
        model.fit(matrix.values)
        has_gold = gold is not None and any(g is not None for g in gold)
        report = label_model_report(matrix, model, gold=gold if has_gold else None, seed=seed)
        summary = report.as_dict()
        summary["learned_accuracies"] = [float(a) for a in model.accuracies]
        summary["scores"] = [dict(s.__dict__) for s in report.scores]
        fit = self.repo.add_fit(
            stored.id, settings={"class_balance": class_balance, "seed": seed}, report=summary,
            probabilities=model.predict_proba(matrix.values), actor=actor,
        )  # fmt: skip
        return FitOutcome(matrix=stored, fit=fit)

    def latest_fit(self, project_id: str, dataset: str, name_or_id: str) -> LatestFit:
        stored = self.matrix(project_id, dataset, name_or_id)
        return LatestFit(matrix=stored, fit=self.repo.latest_fit(stored.id))

    def write_labels(
        self,
        project_id: str,
        dataset: str,
        name_or_id: str,
        *,
        field: str,
        actor: str,
        min_confidence: float = 0.0,
    ) -> LabelsWritten:
        """Commit a new version whose covered records carry ``expectations[field]`` (the
        label model's class) and ``metadata[field + "_confidence"]`` (its probability)."""
        if not field or not 0.0 <= min_confidence <= 1.0:
            raise ValidationError("give a field name and min_confidence within [0, 1]")
        stored, matrix, _ = self.load(project_id, dataset, name_or_id)
        fit = self.repo.latest_fit(stored.id)
        if fit is None:
            raise ConflictError(f"label matrix {stored.name!r} has no fit yet: fit it first")
        probs = self.repo.probabilities(fit.id)
        records = self.datasets.records(project_id, dataset, stored.version_id)
        covered = (matrix.values != -1).any(axis=1)
        out: list[Record] = []
        labeled = 0
        for i, record in enumerate(records):
            best = int(np.argmax(probs[i]))
            confidence = float(probs[i, best])
            if not covered[i] or confidence < min_confidence:
                out.append(record)
                continue
            labeled += 1
            expectations = dict(record.expectations or {}) | {field: matrix.classes[best]}
            extra = {f"{field}_confidence": round(confidence, 4), f"{field}_source": "label_model"}
            out.append(
                record.model_copy(
                    update={"expectations": expectations, "metadata": record.metadata | extra}
                )
            )
        message = f"label-model labels '{field}' from matrix {stored.name} ({labeled} records)"
        commit = self.datasets.commit(project_id, dataset, out, actor=actor, message=message)
        return LabelsWritten(commit=commit, labeled=labeled, field=field, fit_id=fit.id)

    # ---------------------------------------------------------------- simulations

    def simulate(
        self,
        project_id: str,
        dataset: str,
        request: SimulationRequest,
        *,
        version: str | None = None,
        actor: str,
    ) -> StoredSimulation:
        ds = self.datasets.get(project_id, dataset)
        target = self.datasets.version(project_id, dataset, version)
        records = self.datasets.records(project_id, dataset, target.id)
        pairs = [
            (record_text(r, request.text_field), (r.expectations or {}).get(request.label_field))
            for r in records
        ]
        usable = [(t, str(y)) for t, y in pairs if t and y is not None]
        if len(usable) < 10:
            raise ValidationError(
                f"{dataset} {target.label} has {len(usable)} records with a text in "
                f"{request.text_field!r} and a label in expectations.{request.label_field}; "
                "a simulation needs at least 10"
            )
        texts, labels = zip(*usable, strict=True)
        features = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)).fit_transform(texts)
        rank = max(1, min(64, features.shape[1] - 1, len(texts) - 1))
        dense = TruncatedSVD(rank, random_state=request.seed).fit_transform(features)
        curves = simulate(
            features, list(labels), strategies=request.strategies,  # type: ignore[arg-type]
            initial=request.initial, batch=request.batch, rounds=request.rounds,
            make_model=_model, embeddings=dense, seed=request.seed,
        )  # fmt: skip
        stored: dict[str, dict[str, list[float]]] = {
            n: {"labels": [float(x) for x in c.labels], "accuracy": c.accuracy}
            for n, c in curves.items()
        }
        settings = request.model_dump() | {"records": len(usable), "version": target.label}
        return self.repo.add_simulation(
            project_id,
            ds.id,
            target.id,
            settings=settings,
            curves=stored,
            actor=actor,
        )

    def simulations(self, project_id: str, dataset: str) -> list[StoredSimulation]:
        return self.repo.simulations(project_id, self.datasets.get(project_id, dataset).id)


def _model() -> Classifier:
    return LogisticRegression(C=10.0, max_iter=1000)


def raise_missing(dataset: str, name: str) -> None:
    raise NotFoundError(f"dataset {dataset!r} has no label matrix {name!r}; apply functions first")


__all__ = [
    "FitOutcome",
    "Labeling",
    "LabelsWritten",
    "LatestFit",
    "MatrixAnalysis",
    "SimulationRequest",
    "SourceStats",
]

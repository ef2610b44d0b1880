"""What an evaluation takes in: records (a list or a DataFrame) and scorers, checked
before any model is called."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import pydantic

from llmloop.errors import ValidationError
from llmloop.evaluation.scorers import ScorerConfig, load_scorer
from llmloop.evaluation.targets import RecordOutputs, Target
from llmloop.records import Record

SECTIONS = ("inputs", "outputs", "expectations", "metadata")
_SHOWN = 5
MAX_RECORD_ID = 200  # eval_results.record_id


def _record_from_mapping(row: Mapping[str, Any], position: int) -> Record:
    data: dict[str, Any] = {}
    for column, value in row.items():
        column = str(column)
        if column in Record.model_fields:
            if not (isinstance(value, float) and pd.isna(value)):
                data[column] = value
            continue
        section, dot, key = column.partition(".")
        if not dot or section not in SECTIONS:
            raise ValidationError(
                f"record {position}: column {column!r} is not one of {', '.join(SECTIONS)} "
                "nor '<section>.<field>' such as 'inputs.question'"
            )
        data.setdefault(section, {})[key] = value
    data.setdefault("inputs", {})
    try:
        return Record.model_validate(data)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ValidationError(f"record {position} is invalid: {problems}") from None


def to_records(records: Iterable[Record | Mapping[str, Any]] | pd.DataFrame) -> list[Record]:
    """Records from Records, dicts, or a DataFrame (columns ``inputs``/``expectations``/…
    holding dicts, or flat ``inputs.question``-style columns)."""
    if isinstance(records, pd.DataFrame):
        rows: Iterable[Any] = records.to_dict(orient="records")
    elif isinstance(records, str | bytes | Mapping):
        raise ValidationError("records must be a list of records or a DataFrame")
    else:
        rows = records
    out: list[Record] = []
    for position, item in enumerate(rows):
        if isinstance(item, Record):
            out.append(item)
        elif isinstance(item, Mapping):
            out.append(_record_from_mapping(item, position))
        else:
            raise ValidationError(
                f"record {position} is a {type(item).__name__}; give a Record or a dict"
            )
    too_long = next((r.id for r in out if len(r.id) > MAX_RECORD_ID), None)
    if too_long is not None:
        raise ValidationError(
            f"record id {too_long[:40]!r}… is longer than {MAX_RECORD_ID} characters"
        )
    ids = [r.id for r in out]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise ValidationError(f"record id {duplicate!r} appears more than once")
    return out


def to_scorers(scorers: Sequence[ScorerConfig | str | Mapping[str, Any]]) -> list[ScorerConfig]:
    if isinstance(scorers, str | Mapping | ScorerConfig):
        scorers = [scorers]
    configs = [load_scorer(s) for s in scorers]
    if not configs:
        raise ValidationError("give at least one scorer")
    return configs


def field_needs(target: Target, scorers: Sequence[ScorerConfig]) -> list[tuple[str, str, str]]:
    """``(section, key, who needs it)`` for every field the scorers need from each record
    (outputs only when the records carry them, i.e. there is no target)."""
    needs: list[tuple[str, str, str]] = []
    for config in scorers:
        for part, name in config.requires():
            if part != "outputs" or isinstance(target, RecordOutputs):
                needs.append((part, name, f"scorer {config.score_name!r}"))
    return needs


def check_fields(
    target: Target,
    records: Sequence[Record],
    scorers: Sequence[ScorerConfig],
    *,
    first_position: int = 0,
) -> None:
    """Fail before any model call when a record lacks a field the target or a scorer needs,
    naming the field, who needs it and the first records lacking it."""
    needs = field_needs(target, scorers)
    missing: dict[tuple[str, str, str], list[str]] = {}
    for position, record in enumerate(records, start=first_position):
        wanted: list[tuple[str, str, str]] = list(needs)
        wanted += [("inputs", k, "the prompt template") for k in target.required_inputs(record)]
        for section, key, who in wanted:
            values = getattr(record, section) or {}
            if key not in values:
                missing.setdefault((section, key, who), []).append(f"{position} ({record.id})")
    if missing:
        problems = [
            f"{section}.{key} (needed by {who}) is missing in {len(where)} record(s): "
            + ", ".join(where[:_SHOWN])
            + (" …" if len(where) > _SHOWN else "")
            for (section, key, who), where in missing.items()
        ]
        details = [
            {"field": f"{section}.{key}", "needed_by": who, "records": len(where)}
            for (section, key, who), where in missing.items()
        ]
        raise ValidationError("; ".join(problems), details=details)

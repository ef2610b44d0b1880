"""Structured-output scorers: JSON validity and JSON-schema conformance."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import jsonschema
from pydantic import field_validator

from llmloop.evaluation.scorers.base import Sample, ScorerConfig, Section, scorer
from llmloop.records import Score


def _parse(sample: Sample, field: str) -> tuple[Any, str | None]:
    """The output field as JSON, and the reason it is not, if it is not."""
    value = sample.get("outputs", field)
    if not isinstance(value, str):
        return value, None  # already structured
    try:
        return json.loads(value), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"


class JsonValid(ScorerConfig):
    kind: ClassVar[str] = "json_valid"
    output_field: str = "text"

    def requires(self) -> list[tuple[Section, str]]:
        return [("outputs", self.output_field)]


@scorer(JsonValid)
def json_valid(config: JsonValid, sample: Sample) -> Score:
    _, problem = _parse(sample, config.output_field)
    return sample.score(config, problem is None, rationale=problem)


class JsonSchema(ScorerConfig):
    """Whether the output parses as JSON and conforms to ``json_schema``."""

    kind: ClassVar[str] = "json_schema"
    json_schema: dict[str, Any]
    output_field: str = "text"

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            jsonschema.validators.validator_for(value).check_schema(value)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON schema: {exc.message}") from None
        return value

    def requires(self) -> list[tuple[Section, str]]:
        return [("outputs", self.output_field)]


@scorer(JsonSchema)
def json_schema(config: JsonSchema, sample: Sample) -> Score:
    document, problem = _parse(sample, config.output_field)
    if problem is None:
        validator = jsonschema.validators.validator_for(config.json_schema)(config.json_schema)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(root)"
            problem = f"{where}: {errors[0].message}"
            if len(errors) > 1:
                problem += f" (and {len(errors) - 1} more)"
    return sample.score(config, problem is None, rationale=problem)

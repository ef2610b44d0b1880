"""The UI's navigation: each capability adds its pages here, in one place."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NavItem:
    key: str
    label: str
    path: str
    section: str


NAV: tuple[NavItem, ...] = (
    NavItem("home", "Overview", "/", "Project"),
    NavItem("datasets", "Datasets", "/datasets", "Data"),
    NavItem("queues", "Annotation", "/queues", "Data"),
    NavItem("labeling", "Labeling", "/labeling", "Data"),
    NavItem("prompts", "Prompts", "/prompts", "Build"),
    NavItem("models", "Models", "/models", "Build"),
    NavItem("evaluations", "Evaluations", "/evaluations", "Evaluate"),
    NavItem("experiments", "Experiments", "/experiments", "Evaluate"),
    NavItem("suites", "Suites", "/suites", "Evaluate"),
    NavItem("deployments", "Deployments", "/deployments", "Deploy"),
    NavItem("traces", "Traces", "/traces", "Monitor"),
    NavItem("keys", "API keys", "/keys", "Settings"),
    NavItem("audit", "Audit log", "/audit", "Settings"),
)


def sections() -> list[tuple[str, list[NavItem]]]:
    order: list[str] = []
    grouped: dict[str, list[NavItem]] = {}
    for item in NAV:
        if item.section not in grouped:
            order.append(item.section)
            grouped[item.section] = []
        grouped[item.section].append(item)
    return [(name, grouped[name]) for name in order]

"""The labeling pages in headless Chromium against a live server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from llmloop.data.datasets import Datasets
from llmloop.labeling.service import Labeling, SimulationRequest
from llmloop.labeling.specs import LFSpec
from llmloop.records import Record
from llmloop.store.traces import TraceRepository
from llmloop.store.traces_types import Span
from support import LiveServer, Tenant

pytestmark = pytest.mark.browser

SPAM = ["WIN A PRIZE NOW", "free money, click here", "cheap pills free shipping", "FREE CASH"]
HAM = ["meeting at noon", "notes from the meeting", "lunch tomorrow?", "the build broke"]


def signed_in(page: Page, server: LiveServer, secret: str, path: str) -> None:
    page.context.add_cookies([{"name": "llmloop_key", "value": secret, "url": server.url}])
    page.goto(f"{server.url}{path}")


@pytest.fixture
def acme(live_server: LiveServer) -> Tenant:
    tenant = live_server.tenant("acme-labels")
    runtime = live_server.runtime
    project = tenant.project.id
    data = Datasets(runtime.db, runtime.tenancy.audit)
    texts = [(t, "spam") for t in SPAM * 4] + [(t, "ham") for t in HAM * 4]
    rows = [
        Record(id=f"m{i}", inputs={"text": f"{t} {i}"}, expectations={"kind": y},
               metadata={"language": "en"})
        for i, (t, y) in enumerate(texts)
    ]  # fmt: skip
    data.commit(project, "mail", rows, actor="key:admin", create=True)
    labeling = Labeling(runtime.db, runtime.tenancy.audit)
    specs = [
        LFSpec(kind="keyword", name="free", keywords=["free", "prize"], label="spam"),
        LFSpec(kind="regex", name="meeting", pattern=r"\bmeeting\b", label="ham"),
    ]
    labeling.apply(project, "mail", specs=specs, classes=["ham", "spam"], gold_field="kind",
                   actor="key:admin")  # fmt: skip
    labeling.fit(project, "mail", "default", actor="key:admin")
    request = SimulationRequest(label_field="kind", strategies=["entropy", "k_center"],
                                initial=4, batch=4, rounds=3)  # fmt: skip
    labeling.simulate(project, "mail", request, actor="key:admin")
    start = datetime(2026, 11, 1, tzinfo=UTC)
    traffic = [(f"{t} {i}", "en") for i, t in enumerate(SPAM + HAM)]
    traffic += [(f"wo ist mein paket nummer {i}", "de") for i in range(6)]
    spans = []
    for i, (text, lang) in enumerate(traffic):
        at = start + timedelta(minutes=i)
        spans.append(
            Span(trace_id=f"{i + 1:032x}", span_id=f"{i + 1:016x}", name="answer", start_time=at,
                 end_time=at + timedelta(seconds=1), duration_ms=1000, inputs={"text": text},
                 attributes={"language": lang})
        )  # fmt: skip
    TraceRepository(runtime.db).insert(project, spans)
    return tenant


def test_analysis_model_summary_and_learning_curves(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("viewer"), "/labeling")
    expect(page.locator(".nav-link.active")).to_have_text("Labeling")
    page.get_by_role("link", name="mail", exact=True).click()
    page.wait_for_url(f"{live_server.url}/labeling/mail")
    rows = page.locator("#lf-analysis tbody tr")
    expect(rows).to_have_count(2)
    free = page.locator("#lf-analysis tr[data-function='free'] td")
    expect(free.nth(2)).to_have_text("spam")
    expect(free.nth(3)).to_have_text("50.0%")  # every spam mail
    expect(free.nth(6)).to_have_text("100.0%")  # correct wherever it votes
    expect(page.locator("#matrix-coverage")).to_contain_text("75.0% of records covered")
    expect(page.locator("#vs-majority tr[data-method='label_model'] td").nth(2)).to_have_text("24")
    expect(page.locator("#class-balance tbody tr")).to_have_count(2)
    page.wait_for_function("document.body.dataset.chartsReady === 'true'")
    series = page.evaluate("Object.values(Chart.instances)[0].data.datasets.map(d => d.label)")
    assert series == ["random", "entropy", "k_center"]


def test_new_matrix_from_the_form(page: Page, live_server: LiveServer, acme: Tenant) -> None:
    signed_in(page, live_server, acme.secret("editor"), "/labeling/mail")
    page.locator("#new-matrix summary").click()
    page.fill("input[name=classes]", "ham, spam")
    page.fill("input[name=name]", "typed")
    page.fill(
        "textarea[name=functions]",
        '[{"kind": "keyword", "name": "cash", "keywords": ["cash"], "label": "spam"}]',
    )
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"{live_server.url}/labeling/mail?matrix=typed")
    expect(page.locator("#lf-analysis tbody tr")).to_have_count(1)
    expect(page.locator("#lf-analysis tr[data-function='cash'] td").nth(3)).to_have_text("12.5%")
    page.locator("#new-matrix summary").click()
    page.fill("input[name=classes]", "ham, spam")
    page.fill("textarea[name=functions]", '[{"kind": "keyword", "name": "x", "label": "eggs"}]')
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#apply-result .error")).to_contain_text("votes 'eggs', not one of")


def test_coverage_page_reports_the_missing_language(
    page: Page, live_server: LiveServer, acme: Tenant
) -> None:
    signed_in(page, live_server, acme.secret("viewer"), "/labeling/mail/coverage?slices=language")
    expect(page.locator("figure.slice[data-slice='language'] .missing")).to_have_text("missing: de")
    expect(page.locator("#suggestions tbody tr").first).to_contain_text("wo ist mein paket")
    page.wait_for_function("document.body.dataset.chartsReady === 'true'")
    labels = page.evaluate("Object.values(Chart.instances)[0].data.labels")
    assert labels == ["en", "de"]

"""A browser app on another origin sends feedback with the documented snippet."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from spans_factory import make_span, new_trace_id

from llmloop.store.traces import TraceRepository
from support import LiveServer, Tenant

pytestmark = pytest.mark.browser
DOC = Path(__file__).resolve().parents[2] / "docs" / "feedback.md"


def doc_snippet(server_url: str, project: str, key: str) -> str:
    """The JavaScript block of docs/feedback.md with this server's values filled in."""
    [code] = re.findall(r"```js\n(.*?)```", DOC.read_text(), flags=re.S)
    values = {"LLMLOOP_URL": server_url, "LLMLOOP_PROJECT": project, "LLMLOOP_PUBLIC_KEY": key}
    for name, value in values.items():
        code, count = re.subn(rf'const {name} = "[^"]*";', f'const {name} = "{value}";', code)
        assert count == 1, name
    return code


APP_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Shop assistant</title></head>
<body><p id="answer" data-trace-id="{trace_id}">Your refund is on its way.</p>
<button id="down">👎</button><pre id="result"></pre>
<script>{snippet}
document.getElementById("down").addEventListener("click", async () => {{
  const traceId = document.getElementById("answer").dataset.traceId;
  try {{
    const score = await sendFeedback(traceId, false, {{comment: "wrong order", userId: "u-42"}});
    document.getElementById("result").textContent = "stored " + score.id;
  }} catch (error) {{
    document.getElementById("result").textContent = "failed " + error;
  }}
}});
</script></body></html>"""


class StaticSite:
    """One HTML page served on its own loopback port: another origin than the server."""

    def __init__(self) -> None:
        self.html = b""
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(site.html)))
                self.end_headers()
                self.wfile.write(site.html)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def site() -> Iterator[StaticSite]:
    served = StaticSite()
    yield served
    served.close()


def test_a_page_on_another_origin_posts_feedback_that_shows_on_the_trace(
    page: Page, live_server: LiveServer, site: StaticSite
) -> None:
    tenant: Tenant = live_server.tenant("shop")
    trace_id = new_trace_id()
    start = datetime.now(UTC) - timedelta(minutes=5)
    span = make_span(trace_id, name="refund-answer", start_time=start,
                     inputs={"question": "refund?"}, outputs={"answer": "on its way"})  # fmt: skip
    TraceRepository(live_server.runtime.db).insert(tenant.project.id, [span])
    snippet = doc_snippet(live_server.url, tenant.project.name, tenant.public_secret)
    site.html = APP_PAGE.format(trace_id=trace_id, snippet=snippet).encode()
    assert site.url != live_server.url  # a different port: a different origin

    page.goto(site.url)
    page.click("#down")
    expect(page.locator("#result")).to_have_text(re.compile(r"^stored scr_"))

    [score] = TraceRepository(live_server.runtime.db).scores(tenant.project.id, trace_id)
    assert (score.value, score.name, str(score.source), score.rationale) == (
        False, "thumbs", "user:u-42", "wrong order",
    )  # fmt: skip

    # other routes have no CORS: the browser refuses to even send the request
    denied = page.evaluate(
        """async ([url, key]) => fetch(url, {headers: {Authorization: `Bearer ${key}`}})
             .then((r) => r.status, () => "blocked")""",
        [f"{live_server.url}/api/v1/projects/{tenant.project.name}/traces", tenant.public_secret],
    )
    assert denied == "blocked"

    page.context.add_cookies(
        [{"name": "llmloop_key", "value": tenant.secret("viewer"), "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/traces/{trace_id}")
    expect(page.locator("#feedback-summary")).to_contain_text("End-user feedback: 1")
    expect(page.locator("#feedback-summary")).to_contain_text("1 thumbs down")
    row = page.locator("#scores tbody tr.feedback td")
    expect(row).to_have_text(["thumbs", "False", f"trace {trace_id}", "user:u-42", "wrong order"])

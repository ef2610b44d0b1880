"""UI routes without a browser: login, redirects, escaping, the key fragment."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from llmloop.records import Role
from llmloop.runtime import Runtime
from support import Tenant


@pytest.mark.parametrize("path", ["/", "/keys", "/audit", "/models"])
def test_pages_redirect_to_login_without_a_key(client: TestClient, path: str) -> None:
    response = client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


def test_login_sets_an_httponly_cookie_and_redirects(client: TestClient, tenant: Tenant) -> None:
    response = client.post(
        "/login?next=/audit", data={"key": f"  {tenant.secret()} "}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/audit"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"llmloop_key={tenant.secret()};")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert client.get("/audit").status_code == 200


@pytest.mark.parametrize(
    "target", ["//evil.example/phish", "/\\evil.example", "https://evil.example/", "evil"]
)
def test_login_never_redirects_off_site(client: TestClient, tenant: Tenant, target: str) -> None:
    response = client.post(
        "/login", params={"next": target}, data={"key": tenant.secret()}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_login_with_a_bad_key_shows_an_error(client: TestClient, tenant: Tenant) -> None:
    response = client.post("/login", data={"key": "llk_wrong"}, follow_redirects=False)
    assert response.status_code == 401
    assert "That key is invalid or revoked." in response.text
    assert "set-cookie" not in response.headers


def test_public_key_cannot_log_in(client: TestClient, tenant: Tenant) -> None:
    response = client.post("/login", data={"key": tenant.public_secret}, follow_redirects=False)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_logout_clears_the_cookie(client: TestClient, tenant: Tenant) -> None:
    client.cookies.set("llmloop_key", tenant.secret())
    response = client.post("/logout", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert response.headers["set-cookie"].startswith('llmloop_key="";')


def test_user_text_is_escaped(client: TestClient, tenant: Tenant, runtime: Runtime) -> None:
    evil = "<img src=x onerror=alert(1)>"
    runtime.tenancy.create_key(tenant.project.id, evil, Role.viewer, actor=evil)
    client.cookies.set("llmloop_key", tenant.secret())
    for page in ("/keys", "/audit", "/"):
        html = client.get(page).text
        assert evil not in html, page
        assert "&lt;img src=x onerror=alert(1)&gt;" in html, page


def test_key_fragment_shows_the_secret_once(
    client: TestClient, tenant: Tenant, runtime: Runtime
) -> None:
    client.cookies.set("llmloop_key", tenant.secret())
    response = client.post("/keys", data={"name": "deploy-bot", "role": "editor"})
    assert response.status_code == 200
    (key,) = [k for k in runtime.tenancy.keys.list(tenant.project.id) if k.name == "deploy-bot"]
    assert key.role is Role.editor
    secret = response.text.split('<code class="secret">')[1].split("</code>")[0]
    assert runtime.tenancy.authenticate(secret).key == key
    assert secret not in client.get("/keys").text


@pytest.mark.parametrize(
    ("role", "form", "message"),
    [
        (Role.editor, {"name": "x", "role": "viewer"}, "needs the &#39;admin&#39; role"),
        (Role.admin, {"name": "x", "role": "owner"}, "&#39;owner&#39; is not a valid Role"),
        (Role.admin, {"name": "  ", "role": "viewer"}, "a key needs a non-empty name"),
    ],
)
def test_key_fragment_errors(
    client: TestClient,
    tenant: Tenant,
    runtime: Runtime,
    role: Role,
    form: dict[str, str],
    message: str,
) -> None:
    client.cookies.set("llmloop_key", tenant.secret(role))
    response = client.post("/keys", data=form)
    assert response.status_code == 400
    assert 'role="alert"' in response.text
    assert message in response.text
    assert len(runtime.tenancy.keys.list(tenant.project.id)) == 4


def test_key_fragment_needs_a_login(client: TestClient) -> None:
    assert client.post("/keys", data={"name": "x"}).status_code == 401


def test_viewer_sees_no_keys(client: TestClient, tenant: Tenant) -> None:
    client.cookies.set("llmloop_key", tenant.secret("viewer"))
    html = client.get("/keys").text
    assert "Only admins of this project can see and issue keys." in html
    assert tenant.keys[Role.admin].prefix not in html

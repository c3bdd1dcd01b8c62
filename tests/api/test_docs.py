"""/docs and /redoc work offline: every script, stylesheet and icon they load is served by
the service itself (from installed packages), and they carry no inline script or style,
so a same-origin Content-Security-Policy lets them run.

tests/e2e_browser/test_api_docs.py renders them in Chromium with other hosts unreachable.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings

PAGES = ["/docs", "/redoc"]


class Page(HTMLParser):
    """The URLs a page loads (by kind), and anything inline that a CSP would block."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[tuple[str, str]] = []  # (kind, url)
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {name: value or "" for name, value in attrs}
        self.inline += [f"{tag} {name}=" for name in a if name == "style" or name.startswith("on")]
        if tag == "script":
            self._in_script = "src" not in a
            if "src" in a:
                self.loads.append(("script", a["src"]))
        elif tag == "link":
            rel = a.get("rel", "").lower().split()
            kind = "stylesheet" if "stylesheet" in rel else "icon" if "icon" in rel else rel[0]
            self.loads.append((kind, a.get("href", "")))
        elif tag == "style":
            self.inline.append("<style>")
        elif tag in ("img", "iframe", "object", "embed") and a.get("src"):
            self.loads.append((tag, a["src"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(f"<script>{data.strip()[:40]}")


def parse(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    return page


EXPECTED_TYPES = {
    "script": ("text/javascript", "application/javascript"),
    "stylesheet": ("text/css",),
    "icon": ("image/",),
}


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(database_url="sqlite://", secret_key="test-secret")))


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_loads_only_local_assets_that_answer(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = parse(response.text)
    kinds = {kind for kind, _ in page.loads}
    assert "script" in kinds and "stylesheet" in kinds
    for kind, url in page.loads:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{path} loads {url} from another host"
        assert url.startswith("/docs/assets/"), url
        asset = client.get(url)
        assert asset.status_code == 200, f"{url}: {asset.status_code}"
        content_type = asset.headers["content-type"]
        assert content_type.startswith(EXPECTED_TYPES[kind]), f"{url}: {content_type}"
        assert len(asset.content) > 0


@pytest.mark.parametrize("path", PAGES)
def test_docs_page_has_no_inline_script_or_style(client: TestClient, path: str) -> None:
    assert parse(client.get(path).text).inline == []


def test_swagger_ui_is_started_by_a_script_file_reading_the_openapi_url(
    client: TestClient,
) -> None:
    page = client.get("/docs").text
    assert 'data-openapi-url="/openapi.json"' in page
    scripts = [url for kind, url in parse(page).loads if kind == "script"]
    assert scripts == ["/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-start.js"]
    start = client.get(scripts[1]).text
    assert "SwaggerUIBundle(" in start and "data-openapi-url" in start
    assert client.get("/openapi.json").status_code == 200


def test_redoc_reads_the_openapi_document_of_the_service(client: TestClient) -> None:
    assert '<redoc spec-url="/openapi.json"></redoc>' in client.get("/redoc").text


def test_docs_behind_a_path_prefix_load_their_assets_under_it() -> None:
    app = create_app(Settings(database_url="sqlite://", secret_key="test-secret"))
    client = TestClient(app, root_path="/followup")
    page = client.get("/docs").text
    urls = [url for _, url in parse(page).loads]
    assert urls and all(url.startswith("/followup/docs/assets/") for url in urls)
    assert 'data-openapi-url="/followup/openapi.json"' in page


def test_the_cdn_pages_and_unknown_assets_are_not_served(client: TestClient) -> None:
    assert client.get("/docs/oauth2-redirect").status_code == 404
    assert client.get("/docs/assets/nothing.js").status_code == 404
    assert client.get("/docs/assets/../docs.py").status_code == 404
    paths = client.get("/openapi.json").json()["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc"))]

"""The API's documentation pages, served without any CDN (hospital networks are often
offline): Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

Their scripts and styles come from installed packages, under ``/docs/assets/``: the
Swagger UI and ReDoc dist files that ``fastapi-offline`` ships, and this package's
``static/`` folder (the script that starts Swagger UI, a stylesheet). The pages carry no
inline script or style, so a Content-Security-Policy allowing only same-origin scripts
and styles lets them load.
"""

from __future__ import annotations

from html import escape

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
# Looked up in this order; fastapi-offline's folder holds swagger-ui-bundle.js,
# swagger-ui.css, redoc.standalone.js and favicon.png.
ASSET_PACKAGES: list[str | tuple[str, str]] = [("app.api", "static"), ("fastapi_offline", "static")]

SWAGGER_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" type="text/css" href="{assets}/swagger-ui.css">
<link rel="stylesheet" type="text/css" href="{assets}/docs.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-start.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" type="text/css" href="{assets}/docs.css">
</head>
<body>
<noscript>ReDoc needs JavaScript; the OpenAPI document is at {openapi_url}.</noscript>
<redoc spec-url="{openapi_url}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def install(app: FastAPI) -> None:
    """Serve /docs, /redoc and their assets. Build the app with docs_url and redoc_url
    set to None, so FastAPI's CDN-based pages are not added too."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    app.mount(ASSETS, StaticFiles(packages=ASSET_PACKAGES), name="docs-assets")

    def render(page: str, request: Request, title: str) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return HTMLResponse(page.format(
            title=escape(f"{app.title} - {title}"),
            assets=escape(f"{root}{ASSETS}"),
            openapi_url=escape(f"{root}{openapi_url}"),
        ))

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        return render(SWAGGER_PAGE, request, "Swagger UI")

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        return render(REDOC_PAGE, request, "ReDoc")

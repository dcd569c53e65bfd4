"""``/docs``: Swagger UI served from this process, so the page works on a site without internet.

FastAPI's default page loads Swagger UI from a CDN and starts it with an inline script; here
the assets come from the ``swagger-ui-bundle-v2`` wheel and the start-up script is a file of
our own, so the page also runs under a Content-Security-Policy that forbids inline scripts.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
INIT_PATH = f"{DOCS_PATH}/init.js"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} - API documentation</title>
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script src="{init}"></script>
</body>
</html>
"""

# validatorUrl null: the default sends the document to an online validator.
_INIT = """"use strict";
window.ui = SwaggerUIBundle({{
  url: {openapi_url},
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
}});
"""


def install_docs(app: FastAPI, *, title: str, openapi_url: str = "/openapi.json") -> None:
    """Serve Swagger UI at ``/docs`` (create the app with ``docs_url=None``)."""
    page = _PAGE.format(title=title, assets=ASSETS_PATH, init=INIT_PATH)
    init = _INIT.format(openapi_url=json.dumps(openapi_url))

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(INIT_PATH, include_in_schema=False)
    async def docs_init() -> Response:
        return Response(init, media_type="text/javascript")

    app.mount(ASSETS_PATH, StaticFiles(directory=Path(str(swagger_ui_path))), name="docs-assets")

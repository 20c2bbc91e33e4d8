"""The Swagger UI page of every service, without inline script, so a strict CSP allows it.

flask-smorest's own `swagger_ui.html` starts Swagger UI from an inline `<script>`; the gateway
serves the docs pages with `script-src 'self'` (deploy/gateway/routes.conf), which forbids it.
This page passes the spec's URL and the UI's configuration as data attributes and starts the UI
from `/<service>/docs/init.js`, a file served beside Swagger UI's own assets.
"""

from __future__ import annotations

from flask import Flask, Response
from jinja2 import BaseLoader, ChoiceLoader, DictLoader

SWAGGER_UI_PAGE = """<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>{{ title }}</title>
    <link href="{{ swagger_ui_url }}swagger-ui.css" rel="stylesheet" type="text/css">
  </head>
  <body>
    <div id="swagger-ui-container" data-spec-url="{{ spec_url }}"
         data-config='{{ swagger_ui_config | tojson }}'></div>
    <script src="{{ swagger_ui_url }}swagger-ui-standalone-preset.js"></script>
    <script src="{{ swagger_ui_url }}swagger-ui-bundle.js"></script>
    <script src="{{ init_url }}"></script>
  </body>
</html>
"""

INIT_SCRIPT = """window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  var config = JSON.parse(container.getAttribute("data-config") || "{}");
  config.url = container.getAttribute("data-spec-url");
  config.dom_id = "#swagger-ui-container";
  window.ui = SwaggerUIBundle(config);
});
"""


def install_docs_page(app: Flask, prefix: str) -> None:
    """Serve the docs page from SWAGGER_UI_PAGE and its starter from `<prefix>/docs/init.js`."""
    init_url = f"{prefix}/docs/init.js"
    page = SWAGGER_UI_PAGE.replace("{{ init_url }}", init_url)
    loaders: list[BaseLoader] = [DictLoader({"swagger_ui.html": page})]
    if app.jinja_loader is not None:
        loaders.append(app.jinja_loader)
    app.jinja_loader = ChoiceLoader(loaders)  # type: ignore[method-assign,assignment]

    @app.get(init_url)
    def swagger_ui_init() -> Response:
        """Starts Swagger UI on the docs page (no inline script there)."""
        response = Response(INIT_SCRIPT, mimetype="text/javascript")
        response.cache_control.max_age = 3600
        return response

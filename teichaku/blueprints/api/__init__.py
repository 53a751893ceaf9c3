"""The JSON API (``/api/v1``): flask-smorest blueprints, the contract's error format, OpenAPI.

Bearer tokens only: the API takes no cookies, so it is exempt from CSRF.
"""
from __future__ import annotations

import importlib
import pkgutil

from flask import Flask
from flask_smorest import Api

from ...platform.errors import api_error
from ...platform.extensions import csrf
from .errors import DeclaredErrors, ErrorSchema


class ContractApi(Api):
    """flask-smorest with the contract's ``{"error": {...}}`` bodies instead of its own.

    The document declares that body for every error answer (``ERROR_SCHEMA``) and, operation by
    operation, the statuses that can happen (``errors.DeclaredErrors``); there is no catch-all
    ``default`` answer."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None

    def handle_http_exception(self, error):  # pragma: no cover - replaced by platform.errors
        return api_error(error.code or 500)


api = ContractApi()


def register_api(app: Flask) -> None:
    app.config.setdefault("API_SPEC_OPTIONS", {
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "info": {"description": "Teichaku public API. Errors: {\"error\": {\"code\", \"message\", \"details\"}}."},
    })
    api.init_app(app, spec_kwargs={"extra_plugins": [DeclaredErrors(app)]})
    # Every module of this package with a ``blp`` is part of /api/v1.
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "blp"):
            api.register_blueprint(module.blp)
            csrf.exempt(module.blp)

"""HTTP: server-rendered pages and the ``/api/v1`` JSON API.  Views stay thin; they call services."""
from __future__ import annotations

from flask import Flask

from .api import register_api
from .pages import register_pages


def register(app: Flask) -> None:
    register_pages(app)
    register_api(app)

"""WSGI entry point: ``gunicorn wsgi:app`` serves the app as the application role.

``flask --app wsgi <command>`` imports this module from inside the Flask CLI; CLI commands
(migrations, ``centers seed``, ``users create``, ``audit verify``) then run as the schema owner,
as the contract requires.  ``flask run`` (a development server) stays on the application role.
"""
import sys

import click

from teichaku.app import create_app


def _database_role() -> str:
    in_cli = click.get_current_context(silent=True) is not None
    return "owner" if in_cli and "run" not in sys.argv[1:] else "app"


app = create_app(database_role=_database_role())

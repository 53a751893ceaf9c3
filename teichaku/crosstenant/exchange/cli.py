"""``flask --app wsgi exchange ...``: the case-study library's operator commands.

Registered by ``teichaku.cli.init_app``.
"""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ...platform.auth.models import User
from ...platform.extensions import db
from ...platform.tenancy import account_lookup
from .examples import load_source_examples

exchange_cli = AppGroup("exchange", help="事例の共有（事例ライブラリ）")


@exchange_cli.command("load-examples")
@click.option("--moderator", "moderator_email", required=True, help="an association account's e-mail")
def load_examples(moderator_email: str) -> None:
    """Publish the source document's seven examples as the association (no center shown)."""
    with account_lookup():
        moderator = db.session.scalar(select(User).where(User.email == moderator_email.strip().lower()))
    if moderator is None or moderator.role != "association" or not moderator.active:
        click.echo("エラー: 有効な全国協議会のアカウントを指定してください。", err=True)
        sys.exit(2)
    report = load_source_examples(moderator)
    for title in report.published:
        click.echo(f"published\t{title}")
    for title, count in report.awaiting_moderator:
        click.echo(f"awaiting moderator ({count} findings)\t{title}")
    for title in report.already_present:
        click.echo(f"already present\t{title}")

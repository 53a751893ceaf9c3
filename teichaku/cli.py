"""Command-line interface (``flask --app wsgi ...``), run as the schema owner.

Composition: the CLI groups of every layer are registered here, at the top of the package (each
domain keeps its own commands: ``crosstenant/aggregates/cli.py``, ``platform/handover/cli.py``
...).  The platform's own commands (centers, users, audit, demo, rls) are defined below.
Commands call the same services as the pages and the API.
"""
from __future__ import annotations

import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import select

from .crosstenant.aggregates.cli import aggregates_cli
from .crosstenant.exchange.cli import exchange_cli
from .crosstenant.retention.cli import retention_cli
from .platform.audit.services import verify
from .platform.auth.duties import DutyError, announce_center_admin, invitation_link
from .platform.auth.models import User
from .platform.auth.passwords import PasswordPolicyError
from .platform.auth.services import AccountError, create_user, prefecture_setup_link
from .platform.centers import center_by_code, list_centers, seed_centers
from .platform.extensions import db
from .platform.handover.cli import register as register_handover
from .platform.scope_token import derive_key, store_key, verifies
from .platform.tenancy import account_lookup

centers_cli = AppGroup("centers", help="センター（テナント）の管理")
users_cli = AppGroup("users", help="アカウントの管理")
audit_cli = AppGroup("audit", help="監査ログ")
demo_cli = AppGroup("demo", help="デモ用データ（開発環境のみ）")
rls_cli = AppGroup("rls", help="行レベルセキュリティ（スコープの鍵）")


GROUPS = (centers_cli, users_cli, audit_cli, demo_cli, rls_cli, aggregates_cli, exchange_cli, retention_cli)


def init_app(app: Flask) -> None:
    for group in GROUPS:
        app.cli.add_command(group)
    register_handover(centers_cli)  # centers keygen / export / import / handover


@centers_cli.command("seed")
def centers_seed() -> None:
    """Load the 48 centers (idempotent)."""
    created, existing = seed_centers()
    click.echo(f"centers: {created} created, {existing} already present", err=True)


@centers_cli.command("list")
def centers_list() -> None:
    for c in list_centers():
        click.echo(f"{c.code}\t{c.prefecture_code}\t{c.region}\t{'active' if c.active else 'inactive'}\t{c.name}")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True)
@click.option("--role", required=True)
@click.option("--center", "center_code", default=None)
@click.option("--name", "display_name", default="")
def users_create(email: str, password: str, role: str, center_code: str | None, display_name: str) -> None:
    """Create an account; prints its id alone on stdout."""
    try:
        user = create_user(email=email, password=password, role=role, center_code=center_code, display_name=display_name)
        announce_center_admin(user)  # every new center admin reaches the association and the admins
    except (AccountError, PasswordPolicyError) as exc:
        click.echo(f"エラー: {exc}", err=True)
        sys.exit(2)
    click.echo(str(user.id))


@users_cli.command("invitation-link")
@click.argument("email")
def users_invitation_link(email: str) -> None:
    """Print the one-time set-password link of a pending invitation alone on stdout (the shell is
    where it appears when no SMTP is configured; never on the operator's pages).  Audited."""
    try:
        link = invitation_link(email)
    except (DutyError, AccountError) as exc:
        click.echo(f"エラー: {exc}", err=True)
        sys.exit(2)
    click.echo("この招待リンクは一度だけ、期限内に使えます。本人に安全な方法で届けてください。", err=True)
    click.echo(link)


@users_cli.command("prefecture-link")
@click.argument("email")
def users_prefecture_link(email: str) -> None:
    """Print a one-time set-password link of a prefecture official (invited from the operator's
    pages when no e-mail can be sent); prints the link alone on stdout.  Audited."""
    try:
        url = prefecture_setup_link(email)
    except AccountError as exc:
        click.echo(f"エラー: {exc}", err=True)
        sys.exit(2)
    click.echo(url)


@audit_cli.command("verify")
@click.option("--center", "center_code", default=None, help="one center's chain only")
def audit_verify(center_code: str | None) -> None:
    """Recompute the hash chains; exit 1 if an entry was edited, inserted or deleted."""
    center_id = None
    if center_code:
        center = center_by_code(center_code)
        if center is None:
            click.echo("エラー: センターが見つかりません。", err=True)
            sys.exit(2)
        center_id = center.id
    result = verify(center_id)
    for problem in result.problems:
        click.echo(problem, err=True)
    click.echo(f"audit: {result.chains} chains, {result.entries} entries, {'OK' if result.ok else 'TAMPERED'}")
    sys.exit(0 if result.ok else 1)


@rls_cli.command("sync-key")
def rls_sync_key() -> None:
    """Store this environment's scope key (RLS_SCOPE_KEY, else from SECRET_KEY) in the database.

    Run as the schema owner after ``db upgrade`` and after changing either variable: the app
    refuses to start while the database would not verify its scope tokens.
    """
    if db.engine.dialect.name != "postgresql":
        click.echo("rls: no row-level security on this database; nothing to store", err=True)
        return
    key = derive_key(current_app.config)
    with db.engine.begin() as connection:
        store_key(connection, key)
    with db.engine.connect() as connection:
        ok = verifies(connection, key)
    if not ok:
        click.echo("エラー: 鍵を保存しましたが検証できません（db upgrade を先に実行してください）。", err=True)
        sys.exit(1)
    click.echo("rls: scope key stored and verified")


DEMO_PASSWORD = "demo-password-2026"
DEMO_ACCOUNTS = (
    ("staff@tokyo.demo.teichaku.jp", "staff", "tokyo", "東京 花子"),
    ("admin@tokyo.demo.teichaku.jp", "center_admin", "tokyo", "東京 一郎"),
    ("staff@osaka.demo.teichaku.jp", "staff", "osaka", "大阪 次郎"),
    ("admin@osaka.demo.teichaku.jp", "center_admin", "osaka", "大阪 三郎"),
    ("staff@fukuoka.demo.teichaku.jp", "staff", "fukuoka", "福岡 四郎"),
    # a prefecture official belongs to a prefecture: "tokyo" selects its prefecture (13 東京都)
    ("pref@tokyo.demo.teichaku.jp", "prefecture", "tokyo", "東京都 担当"),
    ("association@demo.teichaku.jp", "association", None, "全国協議会 担当"),
    ("ministry@demo.teichaku.jp", "ministry", None, "厚生労働省 担当"),
    ("platform@demo.teichaku.jp", "platform_admin", None, "運用管理者"),
)


@demo_cli.command("seed")
def demo_seed() -> None:
    """Create the demo accounts (never in production); prints how to sign in."""
    if current_app.config["TEICHAKU_ENV"] == "production":
        click.echo("エラー: 本番環境ではデモアカウントを作成しません。", err=True)
        sys.exit(2)
    for email, role, center, name in DEMO_ACCOUNTS:
        with account_lookup():
            exists = db.session.scalar(select(User.id).where(User.email == email))
        if not exists:
            create_user(email=email, password=DEMO_PASSWORD, role=role, center_code=center,
                        display_name=name, two_factor_exempt=True)
    click.echo("Demo accounts (password for all: %s):" % DEMO_PASSWORD)
    for email, role, center, _ in DEMO_ACCOUNTS:
        where = center
        if role == "prefecture":  # no center: the prefecture its center code selected
            place = center_by_code(center)
            where = f"{place.prefecture_code} {place.prefecture_name}"
        click.echo(f"  {role:15} {email}{'  (' + where + ')' if where else ''}")

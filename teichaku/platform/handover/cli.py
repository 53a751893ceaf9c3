"""``flask --app wsgi centers keygen|export|import|handover`` (registered on the ``centers`` group).

The CLI runs as the schema owner; ``export`` and ``import`` move the center's rows through a
second app built from the same configuration but connected as the application role, so
row-level security holds them to the one center (see ``store``).  Passphrases are never taken
on the command line (they would show in the process list and the shell history): from the
environment variable ``TEICHAKU_ARCHIVE_PASSPHRASE`` (or the one ``--passphrase-env`` names), or
from the first line of ``--passphrase-file``.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from ..auth.passwords import PasswordPolicyError
from ..centers import center_by_code
from ..extensions import db
from . import models as _models  # noqa: F401  (center_operators joins the metadata with the CLI)
from .archive import ArchiveRefused, fingerprint, generate_signing_key, load_public_key, load_signing_key
from .export import export_center
from .import_ import import_center
from .services import HandoverError, hand_over_center
from .store import HandoverRefused

PASSPHRASE_ENV = "TEICHAKU_ARCHIVE_PASSPHRASE"


def register(group: AppGroup) -> None:
    for command in (keygen, export_command, import_command, handover_command):
        group.add_command(command)


def _fail(message: str, status: int = 2) -> None:
    click.echo(f"エラー: {message}", err=True)
    sys.exit(status)


def _passphrase(env_name: str, path: Path | None) -> str:
    if path is not None:
        lines = Path(path).read_text("utf-8").splitlines()
        return lines[0] if lines else ""
    value = os.environ.get(env_name, "")
    if not value:
        _fail(f"合言葉を環境変数 {env_name} か --passphrase-file で指定してください。")
    return value


# The documented exception to "the boundary commits": ``export`` and ``import`` work in this second
# app's session, outside the command's boundary (which holds the schema owner's session), and
# ``export_center`` / ``import_center`` commit there themselves, in short transactions on purpose
# (export: one read-only snapshot, then its audit entry; import: the archive's rows in one, committed
# only once the files are in place), so that the application role's RLS holds each to the one center.
@contextmanager
def application_role_app() -> Iterator[None]:
    """An app context of this configuration, connected as the application role.

    The factory is the one that built the current app (``teichaku.app`` sits above the platform,
    which never imports it)."""
    create_app = current_app.extensions["teichaku_app_factory"]
    app = create_app(dict(current_app.config), database_role="app")
    with app.app_context():
        try:
            yield
        finally:
            db.session.remove()
            db.engine.dispose()


passphrase_options = [
    click.option("--passphrase-env", default=PASSPHRASE_ENV, show_default=True,
                 help="the environment variable holding the passphrase"),
    click.option("--passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                 help="a file whose first line is the passphrase"),
]


def _with_passphrase(f):
    for option in reversed(passphrase_options):
        f = option(f)
    return f


@click.command("keygen")
@click.option("--out", "prefix", required=True, type=click.Path(path_type=Path),
              help="writes PREFIX.key (private, mode 0600) and PREFIX.pub")
def keygen(prefix: Path) -> None:
    """Create the exporting operator's Ed25519 signing key pair; prints the public key's fingerprint."""
    try:
        private_path, public_path = generate_signing_key(prefix)
    except FileExistsError:
        _fail(f"{prefix}.key は既にあります（上書きしません）。")
    click.echo(f"signing key: {private_path} (keep secret)\npublic key:  {public_path} (give to the receiving operator)", err=True)
    click.echo(fingerprint(load_public_key(public_path)))


@click.command("export")
@with_appcontext
@click.argument("code")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--signing-key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_with_passphrase
def export_command(code: str, out_path: Path, signing_key: Path, passphrase_env: str, passphrase_file: Path | None) -> None:
    """Write everything center CODE owns to one encrypted, signed archive (prints its SHA-512)."""
    passphrase = _passphrase(passphrase_env, passphrase_file)
    center = center_by_code(code)
    if center is not None and center.active:
        click.echo("注意: センターは有効のままです。書き出し後の入力はアーカイブに入りません"
                   "（引き継ぎでは先にセンターを無効にしてください）。", err=True)
    part = out_path.with_name(out_path.name + ".part")
    try:
        key = load_signing_key(signing_key)
        with application_role_app(), open(part, "xb") as out:
            summary = export_center(code, out, passphrase=passphrase, signing_key=key)
        os.replace(part, out_path)
    except (ArchiveRefused, HandoverRefused) as exc:
        part.unlink(missing_ok=True)
        _fail(str(exc))
    except FileExistsError:
        _fail(f"{part} が既にあります（別の書き出しが実行中か、前回の残りです）。")
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    for name, count in summary.rows.items():
        if count:
            click.echo(f"  {name}: {count}", err=True)
    click.echo(f"center {summary.center_code}: {sum(summary.rows.values())} rows, {summary.files} files -> {out_path}", err=True)
    click.echo(summary.sha512)


@click.command("import")
@with_appcontext
@click.argument("archive_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the exporting operator's public key (PREFIX.pub of centers keygen)")
@_with_passphrase
def import_command(archive_path: Path, public_key: Path, passphrase_env: str, passphrase_file: Path | None) -> None:
    """Load a center's archive into this installation (an empty center of the same code)."""
    passphrase = _passphrase(passphrase_env, passphrase_file)
    try:
        key = load_public_key(public_key)
        with application_role_app(), open(archive_path, "rb") as f:
            summary = import_center(f, public_key=key, passphrase=passphrase)
    except (ArchiveRefused, HandoverRefused) as exc:
        _fail(f"取り込みを中止しました。{exc}", status=1)
    click.echo(f"center {summary.center_code}: {sum(summary.rows.values())} rows, {summary.files} files imported; "
               "audit chain verified; accounts imported disabled", err=True)


@click.command("handover")
@with_appcontext
@click.argument("code")
@click.option("--new-admin-email", required=True)
@click.option("--operator-name", required=True, help="the new operator (受託法人)")
@click.option("--new-admin-name", default="", help="the new center admin's name")
def handover_command(code: str, new_admin_email: str, operator_name: str, new_admin_name: str) -> None:
    """Move center CODE to a new operator: disable the old accounts, record the operator, invite
    the new center admin.  Prints the one-time set-password URL alone on stdout."""
    center = center_by_code(code)
    if center is None:
        _fail("指定されたセンターが見つかりません。")
    try:
        result = hand_over_center(center, operator_name=operator_name, new_admin_email=new_admin_email,
                                  new_admin_name=new_admin_name, requires_confirmation=False)
    except (HandoverError, PasswordPolicyError, ValueError) as exc:
        _fail(str(exc))
    click.echo(f"center {code}: operator {result.previous_operator or '(未登録)'} -> {result.operator_name}; "
               f"{result.deactivated} accounts disabled; center admin {result.new_admin.email} invited "
               "(the link below works once, for a limited time)", err=True)
    click.echo(result.setup_url)

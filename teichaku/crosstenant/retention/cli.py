"""``flask --app wsgi retention review``: run the monthly review now (the operator's command).

It only lists; erasing is the center admin's decision on the retention page.  Prints counts per
center, never a name.
"""
from __future__ import annotations

import click
from flask.cli import AppGroup

from ...platform.centers import center_by_code, list_centers
from ...platform.tenancy import set_tenant
from .services import run_review

retention_cli = AppGroup("retention", help="保存期間と削除の確認")


@retention_cli.command("review")
@click.option("--center", "center_code", default=None, help="one center's code (default: every active center)")
def review(center_code: str | None) -> None:
    """List persons due for erasure in each center (as the monthly job does)."""
    centers = [center_by_code(center_code)] if center_code else [c for c in list_centers() if c.active]
    if None in centers:
        raise click.ClickException(f"no center with code {center_code!r}")
    for center in centers:
        set_tenant(center.id)
        outcome = run_review()
        click.echo(f"{center.code}\tlisted {outcome.listed}\twithdrawn {outcome.withdrawn}\twaiting {outcome.still_due}")
    set_tenant(None)

"""``flask --app wsgi aggregates ...``: rebuild the rollups by hand (as the schema owner).

Registered by ``teichaku.cli.init_app``.  The same job the nightly schedule runs.
"""
from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from .jobs import rebuild_rollups

aggregates_cli = AppGroup("aggregates", help="全国集計（ロールアップ）")


@aggregates_cli.command("rebuild")
@click.option("--fiscal-year", "fiscal_year", type=int, default=None, help="one fiscal year only (e.g. 2025)")
def aggregates_rebuild(fiscal_year: int | None) -> None:
    """Recompute the rollups from the rows; exit 1 if the stored ones were not reproduced exactly."""
    figures = rebuild_rollups(fiscal_year, triggered_by="cli")
    click.echo(json.dumps(figures, ensure_ascii=False))
    verdict = "reproduced" if figures["mismatches"] == 0 else "MISMATCHES"
    click.echo(f"aggregates: {figures['centers']} centers, {figures['slices']} slices, {figures['cells']} cells, "
               f"{figures['mismatches']} mismatches, {figures['pending_slices']} changed meanwhile: {verdict}", err=True)
    sys.exit(0 if figures["mismatches"] == 0 else 1)

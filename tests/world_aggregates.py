"""National aggregates in the test world: center B (osaka) has submitted its figures of FY2025
(the year of B's case), so that center A's admin and prefecture viewer, the association and the
ministry are swept against a submission of another center; and what the isolation sweep needs
to reach ``aggregates.*`` and ``api_aggregates.*``.

The pages and the API take no ids: the fiscal year and a center's code travel in the query or
the form.  The forms below aim at B where they can: a's prefecture viewer confirming osaka's
year must get "not found" (osaka is not its prefecture), and a reopening without a reason is
refused before anything is read, so that even a role allowed to reopen changes nothing of B's.
"""
from __future__ import annotations

from teichaku.platform.auth.models import User
from teichaku.platform.centers import center_by_code
from teichaku.platform.extensions import db
from teichaku.platform.tenancy import account_lookup, set_tenant

FISCAL_YEAR = 2025


def extend_world(app, world) -> None:
    from teichaku.crosstenant.aggregates import submissions

    with app.app_context():
        set_tenant(center_by_code("osaka").id)
        with account_lookup():
            admin = db.session.scalar(db.select(User).where(User.id == world.users["b_admin"]["id"]))
        submission = submissions.submit(admin, FISCAL_YEAR)
        db.session.commit()
        world.objects["aggregates_b"] = {"submission_id": submission.id, "fiscal_year": FISCAL_YEAR}


PAGE_BODIES = {
    "aggregates.submit": {"fiscal_year": str(FISCAL_YEAR)},
    "aggregates.confirm": {"fiscal_year": str(FISCAL_YEAR), "center": "osaka"},
    "aggregates.reopen": {"fiscal_year": str(FISCAL_YEAR), "center": "osaka", "reason": ""},
}

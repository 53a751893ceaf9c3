"""National aggregates, the data layer: counting rules, rollups kept current by jobs, the nightly
rebuild, and the figures service that reads the rollups only.

The random-data test builds cases, people, transfers and activities in three centers over two
fiscal years through the real services, then counts every family again straight from the rows
(``_direct_count``: an implementation of the rules written here, independently of ``rules``) and
compares.
"""
from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import time
from collections import Counter
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import create_engine, text

from teichaku.crosstenant.aggregates import figures, rules
from teichaku.crosstenant.aggregates.figures import DayStatistics, Scope
from teichaku.crosstenant.aggregates.jobs import rebuild_rollups, recompute_slice, sweep_dirty_slices
from teichaku.platform.centers import REGIONS, center_by_code
from teichaku.platform.extensions import db
from teichaku.platform import i18n
from teichaku.platform.i18n import fiscal_year_of
from teichaku.platform.tenancy import set_tenant
from teichaku.tenants.cases.lifecycle import CLOSING_REASONS, FACILITY_TYPES, PLACEMENTS, REQUESTER_TYPES, SUSPECT_STAGES
from teichaku.tenants.persons.models import SUPPORT_NEEDS
from tests import factories
from tests.conftest import APP_ROLE, BACKEND, REDIS_TEST_URL, rls_scope
from tests.crossprocess import REPO_ROOT, VENV_BIN

postgres_only = pytest.mark.skipif(BACKEND != "postgres", reason="row-level security and the real worker run on PostgreSQL")

CENTERS = ("tokyo", "osaka", "fukuoka")
JST = timezone(timedelta(hours=9))
ELIGIBLE = {"elderly_or_disabled": True, "no_residence": True, "needs_welfare_services": True, "appropriate": True,
            "person_wishes": True, "consent_to_share": True, "consent_on": date(2024, 4, 1), "consent_witness": "職員"}
CONSENT = {"obtained_on": date(2024, 4, 1), "method": "written"}


# --- helpers ---------------------------------------------------------------------------------------

@contextmanager
def in_center(app, code: str):
    with app.app_context():
        set_tenant(center_by_code(code).id)
        yield center_by_code(code)
        set_tenant(None)


def _actor(world, label: str) -> SimpleNamespace:
    return SimpleNamespace(id=world.users[f"{label}_staff"]["id"], display_name="", role="staff")


LABELS = {"tokyo": "a", "osaka": "b", "fukuoka": "c"}


def _case(**data):
    from teichaku.tenants.cases.services import create_case

    data.setdefault("person", factories.person_payload(support_needs=data.pop("needs", ["elderly"])))
    return create_case(data)


def _move(case, *statuses, released_on=None, closing=None):
    from teichaku.tenants.cases.services import set_eligibility, transition_case

    for status in statuses:
        if status == "plan_drafted" and case.case_type == "coordination" and not case.eligibility:
            set_eligibility(case, ELIGIBLE, expected_version=case.version)
        transition_case(case, status, expected_version=case.version, released_on=released_on,
                        closing=closing if status == "closed" else None)
    return case


CO_TO_RELEASE = ("assessing", "plan_drafted", "services_arranged", "released")
SS_TO_RELEASE = ("assessing", "services_arranged", "released")


def _recompute_everything(app) -> int:
    with app.app_context():
        return sweep_dirty_slices(older_than_seconds=-1, budget_seconds=600)


def _marks(owner_engine) -> list[tuple[str, int]]:
    with owner_engine.connect() as conn:
        return sorted(conn.execute(text(
            "select c.code, d.fiscal_year from rollup_dirty_slices d join centers c on c.id = d.center_id")).all())


def _stored(owner_engine) -> tuple[dict, dict]:
    with owner_engine.connect() as conn:
        counts = {(code, y, f, d1, d2, d3, role): v for code, y, f, d1, d2, d3, role, v in conn.execute(text(
            "select c.code, r.fiscal_year, r.family, r.dim1, r.dim2, r.dim3, r.role, r.value"
            " from rollup_counts r join centers c on c.id = r.center_id"))}
        days = {(code, y, m, d1, role, n): k for code, y, m, d1, role, n, k in conn.execute(text(
            "select c.code, r.fiscal_year, r.measure, r.dim1, r.role, r.days, r.count"
            " from rollup_day_counts r join centers c on c.id = r.center_id"))}
    return counts, days


# --- the direct count: the rules again, straight from the rows --------------------------------------

def _fy(day: date) -> int:
    return day.year - (1 if day.month < 4 else 0)


def _jst_day(moment) -> date | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(JST).date()


def _direct_count(owner_engine) -> tuple[Counter, Counter]:
    """Every family and measure counted from the rows as the module doc of ``rules`` states them."""
    counts, days = Counter(), Counter()
    with owner_engine.connect() as conn:
        centers = {cid: (code, pref) for cid, code, pref in conn.execute(text("select id, code, prefecture_code from centers"))}
        links = conn.execute(text("select center_id, case_id, side, counterpart_center_id from transfers"
                                  " where status in ('accepted', 'completed') and case_id is not null")).all()
        cases = conn.execute(text(
            "select cs.center_id, cs.id, cs.case_type, cs.status, cs.requested_on, cs.released_on, cs.closed_on,"
            " cs.closing_reason, cs.outcome_placement, cs.destination_prefecture_code, cs.facility_type,"
            " cs.requester_type, cs.suspect_stage, p.support_needs"
            " from cases cs join persons p on p.center_id = cs.center_id and p.id = cs.person_id")).mappings().all()
        transfers = conn.execute(text("select center_id, side, sent_at, accepted_at, declined_at, counterpart_center_id"
                                      " from transfers")).mappings().all()
        activities = conn.execute(text("select center_id, id, held_on, activity_type from network_activities")).mappings().all()
        people = conn.execute(text("select activity_id, sector, participants from network_activity_participants")).all()
    receiving = {(c, k): other for c, k, side, other in links if side == "receiving"}
    sending = {(c, k) for c, k, side, _ in links if side == "sending"}
    for c in cases:
        code, own_pref = centers[c["center_id"]]
        key = (c["center_id"], c["id"])
        role = "receiving" if key in receiving else "sending" if key in sending else "own"
        first_pref = centers[receiving[key]][1] if role == "receiving" else own_pref
        req = c["requested_on"]
        quarter = str({4: 1, 5: 1, 6: 1, 7: 2, 8: 2, 9: 2, 10: 3, 11: 3, 12: 3, 1: 4, 2: 4, 3: 4}[req.month])

        def add(day, family, *dims, value=1):
            counts[(code, _fy(day), family, *(list(dims) + ["", "", ""])[:3], role)] += value

        add(req, "cases", c["case_type"], quarter)
        needs = list(dict.fromkeys(c["support_needs"] or [])) or ["none"]
        for need in needs:
            add(req, "cases_by_need", c["case_type"], quarter, need)
        ended = c["closed_on"] if c["status"] == "closed" else c["released_on"] if c["status"] == "moved_to_follow_up" else None
        reason = "moved_to_follow_up" if c["status"] == "moved_to_follow_up" else c["closing_reason"]
        if c["case_type"] == "coordination":
            requester = "wide_area" if role == "receiving" else c["requester_type"] or "probation_office"
            add(req, "co_requests", requester, c["facility_type"] or "unknown")
            if ended:
                add(ended, "co_ended", reason)
            if c["status"] == "closed" and c["outcome_placement"]:
                add(c["closed_on"], "co_placements", c["outcome_placement"])
            if c["released_on"]:
                dest = c["destination_prefecture_code"]
                add(c["released_on"], "co_return", "unknown" if not dest else "same_prefecture" if dest == first_pref else "wide_area")
                days[(code, _fy(c["released_on"]), "co_days_to_release", "", role, (c["released_on"] - req).days)] += 1
        elif c["case_type"] == "follow_up":
            closed = c["closed_on"] if c["status"] == "closed" else None
            add(req, "fu_span", str(_fy(closed)) if closed else "open")
            if closed:
                add(closed, "fu_closed", c["closing_reason"])
                days[(code, _fy(closed), "fu_days_to_end", "", role, (closed - req).days)] += 1
        elif c["case_type"] == "suspect_support":
            stage = c["suspect_stage"] or "unknown"
            add(req, "ss_requests", stage)
            if c["released_on"]:
                add(c["released_on"], "ss_supported", stage)
            if ended:
                placement = c["outcome_placement"] if c["status"] == "closed" and c["outcome_placement"] else "none"
                add(ended, "ss_outcomes", reason, placement)
        else:
            add(req, "consultations", c["requester_type"] or "unknown")
    for t in transfers:
        sent = _jst_day(t["sent_at"])
        if sent is None:
            continue
        code, other = centers[t["center_id"]][0], centers[t["counterpart_center_id"]][0]
        if t["side"] == "sending":
            counts[(code, _fy(sent), "transfers_sent", other, "", "", "own")] += 1
            continue
        counts[(code, _fy(sent), "transfers_received", other, "", "", "own")] += 1
        accepted, declined = _jst_day(t["accepted_at"]), _jst_day(t["declined_at"])
        if accepted:
            counts[(code, _fy(sent), "transfers_accepted", other, "", "", "own")] += 1
        if declined:
            counts[(code, _fy(sent), "transfers_declined", other, "", "", "own")] += 1
        if accepted or declined:
            days[(code, _fy(sent), "transfer_days_to_answer", other, "own", ((accepted or declined) - sent).days)] += 1
    participants = {}
    for activity_id, sector, n in people:
        participants.setdefault(activity_id, {})[sector] = n
    for a in activities:
        code = centers[a["center_id"]][0]
        counts[(code, _fy(a["held_on"]), "activities", a["activity_type"], "", "", "own")] += 1
        for sector, n in participants.get(a["id"], {}).items():
            if n:
                counts[(code, _fy(a["held_on"]), "activity_participants", a["activity_type"], sector, "", "own")] += n
    return counts, days


# --- random case work through the real services ----------------------------------------------------

def _day(rng: random.Random, first=date(2024, 3, 25), last=date(2026, 3, 31)) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _closing(rng: random.Random, closed_on: date) -> dict:
    closing = {"closing_reason": rng.choice(tuple(CLOSING_REASONS)), "closed_on": closed_on}
    if closing["closing_reason"] == "placement_secured" or rng.random() < 0.3:
        closing["outcome_placement"] = rng.choice(tuple(PLACEMENTS))
    return closing


def _random_case(rng: random.Random, center) -> None:
    from teichaku.tenants.cases.services import open_follow_up, transition_case

    case_type = rng.choice(("coordination", "coordination", "follow_up", "suspect_support", "consultation"))
    requested = _day(rng)
    other_pref = rng.choice([p for p in ("13", "27", "40", "01") if p != center.prefecture_code])
    data = {"case_type": case_type, "requested_on": requested,
            "needs": rng.sample(SUPPORT_NEEDS, rng.choice((0, 1, 1, 2, 3))),
            "destination_prefecture_code": rng.choice((None, center.prefecture_code, other_pref))}
    if case_type == "coordination":
        data.update(facility_type=rng.choice((None, *FACILITY_TYPES)), release_date=requested + timedelta(days=60),
                    requester_type=rng.choice((None, None, None, "lawyer")))
    elif case_type == "suspect_support":
        data.update(suspect_stage=rng.choice((None, *SUSPECT_STAGES)), release_date=requested + timedelta(days=5))
    elif case_type == "consultation":
        data["requester_type"] = rng.choice((None, *REQUESTER_TYPES))
    case = _case(**data)
    roll = rng.random()
    closing = _closing(rng, requested + timedelta(days=rng.randrange(0, 200)))
    released_on = requested + timedelta(days=rng.randrange(0, 120))
    if case_type in ("coordination", "suspect_support"):
        path = CO_TO_RELEASE if case_type == "coordination" else SS_TO_RELEASE
        if roll < 0.2:
            _move(case, "closed", closing=closing)
        elif roll < 0.8:
            _move(case, *path, released_on=released_on)
            after = rng.random()
            if after < 0.4:
                closing["closed_on"] = max(closing["closed_on"], released_on)
                _move(case, "closed", closing=closing)
            elif after < 0.8:
                follow_up = open_follow_up(case, expected_version=case.version)
                if rng.random() < 0.5:
                    transition_case(follow_up, "closed", expected_version=follow_up.version,
                                    closing=_closing(rng, released_on + timedelta(days=rng.randrange(0, 400))))
    elif case_type == "follow_up" and roll < 0.5:
        closing["closed_on"] = max(closing["closed_on"], requested)
        _move(case, "closed", closing=closing)
    elif case_type == "consultation" and roll < 0.6:
        _move(case, "in_progress", "closed", closing=closing)


def _random_transfer(rng: random.Random, app, world, monkeypatch) -> None:
    from teichaku.crosstenant.transfers import groups, workflow
    from teichaku.platform.tenancy import get_owned
    from teichaku.crosstenant.transfers.models import Transfer

    sender, receiver = rng.sample(CENTERS, 2)
    sent_at = datetime.combine(_day(rng), datetime.min.time(), tzinfo=JST) + timedelta(hours=rng.choice((1, 12, 23)))
    monkeypatch.setattr(workflow, "utcnow", lambda: sent_at.astimezone(timezone.utc))
    with in_center(app, sender) as center:
        case = _case(case_type="coordination", requested_on=(sent_at - timedelta(days=rng.randrange(1, 30))).date(),
                     release_date=sent_at.date() + timedelta(days=rng.randrange(1, 90)),
                     destination_prefecture_code=center_by_code(receiver).prefecture_code,
                     needs=rng.sample(SUPPORT_NEEDS, rng.choice((1, 2))))
        row = workflow.request_transfer(case, center_by_code(receiver), CONSENT, "依頼します", [], _actor(world, LABELS[sender]))
        receiving_id = groups.counterpart(row).id
        db.session.commit()
    answered_at = sent_at + timedelta(days=rng.randrange(0, 6), hours=rng.randrange(0, 20))
    monkeypatch.setattr(workflow, "utcnow", lambda: answered_at.astimezone(timezone.utc))
    outcome = rng.random()
    with in_center(app, receiver):
        receiving = get_owned(Transfer, receiving_id)
        if outcome < 0.6:
            workflow.accept_transfer(receiving, _actor(world, LABELS[receiver]))
        elif outcome < 0.85:
            workflow.decline_transfer(receiving, "no_capacity", None, _actor(world, LABELS[receiver]))
        db.session.commit()
    if outcome < 0.6 and rng.random() < 0.5:
        from teichaku.tenants.cases.models import Case

        with in_center(app, sender):
            _move(get_owned(Case, case.id), *CO_TO_RELEASE, released_on=case.release_date)
            db.session.commit()


def _random_activity(rng: random.Random) -> None:
    from teichaku.tenants.activities.models import ACTIVITY_TYPES, SECTORS
    from teichaku.tenants.activities.services import create_activity

    create_activity({"held_on": _day(rng), "activity_type": rng.choice(ACTIVITY_TYPES), "title": "取組み",
                     "participants": {s: rng.randrange(0, 8) for s in rng.sample(SECTORS, 3)}})


def _random_support_need_change(rng: random.Random, app) -> None:
    from teichaku.tenants.cases.models import Case
    from teichaku.tenants.cases.services import update_case

    with in_center(app, rng.choice(CENTERS)):
        cases = db.session.scalars(db.select(Case).order_by(Case.created_at)).all()
        case = rng.choice(cases)
        update_case(case, {"person": {"support_needs": rng.sample(SUPPORT_NEEDS, rng.choice((0, 2, 4)))}},
                    expected_version=case.version)
        db.session.commit()


@pytest.fixture(scope="class")
def random_work(app, owner_engine):
    """Random case work in the three centers (on top of the usual world), shared by one class of
    tests (``keep_data``) and cleaned at its end."""
    from tests.conftest import clean_all

    world = factories.build_world(app)
    rng = random.Random(20260406)
    with pytest.MonkeyPatch.context() as monkeypatch:
        for _ in range(45):
            with in_center(app, rng.choice(CENTERS)) as center:
                _random_case(rng, center)
                db.session.commit()
        for _ in range(10):
            _random_transfer(rng, app, world, monkeypatch)
    for _ in range(8):
        with in_center(app, rng.choice(CENTERS)):
            _random_activity(rng)
            db.session.commit()
    for _ in range(4):
        _random_support_need_change(rng, app)
    yield rng
    clean_all(owner_engine)


# --- rollups equal a direct count, and the rebuild reproduces them ---------------------------------

@pytest.mark.keep_data
class TestOverRandomCaseWork:
    """Random case work through the real services; each test starts by recomputing what is dirty."""

    def test_rollups_equal_a_direct_count_of_every_family_over_random_case_work(self, app, random_work, owner_engine):
        assert _marks(owner_engine), "the changes marked their slices"
        assert _recompute_everything(app) > 0
        assert _marks(owner_engine) == []
        counts, days = _stored(owner_engine)
        expected_counts, expected_days = _direct_count(owner_engine)
        assert counts == dict(expected_counts)
        assert days == dict(expected_days)
        families = {key[2] for key in counts}
        assert families == set(rules.FAMILIES), f"the random work reaches every family: missing {set(rules.FAMILIES) - families}"
        assert {key[2] for key in days} == set(rules.MEASURES)
        assert {key[1] for key in counts} >= {2024, 2025}
        assert {key[6] for key in counts} == set(rules.ROLES)

    def test_the_figures_service_answers_the_direct_count_nationally_and_per_center(self, app, random_work, owner_engine):
        _recompute_everything(app)
        expected, expected_days = _direct_count(owner_engine)
        with app.app_context():
            for year in (2024, 2025):
                cube = figures.case_cube(year)
                national = Counter()
                for (code, y, family, d1, d2, _d3, role), value in expected.items():
                    if y == year and family == "cases" and role != "receiving":
                        national[(code, d1, int(d2))] += value
                assert cube == dict(national)
                osaka = figures.family_table(year, "cases_by_need", Scope.center("osaka"))
                mine = Counter()
                for (code, y, family, d1, d2, d3, _role), value in expected.items():
                    if code == "osaka" and y == year and family == "cases_by_need":
                        mine[(code, d1, int(d2), d3)] += value
                assert osaka.rows == dict(mine) and osaka.unit == "needs"
                needs = Counter()
                for (code, y, family, d1, _d2, d3, role), value in expected.items():
                    if y == year and family == "cases_by_need" and role != "receiving":
                        needs[(code, d1, d3)] += value
                assert figures.support_need_cube(year) == dict(needs)
                histogram = Counter()
                for (code, y, measure, _d, role, n), k in expected_days.items():
                    if y == year and measure == "co_days_to_release" and role != "receiving":
                        histogram[n] += k
                stats = figures.day_statistics(year, "co_days_to_release")
                values = sorted(n for n, k in histogram.items() for _ in range(k))
                assert values and stats.count == len(values)
                assert stats.median == statistics.median(values)
                assert stats.minimum == values[0] and stats.maximum == values[-1]
            db.session.rollback()

    def test_the_nightly_rebuild_reproduces_the_rollups_exactly_and_reports_no_mismatch(self, app, random_work, owner_engine):
        _recompute_everything(app)
        before = _stored(owner_engine)
        with app.app_context():
            summary = rebuild_rollups()
        assert summary["mismatches"] == 0 and summary["reproduced"] and summary["pending_slices"] == 0
        assert summary["centers"] == 48 and summary["slices"] > 0 and summary["cells"] == len(before[0]) + len(before[1])
        assert _stored(owner_engine) == before
        with owner_engine.connect() as conn:
            run = conn.execute(text("select triggered_by, status, mismatches, finished_at from rollup_runs"
                                    " order by started_at desc limit 1")).one()
        assert run[:3] == ("nightly", "done", 0) and run[3] is not None

    def test_the_rebuild_detects_a_tampered_rollup_row_and_restores_it(self, app, random_work, owner_engine):
        _recompute_everything(app)
        before = _stored(owner_engine)
        with owner_engine.begin() as conn:
            conn.execute(text("update rollup_counts set value = value + 5 where family = 'cases'"
                              " and center_id = (select id from centers where code = 'tokyo') and fiscal_year = 2025"
                              " and dim1 = 'coordination' and role = 'own' and dim2 = (select min(dim2) from rollup_counts"
                              "  where family = 'cases' and dim1 = 'coordination' and fiscal_year = 2025 and role = 'own'"
                              "  and center_id = (select id from centers where code = 'tokyo'))"))
            conn.execute(text("insert into rollup_counts (center_id, fiscal_year, family, dim1, dim2, dim3, role, value)"
                              " select id, 2019, 'consultations', 'family', '', '', 'own', 3 from centers where code = 'osaka'"))
        with app.app_context():
            summary = rebuild_rollups(2025, triggered_by="cli")
            assert summary["mismatches"] == 1 and not summary["reproduced"]
            summary = rebuild_rollups(triggered_by="cli")
            assert summary["mismatches"] == 1  # the forged year-2019 row, emptied by the full rebuild
            assert rebuild_rollups()["mismatches"] == 0
        assert _stored(owner_engine) == before


# --- keeping current: marks, jobs, the sweep ---------------------------------------------------------

def test_a_change_marks_its_slice_in_the_same_transaction_and_a_rollback_leaves_no_mark(app, world, owner_engine):
    from teichaku.crosstenant.aggregates.models import DirtySlice

    _recompute_everything(app)
    with in_center(app, "tokyo") as tokyo:
        _case(case_type="consultation", requested_on=date(2025, 7, 1))
        db.session.flush()
        seen = db.session.execute(db.select(DirtySlice.fiscal_year).where(DirtySlice.center_id == tokyo.id)).scalars().all()
        assert seen == [2025]  # inside the change's own transaction
        db.session.rollback()
    assert _marks(owner_engine) == []
    with in_center(app, "tokyo"):
        _case(case_type="consultation", requested_on=date(2025, 7, 1))
        db.session.commit()
    assert _marks(owner_engine) == [("tokyo", 2025)]


def test_a_change_to_a_field_no_rule_reads_marks_nothing_and_a_moved_date_marks_both_years(app, world, owner_engine):
    from teichaku.platform.tenancy import get_owned
    from teichaku.tenants.cases.models import Case
    from teichaku.tenants.cases.services import update_case

    with in_center(app, "osaka"):
        case = _case(case_type="coordination", requested_on=date(2025, 3, 31))
        db.session.commit()
    _recompute_everything(app)
    with in_center(app, "osaka"):
        case = get_owned(Case, case.id)
        update_case(case, {"topic": "住まい", "probation_office": "大阪保護観察所"}, expected_version=case.version)
        db.session.commit()
        assert case.topic == "住まい"
    assert _marks(owner_engine) == []
    with in_center(app, "osaka"):
        case = get_owned(Case, case.id)
        update_case(case, {"requested_on": date(2025, 4, 1)}, expected_version=case.version)
        db.session.commit()
    assert _marks(owner_engine) == [("osaka", 2024), ("osaka", 2025)]


def test_changing_only_an_activitys_participants_marks_the_year_it_was_held(app, world, owner_engine):
    from teichaku.platform.tenancy import get_owned
    from teichaku.tenants.activities.models import NetworkActivity
    from teichaku.tenants.activities.services import create_activity, update_activity

    with in_center(app, "fukuoka"):
        activity = create_activity({"held_on": date(2025, 3, 15), "activity_type": "regional_training",
                                    "title": "研修", "participants": {"welfare": 3}})
        db.session.commit()
    _recompute_everything(app)
    with in_center(app, "fukuoka"):
        activity = get_owned(NetworkActivity, activity.id)
        update_activity(activity, {"participants": {"welfare": 5, "medical": 2}}, expected_version=activity.version)
        db.session.commit()
    assert _marks(owner_engine) == [("fukuoka", 2024)]
    _recompute_everything(app)
    counts = _stored(owner_engine)[0]
    assert counts[("fukuoka", 2024, "activity_participants", "regional_training", "welfare", "", "own")] == 5
    assert counts[("fukuoka", 2024, "activity_participants", "regional_training", "medical", "", "own")] == 2
    assert counts[("fukuoka", 2024, "activities", "regional_training", "", "", "own")] == 1


def test_recomputing_a_slice_is_idempotent(app, world, owner_engine):
    with in_center(app, "fukuoka") as fukuoka:
        _case(case_type="suspect_support", requested_on=date(2025, 5, 5), suspect_stage="fine")
        db.session.commit()
        center_id = str(fukuoka.id)
    with app.app_context():
        assert recompute_slice(center_id, 2025) == "written"
        first = _stored(owner_engine)
        assert recompute_slice(center_id, 2025) == "clean"
        with in_center(app, "fukuoka"):
            from teichaku.crosstenant.aggregates.rollups import refresh_slice

            assert refresh_slice(fukuoka.id, 2025, only_if_dirty=False).status == "unchanged"
            db.session.commit()
    assert _stored(owner_engine) == first
    assert first[0][("fukuoka", 2025, "ss_requests", "fine", "", "", "own")] == 1


def test_the_sweep_recomputes_a_slice_whose_job_was_lost(app, world, owner_engine):
    with in_center(app, "tokyo"):
        _case(case_type="consultation", requested_on=date(2025, 9, 9), requester_type="family")
        db.session.commit()
    connection = redis.Redis.from_url(REDIS_TEST_URL)
    scheduled = [k for k in connection.scan_iter(match="rq:scheduled:*") if os.environ["RQ_QUEUE"].encode() in k]
    assert scheduled, "the commit scheduled the slice's job"
    connection.delete(*scheduled)  # Redis lost it (a restart without persistence)
    key = ("tokyo", 2025, "consultations", "family", "", "", "own")
    assert key not in _stored(owner_engine)[0]
    with app.app_context():
        assert sweep_dirty_slices() == 0  # marked a moment ago: its own job may still come
        assert sweep_dirty_slices(older_than_seconds=0) >= 1
    assert _stored(owner_engine)[0][key] == 1
    assert ("tokyo", 2025) not in _marks(owner_engine)


def test_redis_down_at_commit_keeps_the_change_and_its_mark_for_the_sweep(make_app, world, owner_engine):
    from tests.crossprocess import free_port

    down = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/15", REDIS_AVAILABLE=True)
    with in_center(down, "osaka"):
        _case(case_type="follow_up", requested_on=date(2024, 12, 1))
        db.session.commit()  # the scheduling failure is logged, never raised
    assert ("osaka", 2024) in _marks(owner_engine)
    in_process = make_app(REDIS_AVAILABLE=False)
    with in_process.app_context():
        sweep_dirty_slices(older_than_seconds=0)
    assert _stored(owner_engine)[0][("osaka", 2024, "fu_span", "open", "", "", "own")] == 1


def test_without_redis_the_rollups_follow_each_commit_in_process(make_app, world, owner_engine):
    in_process = make_app(REDIS_AVAILABLE=False)
    _recompute_everything(in_process)
    with in_center(in_process, "fukuoka"):
        _case(case_type="coordination", requested_on=date(2025, 10, 1), facility_type="prison")
        db.session.commit()
    assert _marks(owner_engine) == []
    assert _stored(owner_engine)[0][("fukuoka", 2025, "co_requests", "probation_office", "prison", "", "own")] == 1


@pytest.mark.slow
@postgres_only
def test_a_real_rq_worker_brings_a_case_change_into_the_rollups(app, world, owner_engine):
    _recompute_everything(app)
    command = [str(VENV_BIN / "rq"), "worker", "-u", REDIS_TEST_URL, "-w", "teichaku.workers.worker.TeichakuWorker",
               "--serializer", "json", "--with-scheduler", os.environ["RQ_QUEUE"]]
    worker = subprocess.Popen(command, cwd=REPO_ROOT, env=os.environ.copy(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)
    key = ("tokyo", 2025, "ss_requests", "prosecution_suspended", "", "", "own")
    try:
        with in_center(app, "tokyo"):
            _case(case_type="suspect_support", requested_on=date(2025, 11, 20), suspect_stage="prosecution_suspended")
            db.session.commit()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _stored(owner_engine)[0].get(key) != 1:
            assert worker.poll() is None, worker.stderr.read()[-3000:]
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            _, stderr = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            _, stderr = worker.communicate()
    assert _stored(owner_engine)[0].get(key) == 1, stderr[-3000:]
    assert _marks(owner_engine) == []


def test_the_schedule_runs_the_sweep_every_minute_and_the_rebuild_every_night():
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=redis.Redis.from_url(REDIS_TEST_URL))
    scheduler.load_config_from_file("teichaku.workers.cron")
    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    sweep = jobs["teichaku.crosstenant.aggregates.jobs.sweep_dirty_slices"]
    rebuild = jobs["teichaku.crosstenant.aggregates.jobs.rebuild_rollups"]
    assert sweep.cron == "* * * * *" and sweep.queue_name == os.environ["RQ_QUEUE"]
    assert rebuild.cron == "15 18 * * *" and rebuild.job_options["job_timeout"] >= 3600  # 03:15 in Japan


def test_the_cli_rebuild_reports_and_exits_by_whether_the_rollups_were_reproduced(app, world, owner_engine):
    result = subprocess.run([str(VENV_BIN / "flask"), "--app", "wsgi", "aggregates", "rebuild", "--fiscal-year", "2025"],
                            cwd=REPO_ROOT, env=os.environ.copy(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert '"mismatches": 0' in result.stdout and "reproduced" in result.stderr
    with owner_engine.connect() as conn:
        assert conn.execute(text("select triggered_by, fiscal_year from rollup_runs")).one() == ("cli", 2025)


# --- the counting rules, one test each -------------------------------------------------------------

def test_fiscal_years_start_on_1_april_and_quarters_follow_them():
    assert fiscal_year_of(date(2026, 3, 31)) == 2025 and fiscal_year_of(date(2026, 4, 1)) == 2026
    assert [rules.quarter_of(date(2025, m, 1)) for m in (4, 6, 7, 9, 10, 12, 1, 3)] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert i18n.fiscal_year_bounds(2025) == (date(2025, 4, 1), date(2026, 3, 31))


def test_a_case_requested_on_31_march_counts_in_the_old_fiscal_year_and_on_1_april_in_the_new(make_app, world, owner_engine):
    in_process = make_app(REDIS_AVAILABLE=False)
    _recompute_everything(in_process)
    with in_center(in_process, "tokyo"):
        _case(case_type="consultation", requested_on=date(2026, 3, 31))
        _case(case_type="consultation", requested_on=date(2026, 4, 1))
        db.session.commit()
    with in_process.app_context():
        assert figures.case_cube(2025)[("tokyo", "consultation", 4)] == 1
        assert figures.case_cube(2026)[("tokyo", "consultation", 1)] == 1
        assert ("tokyo", "consultation", 1) not in figures.case_cube(2025)
        db.session.rollback()


def test_a_person_with_several_needs_counts_once_in_the_total_and_once_under_each_need(make_app, world):
    in_process = make_app(REDIS_AVAILABLE=False)
    with in_center(in_process, "osaka"):
        _case(case_type="coordination", requested_on=date(2025, 8, 1), needs=["elderly", "intellectual", "dementia"])
        _case(case_type="coordination", requested_on=date(2025, 8, 2), needs=[])
        db.session.commit()
    with in_process.app_context():
        scope = Scope.center("osaka")
        total = figures.family_table(2025, "cases", scope)
        needs = figures.family_table(2025, "cases_by_need", scope)
        db.session.rollback()
    second_quarter = {key[3]: value for key, value in needs.rows.items() if key[:3] == ("osaka", "coordination", 2)}
    assert total.unit == "cases" and total.rows[("osaka", "coordination", 2)] == 2  # 実人数
    assert needs.unit == "needs" and second_quarter == {"elderly": 1, "intellectual": 1, "dementia": 1, "none": 1}  # 延べ
    assert sum(second_quarter.values()) == 4


def test_a_transferred_person_counts_once_nationally_and_in_both_centers_own_reports(make_app, world, monkeypatch):
    from teichaku.crosstenant.transfers import groups, workflow
    from teichaku.crosstenant.transfers.models import Transfer
    from teichaku.platform.tenancy import get_owned

    in_process = make_app(REDIS_AVAILABLE=False)
    sent = datetime(2025, 6, 10, 3, tzinfo=timezone.utc)
    monkeypatch.setattr(workflow, "utcnow", lambda: sent)
    with in_center(in_process, "tokyo"):
        case = _case(case_type="coordination", requested_on=date(2025, 6, 1), release_date=date(2025, 9, 1),
                     destination_prefecture_code="27")
        row = workflow.request_transfer(case, center_by_code("osaka"), CONSENT, "依頼", [], _actor(world, "a"))
        receiving_id = groups.counterpart(row).id
        db.session.commit()
    with in_center(in_process, "osaka"):
        workflow.accept_transfer(get_owned(Transfer, receiving_id), _actor(world, "b"))
        db.session.commit()
    with in_process.app_context():
        national = figures.case_cube(2025)
        own = {code: figures.case_cube(2025, Scope.center(code)) for code in ("tokyo", "osaka")}
        osaka = figures.annual_report(2025, "osaka")
        tokyo = figures.annual_report(2025, "tokyo")
        pairs = figures.transfer_pairs(2025)
        db.session.rollback()
    key = ("coordination", 1)
    assert national[("tokyo", *key)] == own["tokyo"][("tokyo", *key)]  # tokyo, where the request arrived
    assert national.get(("osaka", *key), 0) == own["osaka"][("osaka", *key)] - 1  # the same person, once
    assert tokyo.cases_by_role["coordination"]["sending"] == 1
    assert osaka.cases_by_role["coordination"]["receiving"] == 1
    assert osaka.tables["co_requests"].rows[("osaka", "wide_area", "unknown")] == 1
    assert pairs[("13", "27")] == {"sent": 1, "received": 1, "accepted": 1, "declined": 0, "median_days_to_answer": 0.0}


def test_a_follow_up_is_open_during_every_year_from_its_start_until_it_ends(make_app, world):
    from teichaku.tenants.cases.services import transition_case

    in_process = make_app(REDIS_AVAILABLE=False)
    with in_center(in_process, "fukuoka"):
        ended = _case(case_type="follow_up", requested_on=date(2023, 10, 1))
        transition_case(ended, "closed", expected_version=ended.version,
                        closing={"closing_reason": "other", "closed_on": date(2025, 4, 1)})
        _case(case_type="follow_up", requested_on=date(2024, 2, 1))
        db.session.commit()
    with in_process.app_context():
        open_during = {year: figures.fu_open_during(year).get("fukuoka", 0) for year in (2022, 2023, 2024, 2025, 2026)}
        db.session.rollback()
    assert open_during == {2022: 0, 2023: 2, 2024: 2, 2025: 2, 2026: 1}


def test_return_area_compares_the_destination_with_the_prefecture_where_the_request_first_arrived(make_app, world):
    in_process = make_app(REDIS_AVAILABLE=False)
    with in_center(in_process, "osaka"):
        for destination in ("27", "13", None):
            case = _case(case_type="coordination", requested_on=date(2025, 4, 10), release_date=date(2025, 8, 1),
                         destination_prefecture_code=destination)
            _move(case, *CO_TO_RELEASE, released_on=date(2025, 8, 1))
        db.session.commit()
    with in_process.app_context():
        table = figures.family_table(2025, "co_return", Scope.center("osaka"))
        stats = figures.day_statistics(2025, "co_days_to_release", Scope.center("osaka"))
        db.session.rollback()
    assert table.by("area") == {("same_prefecture",): 1, ("wide_area",): 1, ("unknown",): 1}
    assert (stats.count, stats.median, stats.minimum) == (3, 113.0, 113)


def test_medians_from_a_histogram_are_exact():
    values = [0, 3, 3, 8, 21, 21, 21, 40]
    stats = DayStatistics.of(Counter(values))
    assert (stats.count, stats.median, stats.mean, stats.minimum, stats.maximum) == (
        8, statistics.median(values), statistics.mean(values), 0, 40)
    assert DayStatistics.of({5: 3}).median == 5.0 and DayStatistics.of({}).median is None


def test_the_eight_regional_blocks_cover_the_47_prefectures():
    regions = rules.prefecture_regions()
    assert len(regions) == 47 and set(regions.values()) == set(REGIONS)
    assert rules.region_of("01") == "北海道" and rules.region_of("13") == "関東" and rules.region_of("47") == "九州・沖縄"


# --- the figures service: counts only, as of when ----------------------------------------------------

def test_as_of_is_the_oldest_pending_change_and_the_read_time_once_everything_is_in(app, world, owner_engine):
    _recompute_everything(app)
    with app.app_context():
        before = datetime.now(timezone.utc)
        assert figures.as_of(2025) >= before
        db.session.rollback()
    with in_center(app, "tokyo"):
        _case(case_type="consultation", requested_on=date(2025, 8, 1))
        db.session.commit()
    with owner_engine.connect() as conn:
        marked = conn.execute(text("select min(marked_at) from rollup_dirty_slices")).scalar()
    if isinstance(marked, str):  # SQLite hands the raw text back
        marked = datetime.fromisoformat(marked).replace(tzinfo=timezone.utc)
    with app.app_context():
        assert figures.as_of(2025) == marked
        assert figures.as_of(2024) >= before  # FY2024's figures do not wait for a FY2025 change
        dashboard = figures.dashboard(2025)
        db.session.rollback()
    assert dashboard["as_of"] == marked
    assert set(dashboard) == {"fiscal_year", "fiscal_year_label", "as_of", "headlines", "year_over_year", "trend",
                              "case_cube", "support_need_cube"}
    assert all(isinstance(v, int) for v in dashboard["headlines"].values())
    assert all(len(series) == 5 for series in dashboard["trend"].values())


def test_reading_figures_is_an_audited_cross_tenant_read(app, world, owner_engine):
    with app.app_context():
        figures.headlines(2025)
        db.session.commit()
    with owner_engine.connect() as conn:
        actions = conn.execute(text("select object_id from audit_entries where action = 'cross_tenant.read'")).scalars().all()
    assert "aggregates.figures" in actions


@postgres_only
def test_each_center_writes_and_reads_only_its_own_rollup_rows(app, world, database, owner_engine):
    _recompute_everything(app)
    engine = create_engine(database["owner_url"].replace("teichaku_owner@", f"{APP_ROLE}@"))
    tokyo, osaka = _center_id(owner_engine, "tokyo"), _center_id(owner_engine, "osaka")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from rollup_counts")).scalar() == 0  # no tenant: nothing
            conn.rollback()
            trans = conn.begin()
            rls_scope(conn, tenant=tokyo)
            seen = set(conn.execute(text("select distinct center_id from rollup_counts")).scalars())
            assert seen == {tokyo}
            with pytest.raises(Exception, match="row-level security"):
                conn.execute(text("insert into rollup_dirty_slices (center_id, id, fiscal_year, marked_at)"
                                  " values (:c, gen_random_uuid(), 2025, now())"), {"c": str(osaka)})
            trans.rollback()
    finally:
        engine.dispose()


def _center_id(owner_engine, code: str):
    with owner_engine.connect() as conn:
        return conn.execute(text("select id from centers where code = :c"), {"c": code}).scalar()

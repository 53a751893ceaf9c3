"""A realistic caseload for the ``cases`` benchmark: millions of cases, each with its own person.

``BENCH_CASES_TOTAL`` cases (default 2,000,000) over the 48 centers, ``BENCH_CASES_BIG_CENTER``
of them (default 200,000) in tokyo, the rest spread unevenly over the other 47 centers; opened
over the last ``SPAN_YEARS`` years, newest last (the heap is in the order real use would write).

Every column is filled the way the services would:

* persons: Japanese names from ``bench.names_ja`` (Zipf-weighted surnames, so 佐藤/鈴木/山田 are
  common), kana in hiragana or katakana as staff type them, ``name_search`` and ``name_grams``
  from ``teichaku.tenants.persons.names`` over exactly the six parts
  ``persons.services._refresh_search`` uses, birth dates of an elderly and disabled population,
  support needs, certificates (療育手帳 …), public assistance;
* cases: type mix, a status that follows the lifecycle by the case's age (old cases are closed
  or moved to follow-up, with a closing reason and placement; recent ones are in progress),
  release dates, facilities, probation offices, destinations, eligibility checklists, follow-up
  dates, case numbers ``CO-2025-0001`` per center, type and year (and ``case_number_counters``).

Loading (a bench database of its own, nobody else connected): one transaction as the superuser,
``TRUNCATE`` (the tables are empty) then ``COPY … (FREEZE)`` so the rows are frozen and all-visible
at once (no hint-bit writes or vacuum work later); ``session_replication_role = replica`` skips
the per-row foreign-key triggers (the generator makes every reference valid; checked afterwards
with anti-joins); the secondary indexes of ``persons`` and ``cases`` are dropped first and built
again after the load from their own definitions (``pg_get_indexdef``), which is much faster than
maintaining them row by row.  Then ``VACUUM (ANALYZE)``.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import random
import time
from datetime import datetime, timedelta, timezone

import psycopg
from psycopg.conninfo import make_conninfo

from .config import Settings
from .names_ja import GIVEN_NAMES, SURNAMES, surname_weights, to_katakana

SPAN_YEARS = 10
JST = timezone(timedelta(hours=9))
TABLES = ("persons", "cases")
PERSON_COLUMNS = ("center_id", "id", "family_name", "given_name", "family_name_kana", "given_name_kana",
                  "birth_date", "sex", "support_needs", "certificates", "public_assistance", "name_search",
                  "name_grams", "version", "created_at", "updated_at")
CASE_COLUMNS = ("center_id", "id", "case_number", "person_id", "case_type", "status", "requested_on",
                "request_source", "probation_office", "facility_name", "facility_type", "release_date",
                "released_on", "destination_prefecture_code", "destination_municipality_name",
                "destination_municipality_code", "follow_up_on", "eligibility", "requester_type", "topic",
                "suspect_stage", "outcome_at_release", "closed_on", "closing_reason", "closing_note",
                "outcome_placement", "outcome_municipality_name", "outcome_municipality_code", "version",
                "created_at", "updated_at")
COUNTER_COLUMNS = ("center_id", "id", "prefix", "year", "last_value")

CASE_TYPE_WEIGHTS = (("coordination", 35), ("follow_up", 20), ("suspect_support", 10), ("consultation", 35))
FACILITIES = (("prison", "府中刑務所"), ("prison", "横浜刑務所"), ("prison", "大阪刑務所"), ("prison", "岐阜刑務所"),
              ("juvenile_prison", "川越少年刑務所"), ("detention_house", "東京拘置所"),
              ("juvenile_training_school", "多摩少年院"), ("prison", "栃木刑務所"), ("prison", "札幌刑務所"))
PROBATION = ("東京保護観察所", "横浜保護観察所", "さいたま保護観察所", "千葉保護観察所", "大阪保護観察所",
             "名古屋保護観察所", "福岡保護観察所", "札幌保護観察所")
# (prefecture code, municipality, JIS code with check digit)
MUNICIPALITIES = (("13", "新宿区", "131041"), ("13", "世田谷区", "131121"), ("13", "八王子市", "132012"),
                  ("14", "横浜市", "141003"), ("27", "大阪市", "271004"), ("01", "札幌市", "011002"),
                  ("40", "福岡市", "401307"), ("23", "名古屋市", "231002"))
CLOSING = (("placement_secured", 60), ("declined_by_person", 15), ("withdrawn", 10), ("death", 5), ("other", 10))
PLACEMENTS = ("rehabilitation_facility", "self_reliance_home", "relief_facility", "nursing_home_yogo",
              "nursing_home_tokuyo", "disability_facility", "group_home", "hospital", "public_housing",
              "private_rental", "relatives")
REQUESTERS = ("person", "family", "municipality", "facility", "lawyer", "other")
TOPICS = ("住まいの相談", "生活保護の申請について", "福祉サービスの利用", "家族との関係", "就労の相談", "医療機関の紹介")
SUSPECT_STAGES = ("prosecution_suspended", "suspended_sentence", "fine", "other")
CERTIFICATES = ("[]", "[]", "[]",
                json.dumps([{"kind": "ryoiku_techo", "status": "held", "grade": "B1"}], ensure_ascii=False),
                json.dumps([{"kind": "ryoiku_techo", "status": "held", "grade": "A"}], ensure_ascii=False),
                json.dumps([{"kind": "seishin_techo", "status": "held", "grade": "2"}], ensure_ascii=False),
                json.dumps([{"kind": "kaigo_nintei", "status": "applied", "grade": ""}], ensure_ascii=False),
                json.dumps([{"kind": "shintai_techo", "status": "held", "grade": "3"},
                            {"kind": "kaigo_nintei", "status": "held", "grade": "要介護1"}], ensure_ascii=False))
PUBLIC_ASSISTANCE = (("none", 50), ("receiving", 30), ("applied", 10), ("planned", 10))
ELIGIBILITY_DONE = json.dumps({"elderly_or_disabled": True, "no_residence": True, "needs_welfare_services": True,
                               "appropriate": True, "person_wishes": True, "consent_to_share": True,
                               "consent_on": "{on}", "consent_witness": "担当職員"}, ensure_ascii=False)
NULL = "\\N"


def _weighted(pairs):
    values, weights = zip(*pairs)
    return values, list(weights)


def center_sizes(center_codes: list[str], total: int, big_code: str, big: int, rng: random.Random) -> dict[str, int]:
    """``big`` cases in ``big_code``; the rest over the other centers with weights 0.5–1.5."""
    others = [c for c in center_codes if c != big_code]
    big = min(big, total)
    weights = [rng.uniform(0.5, 1.5) for _ in others]
    rest = total - big
    sizes = {c: int(rest * w / sum(weights)) for c, w in zip(others, weights)}
    for c in others[: rest - sum(sizes.values())]:  # the rounding remainder, one each
        sizes[c] += 1
    sizes[big_code] = big
    return sizes


class _Names:
    """Per (surname, given name): the stored search text and bigram array, computed once."""

    def __init__(self):
        from teichaku.tenants.persons import names

        self.names = names
        self.cache: dict[tuple[int, int], tuple[str, str]] = {}

    def search(self, fi: int, gi: int) -> tuple[str, str]:
        hit = self.cache.get((fi, gi))
        if hit is None:
            (fam, fam_kana), ((giv, giv_kana), _) = SURNAMES[fi], GIVEN_NAMES[gi]
            # exactly as teichaku.tenants.persons.services._refresh_search (kana normalise alike)
            parts = (fam + giv, fam_kana + giv_kana, fam, giv, fam_kana, giv_kana)
            grams = self.names.name_grams(*parts)
            if any(ch in g for g in grams for ch in '"\\\t\n'):
                raise ValueError(f"a name bigram needs escaping in COPY text: {grams!r}")
            literal = "{" + ",".join(f'"{g}"' for g in grams) + "}"  # quoted: commas, braces, spaces are safe
            hit = (self.names.search_key(*parts), literal)
            self.cache[(fi, gi)] = hit
        return hit


def _uuid_text(rng: random.Random) -> str:
    n = rng.getrandbits(128)
    n = (n & ~(0xF000 << 64) | (0x4000 << 64)) & ~(0xC000 << 48) | (0x8000 << 48)  # version 4, RFC 4122 variant
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _ts(dt: datetime) -> str:
    return dt.isoformat(" ")  # 2026-04-01 09:30:00+00:00


def _status(rng: random.Random, case_type: str, age: int) -> str:
    r = rng.random()
    if case_type == "coordination":
        if age < 20:
            return "request_received" if r < 0.6 else "assessing"
        if age < 60:
            return "assessing" if r < 0.3 else "plan_drafted" if r < 0.7 else "services_arranged"
        if age < 150:
            return ("services_arranged" if r < 0.3 else "released" if r < 0.6 else "closed" if r < 0.8
                    else "moved_to_follow_up")
        return "assessing" if r < 0.01 else "closed" if r < 0.6 else "moved_to_follow_up"
    if case_type == "follow_up":
        if age < 365:
            return "active" if r < 0.7 else "closed"
        return "active" if r < 0.05 else "closed"
    if case_type == "suspect_support":
        if age < 7:
            return "request_received" if r < 0.5 else "assessing"
        if age < 30:
            return "services_arranged" if r < 0.5 else "released"
        return "closed" if r < 0.8 else "moved_to_follow_up"
    if age < 14:
        return "open" if r < 0.5 else "in_progress"
    if age < 90:
        return "in_progress" if r < 0.4 else "closed"
    return "in_progress" if r < 0.01 else "closed"


_NAMES: _Names | None = None


def _center_job(job: tuple[str, str, int, datetime, int]) -> tuple[str, int, str, str, list]:
    """One center's rows (run in a worker process): (code, n, persons text, cases text, counters)."""
    from teichaku.tenants.cases.lifecycle import NUMBER_PREFIX

    global _NAMES
    if _NAMES is None:
        _NAMES = _Names()
    code, center_id, n, now, seed = job
    rng = random.Random(seed)
    persons, cases, counters = _center_rows(center_id, n, rng, _NAMES, now, NUMBER_PREFIX)
    rows = [(center_id, _uuid_text(rng), p, str(y), str(v)) for (p, y), v in sorted(counters.items())]
    return code, n, "\n".join(persons) + "\n", "\n".join(cases) + "\n", rows


def _center_rows(center_id: str, n: int, rng: random.Random, names: _Names, now: datetime, prefix_of: dict):
    """(person lines, case lines, counters) of one center, as COPY text."""
    start = now - timedelta(days=365 * SPAN_YEARS)
    span_s = (now - start).total_seconds()
    today = now.astimezone(JST).date()
    fam_weights = surname_weights()
    n_surnames, n_given = len(SURNAMES), len(GIVEN_NAMES)
    type_values, type_weights = _weighted(CASE_TYPE_WEIGHTS)
    closing_values, closing_weights = _weighted(CLOSING)
    pa_values, pa_weights = _weighted(PUBLIC_ASSISTANCE)
    families = rng.choices(range(n_surnames), weights=fam_weights, k=n)
    types = rng.choices(type_values, weights=type_weights, k=n)
    assistance = rng.choices(pa_values, weights=pa_weights, k=n)
    needs_json: dict[tuple, str] = {}
    persons, cases = [], []
    counters: dict[tuple[str, int], int] = {}
    for i in range(n):
        created = start + timedelta(seconds=span_s * (i + rng.random()) / n)
        created_s = _ts(created)
        requested_on = created.astimezone(JST).date()
        age = (today - requested_on).days
        # the person
        fi, gi = families[i], rng.randrange(n_given)
        (fam, fam_kana), ((giv, giv_kana), sex) = SURNAMES[fi], GIVEN_NAMES[gi]
        if rng.random() < 0.5:  # staff type furigana in katakana about half the time
            fam_kana, giv_kana = to_katakana(fam_kana), to_katakana(giv_kana)
        name_search, grams = names.search(fi, gi)
        age_years = 65 + int(rng.gauss(8, 8)) if rng.random() < 0.6 else rng.randrange(20, 65)
        birth = requested_on - timedelta(days=365 * max(18, min(age_years, 99)) + rng.randrange(365))
        needs = []
        if age_years >= 65:
            needs.append("elderly")
        if rng.random() < 0.55:
            needs.append(rng.choice(("intellectual", "mental", "physical", "developmental", "dementia")))
        pid = _uuid_text(rng)
        person_created = _ts(created - timedelta(minutes=rng.randrange(1, 120)))
        persons.append("\t".join((
            center_id, pid, fam, giv, fam_kana, giv_kana, birth.isoformat(), sex,
            needs_json.get(tuple(needs)) or needs_json.setdefault(tuple(needs), json.dumps(needs)),
            rng.choice(CERTIFICATES), assistance[i],
            name_search, grams, "1", person_created, person_created)))
        # the case
        case_type = types[i]
        status = _status(rng, case_type, age)
        prefix = prefix_of[case_type]
        key = (prefix, requested_on.year)
        counters[key] = counters.get(key, 0) + 1
        number = f"{prefix}-{requested_on.year}-{counters[key]:04d}"
        request_source = probation_office = facility_name = facility_type = release_date = released_on = NULL
        follow_up_on = requester_type = topic = suspect_stage = outcome_at_release = NULL
        closed_on = closing_reason = closing_note = placement = out_muni = out_code = NULL
        eligibility = "{}"
        final = status in ("closed", "moved_to_follow_up")
        last_day = requested_on
        if case_type in ("coordination", "suspect_support"):
            probation_office = request_source = rng.choice(PROBATION)
            if case_type == "coordination":
                facility_type, facility_name = rng.choice(FACILITIES)
                release = requested_on + timedelta(days=rng.randrange(30, 240))
                if status != "request_received":
                    eligibility = ELIGIBILITY_DONE.replace("{on}", (requested_on + timedelta(days=7)).isoformat())
            else:
                suspect_stage = rng.choice(SUSPECT_STAGES)
                release = requested_on + timedelta(days=rng.randrange(0, 20))
            release_date = release.isoformat()
            if status in ("released", "moved_to_follow_up") or (final and rng.random() < 0.7 and release <= today):
                released = min(release, today)
                released_on = released.isoformat()
                last_day = released
                if case_type == "suspect_support":
                    outcome_at_release = "福祉事務所に同行し、生活保護を申請した。"
        elif case_type == "follow_up":
            if status == "active":
                follow_up_on = (today + timedelta(days=rng.randrange(0, 60))).isoformat()
        else:
            requester_type = rng.choice(REQUESTERS)
            topic = rng.choice(TOPICS)
        pref = muni = muni_code = NULL
        if rng.random() < 0.7:
            pref, muni, muni_code = rng.choice(MUNICIPALITIES)
        if status == "closed":
            closing_reason = rng.choices(closing_values, weights=closing_weights)[0]
            closed = min(last_day + timedelta(days=rng.randrange(0, 120)), today)
            closed_on = closed.isoformat()
            if closing_reason == "placement_secured":
                placement = rng.choice(PLACEMENTS)
                out_muni, out_code = (muni, muni_code) if muni != NULL else rng.choice(MUNICIPALITIES)[1:]
        updated = created + timedelta(days=min(age, 400) * rng.random()) if age > 0 else created
        version = str(1 + (0 if status in ("request_received", "open") else rng.randrange(1, 8)))
        cases.append("\t".join((
            center_id, _uuid_text(rng), number, pid, case_type, status, requested_on.isoformat(),
            request_source, probation_office, facility_name, facility_type, release_date, released_on,
            pref, muni, muni_code, follow_up_on, eligibility, requester_type, topic, suspect_stage,
            outcome_at_release, closed_on, closing_reason, closing_note, placement, out_muni, out_code,
            version, created_s, _ts(min(updated, now)))))
    return persons, cases, counters


def _copy(cur, table: str, columns: tuple[str, ...], text: str, chunk: int = 1 << 22) -> None:
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FREEZE)") as copy:
        data = text.encode()
        for i in range(0, len(data), chunk):
            copy.write(data[i:i + chunk])


def seed_cases(bdb, settings: Settings) -> dict:
    total, big = settings.cases_total, settings.cases_big_center
    rng = random.Random(20260402)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    counts: dict = {"centers": 0, "persons": 0, "cases": 0, "case_number_counters": 0}
    timings: dict = {}
    dsn = make_conninfo(settings.pg_admin_url, dbname=bdb.name)  # the superuser, in the bench database
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        for table in TABLES + ("case_number_counters",):
            if cur.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchone()[0]:
                raise RuntimeError(f"seed_cases: {table} is not empty (a fresh bench database is expected)")
        centers = cur.execute("SELECT code, id::text FROM centers ORDER BY prefecture_code, code").fetchall()
        sizes = center_sizes([c for c, _ in centers], total, bdb.tenant_code, big, rng)
        counts["centers"] = len(centers)
        indexes = cur.execute(
            "SELECT c.relname, i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)"
            " ORDER BY 1, 2", (list(TABLES),)).fetchall()
        cur.execute("SET session_replication_role = replica")  # no per-row FK triggers (checked below)
        cur.execute("SET maintenance_work_mem = '512MB'")
        # TRUNCATE in this transaction is what lets COPY FREEZE write frozen, all-visible rows.
        cur.execute("TRUNCATE persons, cases, case_number_counters CASCADE")
        for _table, index, _ddl in indexes:
            cur.execute(f"DROP INDEX {index}")
        print(f"  loading {total:,} cases and persons over {len(centers)} centers ({sizes[bdb.tenant_code]:,} in "
              f"{bdb.tenant_code}); secondary indexes dropped for the load: {len(indexes)}", flush=True)
        t0 = time.perf_counter()
        done = 0
        next_report = 0.1
        all_counters = []
        # Two forked processes (no re-import of __main__) generate centers' rows, biggest first, while this one COPYs.
        jobs = sorted(((code, center_id, sizes[code], now, rng.getrandbits(64)) for code, center_id in centers
                       if sizes[code]), key=lambda j: -j[2])
        with multiprocessing.get_context("fork").Pool(processes=max(1, min(2, os.cpu_count() or 1))) as pool:
            for code, n, persons, cases, counters in pool.imap_unordered(_center_job, jobs):
                _copy(cur, "persons", PERSON_COLUMNS, persons)
                _copy(cur, "cases", CASE_COLUMNS, cases)
                all_counters.extend(counters)
                done += n
                counts["persons"] += n
                counts["cases"] += n
                if done / total >= next_report or done == total:
                    el = time.perf_counter() - t0
                    print(f"    {done:>10,} / {total:,} cases and persons loaded ({done / el:,.0f}/s)", flush=True)
                    next_report = done / total + 0.1
        _copy(cur, "case_number_counters", COUNTER_COLUMNS, "".join("\t".join(r) + "\n" for r in all_counters))
        counts["case_number_counters"] = len(all_counters)
        timings["copy_s"] = round(time.perf_counter() - t0, 1)
        t = time.perf_counter()
        for table, index, ddl in indexes:
            ti = time.perf_counter()
            cur.execute(ddl)
            print(f"    index {index} on {table}: {time.perf_counter() - ti:.1f}s", flush=True)
        timings["index_s"] = round(time.perf_counter() - t, 1)
        # The foreign keys the triggers did not check: none may dangle.
        orphans = cur.execute(
            "SELECT (SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM persons p"
            "         WHERE p.center_id = c.center_id AND p.id = c.person_id))"
            "     + (SELECT count(*) FROM cases c WHERE NOT EXISTS (SELECT 1 FROM centers x WHERE x.id = c.center_id))"
            "     + (SELECT count(*) FROM persons p WHERE NOT EXISTS (SELECT 1 FROM centers x WHERE x.id = p.center_id))"
        ).fetchone()[0]
        if orphans:
            raise RuntimeError(f"seed_cases: {orphans} rows break a foreign key")
        cur.execute("RESET session_replication_role")
        conn.commit()
    t = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    timings["vacuum_analyze_s"] = round(time.perf_counter() - t, 1)
    counts["timings"] = timings
    counts["owner_bypassrls"] = True  # loaded as the superuser
    others = [v for c, v in sizes.items() if c != bdb.tenant_code]
    counts["sizes"] = {bdb.tenant_code: sizes[bdb.tenant_code], "other_centers_min": min(others, default=0),
                       "other_centers_max": max(others, default=0)}
    return counts

"""Synthetic persons and cases for all 48 centers, bulk-loaded with COPY as the schema owner.

PostgreSQL refuses ``COPY FROM`` into a table whose row-level security applies to the current
role.  The owner is meant to have BYPASSRLS (``tests/conftest.py``), but a ``teichaku_owner`` made
elsewhere may lack it, and the tables are ``FORCE ROW LEVEL SECURITY``; so when the owner does
not bypass RLS the load runs inside one transaction that turns FORCE off, copies and turns it
back on (other sessions never see the change; the database is the bench's own).
The data are deterministic (a fixed random seed) and fill every NOT NULL column the way the
services would (columns with a server default, added by later migrations, take it): ``name_search`` from ``persons.names.search_key``, the initial status of each
case type, case numbers ``CO-2025-0001`` unique per center (and ``case_number_counters`` set
to match, so a later benchmark that opens cases through the API continues the sequences).
"""
from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta, timezone

import psycopg

from .config import Settings

FAMILY = (("佐藤", "さとう"), ("鈴木", "すずき"), ("高橋", "たかはし"), ("田中", "たなか"), ("伊藤", "いとう"),
          ("渡辺", "わたなべ"), ("山本", "やまもと"), ("中村", "なかむら"), ("小林", "こばやし"), ("加藤", "かとう"),
          ("吉田", "よしだ"), ("山田", "やまだ"), ("佐々木", "ささき"), ("山口", "やまぐち"), ("松本", "まつもと"),
          ("井上", "いのうえ"), ("木村", "きむら"), ("林", "はやし"), ("斎藤", "さいとう"), ("清水", "しみず"))
GIVEN = ((("太郎", "たろう"), "male"), (("一郎", "いちろう"), "male"), (("健", "けん"), "male"),
         (("浩", "ひろし"), "male"), (("誠", "まこと"), "male"), (("茂", "しげる"), "male"),
         (("花子", "はなこ"), "female"), (("幸子", "さちこ"), "female"), (("和子", "かずこ"), "female"),
         (("恵子", "けいこ"), "female"), (("洋子", "ようこ"), "female"), (("薫", "かおる"), "other"))
PERSON_COLUMNS = ("center_id", "id", "family_name", "given_name", "family_name_kana", "given_name_kana",
                  "birth_date", "sex", "support_needs", "name_search", "version", "created_at", "updated_at")
CASE_COLUMNS = ("center_id", "id", "case_number", "person_id", "case_type", "status", "requested_on",
                "release_date", "destination_prefecture_code", "assigned_user_id", "version",
                "created_at", "updated_at")
COUNTER_COLUMNS = ("center_id", "id", "prefix", "year", "last_value")
LOADED_TABLES = ("persons", "cases", "case_number_counters")
SPAN = timedelta(days=3 * 365)  # cases were opened over the last three years
JST = timezone(timedelta(hours=9))


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _copy(cur, table: str, columns: tuple[str, ...], rows) -> int:
    n = 0
    with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def seed_synthetic(bdb, settings: Settings) -> dict:
    """Load ``settings.cases_per_center`` cases (and about 0.8 persons per case) in every center."""
    from teichaku.tenants.cases.lifecycle import INITIAL_STATUS, NUMBER_PREFIX
    from teichaku.tenants.persons import names
    from teichaku.tenants.persons.models import SUPPORT_NEEDS

    case_types = tuple(INITIAL_STATUS)  # the case types, each with the status a new case starts in
    search_key = names.search_key
    name_grams = getattr(names, "name_grams", None)  # the indexed bigrams, where the schema has them

    rng = random.Random(20260401)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - SPAN
    n_cases = settings.cases_per_center
    n_persons = max(1, n_cases * 4 // 5)
    counts = {"centers": 0, "persons": 0, "cases": 0, "case_number_counters": 0}

    with psycopg.connect(bdb.owner_dsn) as conn, conn.cursor() as cur:
        bypass = cur.execute("SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()[0]
        counts["owner_bypassrls"] = bypass
        if not bypass:
            for table in LOADED_TABLES:
                cur.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        person_columns = PERSON_COLUMNS
        with_grams = name_grams is not None and cur.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'persons' AND column_name = 'name_grams'"
        ).fetchone() is not None
        if with_grams:
            person_columns += ("name_grams",)
        center_ids = [row[0] for row in cur.execute("SELECT id FROM centers ORDER BY prefecture_code, code")]
        counts["centers"] = len(center_ids)
        for center_id in center_ids:
            persons = []  # (id, created_at)

            def person_rows():
                for i in range(n_persons):
                    (fam, fam_kana), ((giv, giv_kana), sex) = rng.choice(FAMILY), rng.choice(GIVEN)
                    created = start + SPAN * (i / n_persons) + timedelta(seconds=rng.randrange(3600))
                    birth = datetime(1935, 1, 1).date() + timedelta(days=rng.randrange(60 * 365))
                    needs = rng.sample(SUPPORT_NEEDS, rng.randrange(0, 3))
                    pid = _uuid(rng)
                    persons.append((pid, created))
                    # exactly as persons.services._refresh_search
                    parts = (fam + giv, fam_kana + giv_kana, fam, giv, fam_kana, giv_kana)
                    row = (center_id, pid, fam, giv, fam_kana, giv_kana, birth, sex, json.dumps(needs),
                           search_key(*parts), 1, created, created)
                    yield row + (name_grams(*parts),) if with_grams else row

            counters: dict[tuple[str, int], int] = {}

            def case_rows():
                for j in range(n_cases):
                    pid, person_created = persons[j % n_persons] if j < n_persons else rng.choice(persons)
                    created = max(person_created, start + SPAN * (j / n_cases)) + timedelta(seconds=rng.randrange(3600))
                    case_type = rng.choice(case_types)
                    requested_on = created.astimezone(JST).date()
                    release = (requested_on + timedelta(days=rng.randrange(0, 180))
                               if case_type in ("coordination", "suspect_support") else None)
                    key = (NUMBER_PREFIX[case_type], requested_on.year)
                    counters[key] = counters.get(key, 0) + 1
                    dest = f"{rng.randrange(1, 48):02d}" if rng.random() < 0.7 else None
                    yield (center_id, _uuid(rng), f"{key[0]}-{key[1]}-{counters[key]:04d}", pid, case_type,
                           INITIAL_STATUS[case_type], requested_on, release, dest, None, 1, created, created)

            counts["persons"] += _copy(cur, "persons", person_columns, person_rows())
            counts["cases"] += _copy(cur, "cases", CASE_COLUMNS, case_rows())
            counts["case_number_counters"] += _copy(
                cur, "case_number_counters", COUNTER_COLUMNS,
                ((center_id, _uuid(rng), prefix, year, last) for (prefix, year), last in sorted(counters.items())))
        if not bypass:
            for table in LOADED_TABLES:
                cur.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        conn.commit()
    return counts

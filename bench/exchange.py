"""Case-study exchange benchmark: Japanese search over the shared library on PostgreSQL.

Seeds ``BENCH_EXCHANGE_STUDIES`` (default 2,000) published studies, written from the sentences
of the source good-practice collection (``../shared/domain/good-practices-R5-2023.txt``) with
topic sentences mixed in at fixed rates, their search documents made by the product's own
tokenizer (``exchange.search.document``: Sudachi tokens, normalised forms, readings, bigrams);
then, in-process as a tokyo staff account (bearer token, the application role under RLS):

* **latency**: p50/p95/p99 of ``GET /api/v1/case-studies?q=…&limit=20`` for each query in
  ``LATENCY_QUERIES`` (two-character words, a longer word, kana for kanji, two words, a tag
  filter), ``BENCH_EXCHANGE_REQUESTS`` requests each after a warm-up;
* **recall and precision** of the queries in ``RECALL_QUERIES`` against the corpus's ground
  truth (a study is relevant when its text contains one of the query's written forms), paging
  through every result;
* the plan PostgreSQL chooses for one search, run as ``teichaku_app`` (the GIN index).

``BENCH_EXCHANGE_REUSE_DB=<name>`` reuses a database kept with ``BENCH_KEEP_DB=1`` (the corpus
is generated again, identically, for the ground truth: same seed, same ids).

Targets: p95 < ``TARGET_P95_MS`` for every latency query, recall ≥ ``TARGET_RECALL`` for every
recall query.  Figures go to ``bench-results/exchange.json``.
"""
from __future__ import annotations

import json
import math
import os
import random
import re
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

from .config import ROOT, Settings
from .database import bench_database, owner_app_config, sign_tenant
from .registry import benchmark
from .report import write_json

NAME = "exchange"
SOURCE = ROOT.parent / "shared" / "domain" / "good-practices-R5-2023.txt"
TARGET_P95_MS = 100.0
TARGET_RECALL = 0.95
PAGE = 20

# Sentences mixed into the corpus at these rates, so that every query has hundreds of answers.
TOPICS = (
    (0.20, "認知症の疑いがある高齢の対象者について、受入先の施設と支援方針を話し合った。"),
    (0.08, "軽度認知障害が疑われる方の生活の見守りを地域包括支援センターに依頼した。"),
    (0.12, "触法障害者の地域生活を支えるため、関係機関と役割を分担した。"),
    (0.15, "グループホームの職員と顔の見える関係をつくり、受入れの相談がしやすくなった。"),
    (0.10, "知的障がい者の就労について、相談支援事業所と情報を共有した。"),
    (0.10, "自立準備ホームの登録について、保護観察所と協議を重ねた。"),
)
TITLES = ("検討委員会の運営", "地域ネットワークの構築", "受入先の開拓", "研修動画の作成", "関係機関との役割分担",
          "フォローアップ体制の強化", "被疑者等支援の取組み", "広域調整の工夫")
TAGS = ("review_committee", "regional_network", "receiving_places", "training", "municipal_cooperation",
        "coordination", "follow_up", "suspect_support", "elderly", "intellectual", "dementia")

# (query, forms whose presence in a study's text makes it relevant)
RECALL_QUERIES = (
    ("認知", ("認知",)),
    ("触法", ("触法",)),
    ("にんち", ("認知",)),
    ("しょくほう", ("触法",)),
    ("ぐるーぷほーむ", ("グループホーム",)),
    ("障がい者", ("障害者", "障がい者")),
)
LATENCY_QUERIES = (
    ("two_chars", {"q": "認知"}),
    ("two_chars_rare", {"q": "触法"}),
    ("word", {"q": "グループホーム"}),
    ("kana_for_kanji", {"q": "にんちしょう"}),
    ("two_words", {"q": "認知症 受入先"}),
    ("tag_filter", {"q": "支援", "tag": "dementia"}),
    ("list_newest", {}),
)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# --- the corpus ----------------------------------------------------------------------------------

def sentences() -> list[str]:
    """The source collection's sentences (bullets and page furniture removed)."""
    raw = SOURCE.read_text(encoding="utf-8")
    out = []
    for line in raw.splitlines():
        line = re.sub(r"^[\s\-・*]+", "", line).strip()
        for part in re.split(r"(?<=。)", line):
            part = part.strip()
            if 12 <= len(part) <= 200 and part.endswith("。"):
                out.append(part)
    return out


def corpus(count: int, seed: int = 20230331) -> list[dict]:
    """``count`` studies: 4-8 sentences a section, topic sentences at their rates, a few tags."""
    rng = random.Random(seed)
    pool = sentences()
    studies = []
    for n in range(count):
        sections = {key: rng.sample(pool, rng.randint(4, 8)) for key in ("background", "actions", "outcomes")}
        for rate, sentence in TOPICS:
            if rng.random() < rate:
                sections[rng.choice(list(sections))].insert(rng.randint(0, 3), sentence)
        studies.append({"id": uuid.uuid5(uuid.NAMESPACE_URL, f"teichaku-bench-exchange-{n}"),
                        "title": f"{rng.choice(TITLES)}（事例{n + 1}）", "reference": "",
                        "tags": sorted(rng.sample(TAGS, rng.randint(1, 3))),
                        **{key: "".join(parts) for key, parts in sections.items()}})
    return studies


def _text(study: dict) -> str:
    return "\n".join(study[k] for k in ("title", "background", "actions", "outcomes", "reference"))


# --- seeding ---------------------------------------------------------------------------------------

def seed_library(bdb, settings) -> dict:
    """The studies as published versions, written straight into the shared tables as the owner
    (the search documents made by the product's tokenizer, as publishing makes them)."""
    from teichaku.crosstenant.exchange.search import document

    count = _int("BENCH_EXCHANGE_STUDIES", 2000)
    studies = corpus(count)
    started = time.perf_counter()
    rows, now = [], datetime.now(timezone.utc)
    for n, study in enumerate(studies):
        at = now - timedelta(minutes=count - n)
        rows.append((study, at, document(study["title"]),
                     document(study["background"], study["actions"], study["outcomes"], study["reference"])))
    tokenize_s = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(bdb.owner_dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO case_studies (id, publisher, status, latest_version, helpful_count, first_published_at,"
            " last_published_at) VALUES (%s, 'center', 'published', 1, 0, %s, %s)",
            [(s["id"], at, at) for s, at, _t, _b in rows])
        cur.executemany(
            "INSERT INTO case_study_versions (id, study_id, version_no, title, background, actions, outcomes, reference,"
            " tags, publisher, shown_center_id, published_at, search_title, search_body)"
            " VALUES (%s, %s, 1, %s, %s, %s, %s, %s, %s, 'center', NULL, %s, %s, %s)",
            [(uuid.uuid4(), s["id"], s["title"], s["background"], s["actions"], s["outcomes"], s["reference"],
              json.dumps(s["tags"]), at, title, body) for s, at, title, body in rows])
    return {"studies": count, "tokenize_s": round(tokenize_s, 2), "insert_s": round(time.perf_counter() - started, 2),
            "avg_chars": round(sum(len(_text(s)) for s in studies) / count)}


# --- measuring ---------------------------------------------------------------------------------------

def _percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (as ``bench.loadgen``)."""
    ordered = sorted(values)
    return ordered[max(1, min(len(ordered), math.ceil(p / 100 * len(ordered)))) - 1]


def _client(bdb):
    from teichaku.app import create_app

    app = create_app({**owner_app_config(bdb), "TESTING": True, "RATELIMIT_STORAGE_URI": bdb.redis_url})
    client = app.test_client()
    answer = client.post("/api/v1/auth/token", json={"email": bdb.staff_email, "password": bdb.staff_password})
    if answer.status_code != 201:
        raise RuntimeError(f"token request answered {answer.status_code}")
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {answer.get_json()['token']}"
    return app, client


def latency(client, params: dict, requests: int, warmup: int = 10) -> dict:
    timings = []
    for n in range(warmup + requests):
        started = time.perf_counter()
        answer = client.get("/api/v1/case-studies", query_string={**params, "limit": PAGE})
        elapsed = (time.perf_counter() - started) * 1000
        if answer.status_code != 200:
            raise RuntimeError(f"search {params} answered {answer.status_code}")
        if n >= warmup:
            timings.append(elapsed)
    return {"requests": requests, "p50_ms": round(_percentile(timings, 50), 2), "p95_ms": round(_percentile(timings, 95), 2),
            "p99_ms": round(_percentile(timings, 99), 2), "first_page": len(answer.get_json()["items"]),
            "met": _percentile(timings, 95) < TARGET_P95_MS}


def everything_found(client, query: str) -> set[str]:
    found, cursor = set(), None
    while True:
        params = {"q": query, "limit": 200, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/case-studies", query_string=params).get_json()
        found.update(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return found


def recall(client, studies: list[dict]) -> dict:
    out = {}
    for query, forms in RECALL_QUERIES:
        relevant = {str(s["id"]) for s in studies if any(f in _text(s) for f in forms)}
        found = everything_found(client, query)
        hits = len(found & relevant)
        value = hits / len(relevant) if relevant else None
        out[query] = {"relevant": len(relevant), "found": len(found), "hits": hits,
                      "recall": round(value, 4) if value is not None else None,
                      "precision": round(hits / len(found), 4) if found else None,
                      "met": value is not None and value >= TARGET_RECALL}
    return out


def plan(bdb, query: str) -> list[str]:
    """EXPLAIN ANALYZE of the search's core, as the application role (RLS on)."""
    from teichaku.crosstenant.exchange.search import parse_query

    dsn = bdb.owner_dsn.replace("teichaku_owner@", "teichaku_app@")
    with psycopg.connect(dsn) as conn:
        sign_tenant(conn, bdb.secret_key, bdb.tenant_id)
        rows = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS) SELECT v.id, ts_rank(v.search_vector, q) AS rank"
            " FROM case_studies s JOIN case_study_versions v ON v.study_id = s.id AND v.version_no = s.latest_version,"
            " to_tsquery('simple'::regconfig, %s) q WHERE s.status = 'published' AND v.search_vector @@ q"
            " ORDER BY rank DESC LIMIT 21", (parse_query(query).tsquery(),)).fetchall()
    return [r[0] for r in rows]


@benchmark(NAME, "Japanese search over 2,000 published case studies: p95 < 100 ms, recall on 2-char and kana queries")
def run() -> dict:
    settings = Settings.from_env()
    requests = _int("BENCH_EXCHANGE_REQUESTS", 200)
    reuse = os.environ.get("BENCH_EXCHANGE_REUSE_DB", "").strip() or False
    count = _int("BENCH_EXCHANGE_STUDIES", 2000)
    print(f"reusing database {reuse}" if reuse else f"seeding {count:,} published studies (Sudachi documents) ...",
          flush=True)
    with bench_database(settings, seed_library, staff="tenant", reuse=reuse) as bdb:
        print(f"database {bdb.name}: {bdb.timings}", flush=True)
        app, client = _client(bdb)
        with app.app_context():
            figures = {"seed": bdb.timings, "target_p95_ms": TARGET_P95_MS, "target_recall": TARGET_RECALL,
                       "latency": {}, "recall": {}}
            for name, params in LATENCY_QUERIES:
                figures["latency"][name] = {"params": params, **latency(client, params, requests)}
                r = figures["latency"][name]
                print(f"  {name:<16} {json.dumps(params, ensure_ascii=False):<40} p50 {r['p50_ms']:7.2f} ms"
                      f"  p95 {r['p95_ms']:7.2f} ms  p99 {r['p99_ms']:7.2f} ms", flush=True)
            figures["recall"] = recall(client, corpus(count))
            for query, r in figures["recall"].items():
                print(f"  recall {query:<14} relevant {r['relevant']:5}  found {r['found']:5}  recall {r['recall']}"
                      f"  precision {r['precision']}", flush=True)
            figures["plan_two_chars"] = plan(bdb, "認知")
            print("  plan (認知):\n    " + "\n    ".join(figures["plan_two_chars"]), flush=True)
        from teichaku.platform.extensions import db

        with app.app_context():
            db.engine.dispose()
    figures["ok"] = (all(r["met"] for r in figures["latency"].values())
                     and all(r["met"] for r in figures["recall"].values()))
    path = write_json(NAME, figures)
    print(f"figures: {path}; targets {'met' if figures['ok'] else 'MISSED'}", flush=True)
    return figures

"""Dashboard and logs-list benchmark: server time of the real pages over a million logs.

    SECRET_KEY=x DATABASE_URL=postgres://postgres@127.0.0.1:5432/codecosts_bench \\
        .venv/bin/python benchmarks/dashboard.py [--logs 1000000] [--runs 10] [--reseed]
        [--explain] [--seed-only] [--strict]

1. Database: the one named in DATABASE_URL (PostgreSQL only), created through the
   `postgres` maintenance database when missing, then migrated.
2. Seed (skipped when the database's comment says a seed of exactly --logs usage logs
   finished there and it holds that many; a seed stopped halfway is redone; --reseed
   drops and recreates it): 3 organizations, 20 proxy endpoints (uneven: ~70% / 22% /
   8% of the traffic, Zipf-like within an organization), `--logs` usage logs over the
   last 90 days (traffic growing towards today), a realistic model mix (Claude Sonnet /
   Opus / Haiku, a few OpenAI chat and embedding models, a sliver of an unpriced model),
   outcomes (mostly ok; upstream errors, disconnects, timeouts), Claude Code sessions
   (one per endpoint, 3 hours and one of three developers), an endpoint deleted 40 days
   ago (its logs keep the slug, endpoint NULL), and bodies for only a few thousand logs.
   Attribution (issue 13): 25 people in each big organization (8 in the small one),
   Zipf-like (the heaviest makes a quarter of the calls), named by their own Codecosts
   key (person_source `key`, a proxy key named after them: api_key set) or the
   x-codecosts-user header, four of them Claude Code installs known by the body only
   (`device:<64 hex>`); 10% of the calls name nobody. A Claude Code session keeps one
   person, tags, repo and ticket; in blocks of 20 of its calls, a run of 3-15 consecutive
   ones is a subagent's (`a` + 16 hex, request_class `subagent`, agent_type Explore,
   general-purpose, Plan or a custom one; a run of 8 or more is, 30% of the time, nested:
   its second half a child agent with parent_agent_id): ~30% of the session calls.
   The rest are `main`, 3% `compaction`, 9% `auxiliary`; 10% of the sessions send no
   hint headers (request class ""), nor do calls outside Claude Code. Tags: 0-3 of 12
   (backend on ~28% of the calls, security-review on ~0.5%); properties `repo` (15
   values, Zipf-like) on 85% and `ticket` (ENG-<n>, ~25 new a day, each worked on for
   ~3 days: thousands in all) on 60%. All log rows are made by PostgreSQL itself in one
   `INSERT ... SELECT FROM generate_series(...)` (secondary indexes dropped during the
   load and rebuilt after, FK triggers off for the load and checked afterwards); bodies
   by COPY. Costs are computed in SQL from the per-token rates of the product's price
   table (usage.pricing, card at seed time), and web-search fees: exactly what
   cost_compute gives for these calls (prompts stay under the 200k long-context tier, no
   inference geo); a sample is re-priced with cost_compute to prove it. Sessions,
   UsageLogLabel (a row per tag and property, as log_labels makes them), UsageDaily and
   UsageRollup (rollup_keys: each log's sums under its person, request class, agent
   type, session, agent, each tag or "" and each property; cache savings priced as for
   UsageDaily) are filled by INSERT ... SELECT over the logs; the last two days are then
   rebuilt with the product's usage_daily_rebuild() and usage_rollup_rebuild() and
   compared row by row. VACUUM ANALYZE at the end.
3. Measure, for the busiest organization, through django.test.Client logged in as its
   owner (force_login), the full middleware stack and real views, all for the last 30
   days: the dashboard and the logs list (first page, next page, a page deep down by
   cursor, filters); GET /api/usage-logs (pages, deep cursor, endpoint); the logs list
   and GET /api/usage-logs by person (a mid one, and "(none)"), tag (the common one, the
   rare one, "(none)"), property repo:<a mid value> and repo:(none), request_class
   subagent and agent (the busiest subagent run), and a deep cursor in the common tag;
   GET /api/usage/summary by model, session, person, request_class, agent_type, tag and
   property:repo, and by session, person, tag and property:repo from 09:30 on the first
   day to 12:00 on the last (whole days from the rollups, the hours from the logs); the
   People, Agents and Properties pages (repo; ticket, with its hundreds of values).
   Values are picked from the rollups. A logs page filter is checked against the API's
   (same first page) and skipped, with the reason printed, on a commit whose page does
   not read it; a page that answers 404 (a commit from before it) is skipped too.
   Each case: warm-up, then --runs timed requests (p50, max), and one more request under
   CaptureQueriesContext for the number of SQL queries and the slowest one. Target:
   every case p50 under 300 ms. --explain prints EXPLAIN ANALYZE of every case's
   slowest query (always printed for a MISS); --strict exits 2 on a MISS.

One module on purpose (about 1,400 lines): a benchmark is run as one script with
`python benchmarks/dashboard.py`, and its data generator, cases and report read best
side by side; it is not imported by the product.
"""

import argparse
import atexit
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/codecosts_bench"
TARGET_MS = 300.0
DAYS_SEEDED = 90
PERIOD_DAYS = 30
BODY_LOGS = 3000
# The database's comment once a seed of that many logs has finished (checks included).
SEEDED_MARK = "codecosts dashboard benchmark: {logs} logs seeded"

# (organization name, share of all calls, endpoint slugs); endpoints get Zipf-like shares.
ORGANIZATIONS = [
    (
        "Acme Robotics",
        0.70,
        [
            "acme-claude-code",
            "acme-backend",
            "acme-agents",
            "acme-support-bot",
            "acme-ci",
            "acme-evals",
            "acme-docs",
            "acme-data",
            "acme-mobile",
            "acme-research",
            "acme-sandbox",
        ],
    ),
    (
        "Globex",
        0.22,
        ["globex-app", "globex-etl", "globex-search", "globex-chat", "globex-dev", "globex-qa"],
    ),
    ("Initech", 0.08, ["initech-tps", "initech-reports", "initech-dev"]),
]

# (model, provider, kind, share of calls). kind: claude | chat | embed.
MODELS = [
    ("claude-sonnet-4-5-20250929", "anthropic", "claude", 0.35),
    ("claude-sonnet-4-6", "anthropic", "claude", 0.15),
    ("claude-opus-4-6", "anthropic", "claude", 0.12),
    ("claude-opus-4-1-20250805", "anthropic", "claude", 0.03),
    ("claude-haiku-4-5-20251001", "anthropic", "claude", 0.22),
    ("claude-3-5-haiku-20241022", "anthropic", "claude", 0.03),
    ("gpt-5", "openai", "chat", 0.04),
    ("gpt-4o-mini", "openai", "chat", 0.03),
    ("gpt-4.1", "openai", "chat", 0.018),
    ("text-embedding-3-small", "openai", "embed", 0.01),
    ("acme-finetune-llm-v2", "openai", "chat", 0.002),  # not in the price table: unpriced
]

# Logs of this endpoint older than DELETED_DAYS belong to an endpoint deleted since: its
# logs keep the slug, with endpoint_id NULL (on_delete=SET_NULL). Its slug still shows in
# the logs page's endpoint filter (from UsageDaily), and filtering on it finds no call in
# the last 30 days.
DELETED_FROM, DELETED_SLUG, DELETED_DAYS = "acme-sandbox", "acme-prototype", 40

SESSION_PROMPTS = [
    "Fix the flaky test in test_billing",
    "Add pagination to the invoices API",
    "Refactor the auth middleware",
    "Why is the nightly ETL slow?",
    "Write a migration for orders",
    "Review this PR for security issues",
    "Port the CLI to Typer",
    "Explain the retry logic",
    "Upgrade Django to 6.1",
    "Draft release notes for 2.4",
    "Find the memory leak in the worker",
    "Add OpenTelemetry tracing",
    "Clean up the feature flags",
    "Speed up the search indexer",
]

# Attribution (issue 13). People per organization (in ORGANIZATIONS' order), Zipf-like:
# a few heavy users. Most are named by their Codecosts key (person_source `key`) or the
# x-codecosts-user header; the ranks in DEVICE_RANKS are Claude Code installs known only
# by the request body (`device:<64 hex>`). UNATTRIBUTED of the calls (whole Claude Code
# sessions, for those) name nobody.
PEOPLE = [25, 25, 8]
DEVICE_RANKS = (6, 11, 17, 23)
UNATTRIBUTED = 0.10
FIRST_NAMES = [
    "alice", "bruno", "chen", "dana", "emil", "farah", "goran", "hana", "ivan", "jules",
    "kofi", "lena", "mateo", "nadia", "oskar", "priya", "quinn", "rosa", "sami", "tomas",
    "uma", "viktor", "wei", "yara", "zoe",
]  # fmt: skip
# (tag, share of the tags drawn); a call has 0-3 distinct tags (TAG_COUNTS: cumulative
# shares of 0, 1 and 2 tags; the rest have 3).
TAGS = [
    ("backend", 0.30),
    ("ci", 0.16),
    ("frontend", 0.12),
    ("prod", 0.10),
    ("eval", 0.08),
    ("nightly", 0.06),
    ("staging", 0.05),
    ("experiment", 0.045),
    ("docs", 0.035),
    ("hotfix", 0.025),
    ("migration", 0.015),
    ("security-review", 0.005),
]
TAG_COUNTS = (0.35, 0.70, 0.90)
COMMON_TAG, RARE_TAG = TAGS[0][0], TAGS[-1][0]
# Property `repo` (Zipf-like over these) on REPO_SHARE of the calls, `ticket` (ENG-<n>:
# about 25 new tickets a day, each worked on for ~3 days) on TICKET_SHARE.
REPOS = [
    "backend", "web-app", "mobile", "infra", "data-pipeline", "ml-models", "docs", "cli",
    "sdk-python", "sdk-js", "billing", "auth-service", "search", "design-system", "playground",
]  # fmt: skip
REPO_SHARE, TICKET_SHARE = 0.85, 0.60
# Claude Code sessions: SUBAGENT_BLOCK calls at a time, of which (with probability
# SUBAGENT_RUN_P) a run of 3-15 consecutive ones is one subagent's (agent id `a` + 16
# hex); a run of 8 or more is nested with NESTED_P: its second half is a child agent whose
# parent_agent_id is the first half's. HINTLESS_SESSIONS of the sessions send no gateway
# hint headers (no request class, no agent). Of the other calls: COMPACTION, AUXILIARY
# (the rest `main`).
SUBAGENT_BLOCK, SUBAGENT_RUN_P, NESTED_P = 20, 0.62, 0.30
HINTLESS_SESSIONS = 0.10
COMPACTION, AUXILIARY = 0.03, 0.09
# (agent type, cumulative share): Claude Code's built-in ones, then custom agents.
AGENT_TYPES = [
    ("Explore", 0.45),
    ("general-purpose", 0.72),
    ("Plan", 0.88),
    ("code-reviewer", 0.95),
    ("test-runner", 1.01),
]


# --- Database ---------------------------------------------------------------------------


def conninfo(url: str, dbname: str | None = None) -> tuple[str, str]:
    """(psycopg conninfo, database name) for a postgres:// URL, optionally another dbname."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        sys.exit(f"DATABASE_URL must be a PostgreSQL URL, not {url!r}")
    name = parts.path.lstrip("/") or "codecosts_bench"
    target = parts._replace(scheme="postgresql", path="/" + (dbname or name))
    return target.geturl(), name


def database_prepare(url: str, *, logs: int, reseed: bool) -> bool:
    """Create the database if missing (drop it first with reseed); True if it must be seeded."""
    import psycopg
    from psycopg import sql

    maintenance, name = conninfo(url, "postgres")
    with psycopg.connect(maintenance, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        ).fetchone()
        if exists and not reseed and exists[0] != SEEDED_MARK.format(logs=logs):
            # No seed finished here (one stopped halfway leaves rows behind): anew.
            print(f"database {name}: no finished seed of {logs:,} logs: re-seeding")
            reseed = True
        if exists and not reseed:
            target, _ = conninfo(url)
            with psycopg.connect(target) as db:
                table = db.execute("SELECT to_regclass('usage_usagelog')").fetchone()[0]
                count = (
                    db.execute("SELECT count(*) FROM usage_usagelog").fetchone()[0] if table else 0
                )
                newest = (
                    db.execute("SELECT max(started_at) FROM usage_usagelog").fetchone()[0]
                    if count
                    else None
                )
            if count == logs:
                print(
                    f"database {name}: already holds {count:,} usage logs, not re-seeding (--reseed to force)"
                )
                if newest is not None and newest < datetime.now(UTC) - timedelta(days=2):
                    print(
                        f"  warning: newest log is from {newest:%Y-%m-%d}; the 30-day window is "
                        "thinner than seeded, --reseed for fresh dates"
                    )
                return False
            print(f"database {name}: holds {count:,} usage logs, not {logs:,}: re-seeding")
            reseed = True
        if exists and reseed:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"database {name}: created")
    return True


def django_setup(url: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="codecosts-dashboard-bench-"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "codecosts.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-only-secret-key",
            "DATABASE_URL": url,
            "REDIS_URL": "",
            "VAR_DIR": str(tmp / "var"),
            "USAGE_SPOOL_DIR": str(tmp / "spool"),
            "LOG_LEVEL": "WARNING",
            "DEBUG": "false",
        }
    )
    import django

    django.setup()


# --- Seed -------------------------------------------------------------------------------


def _zipf(n: int, s: float = 1.1) -> list[float]:
    weights = [1 / (rank**s) for rank in range(1, n + 1)]
    total = sum(weights)
    return [w / total for w in weights]


def _bounds(shares: list[float]) -> list[float]:
    """Lower bounds of the cumulative buckets, for width_bucket(random(), bounds); the
    shares are normalised so that the last bucket gets its own share, not the rest."""
    total = sum(shares)
    out, acc = [], 0.0
    for share in shares:
        out.append(acc)
        acc += share / total
    return out


def _counts(items) -> dict:
    counts: dict = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _people(organization, owner, *, count: int) -> list[tuple]:
    """An organization's people by rank (1: the heaviest user): (organization id, rank,
    person, person_source, api key id). Two in three named people call with their own
    Codecosts key (a proxy key named after them), the others send x-codecosts-user."""
    import hashlib

    from accounts.models import ApiKey
    from accounts.services import api_key_create

    domain = organization.name.split()[0].lower() + ".example"
    rows = []
    for rank in range(1, count + 1):
        first = FIRST_NAMES[(rank - 1) % len(FIRST_NAMES)]
        if rank in DEVICE_RANKS:
            device = hashlib.sha256(f"{organization.id}:{rank}".encode()).hexdigest()
            rows.append((str(organization.id), rank, f"device:{device}", "body", None))
        elif rank % 3 == 2:
            rows.append((str(organization.id), rank, f"{first}@{domain}", "header", None))
        else:
            key, _raw = api_key_create(
                organization=organization,
                name=first,
                created_by=owner,
                scope=ApiKey.Scope.PROXY,
            )
            rows.append((str(organization.id), rank, key.name, "key", str(key.id)))
    return rows


def seed(*, logs: int) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from accounts.models import Membership
    from accounts.services import membership_create, organization_create
    from proxy.models import ProxyEndpoint
    from usage.pricing import price_card_for

    started = time.perf_counter()
    now = datetime.now(UTC)
    User = get_user_model()

    # Organizations, owners, endpoints: a few rows through the ORM and the services.
    endpoints = []  # (id, organization_id, slug, share)
    owners = []
    people = []  # (organization_id, rank, person, person_source, api_key_id)
    for index, (name, org_share, slugs) in enumerate(ORGANIZATIONS):
        owner = User.objects.create_user(
            username=f"owner{index}@bench.example", email=f"owner{index}@bench.example"
        )
        organization = organization_create(name=name, owner=owner)
        owners.append(owner)
        for slug, share in zip(slugs, _zipf(len(slugs))):
            endpoint = ProxyEndpoint.objects.create(organization=organization, name=slug, slug=slug)
            endpoints.append((str(endpoint.id), str(organization.id), slug, org_share * share))
        people.extend(_people(organization, owner, count=PEOPLE[index]))
    # The busiest organization's owner also belongs to another one (the switcher renders).
    second = ProxyEndpoint.objects.get(slug=ORGANIZATIONS[1][2][0]).organization
    membership_create(organization=second, user=owners[0], role=Membership.Role.MEMBER)

    # Per-model rates in cents per token, from the product's price table.
    model_rows = []
    for model, provider, kind, share in MODELS:
        card = price_card_for(model, now, provider)
        if card is None:
            rates, search = (None,) * 5, None
        else:
            assert card is price_card_for(model, now - timedelta(days=DAYS_SEEDED + 1), provider), (
                f"{model}: price card changes within the seeded window; SQL pricing would be wrong"
            )
            rates = card.rates_for(prompt_tokens=0, fast=False).cents_per_token
            search = card.web_search_cents
        model_rows.append((model, provider, kind, share, *rates, search, card is not None))

    person_bounds = {
        organization_id: _bounds(_zipf(count, 1.0))
        for organization_id, count in _counts(row[0] for row in people).items()
    }
    ep_bounds = _bounds([e[3] for e in endpoints])
    model_bounds = _bounds([m[3] for m in model_rows])
    table_sql = """
        CREATE TEMP TABLE bench_ep (idx int PRIMARY KEY, id uuid, organization_id uuid, slug text);
        CREATE TEMP TABLE bench_model (
            idx int PRIMARY KEY, model text, provider text, kind text, priced boolean,
            r_in numeric, r_out numeric, r_5m numeric, r_1h numeric, r_read numeric,
            r_search numeric
        );
        CREATE TEMP TABLE bench_person (
            organization_id uuid, idx int, person text, source text, api_key_id uuid,
            PRIMARY KEY (organization_id, idx)
        );
        CREATE TEMP TABLE bench_org (organization_id uuid PRIMARY KEY, person_bounds float8[]);
        -- A uniform draw in [0, 1) from a text: the same text, the same draw (a session's
        -- person, a block's subagent run).
        CREATE FUNCTION pg_temp.hu(text) RETURNS float8 LANGUAGE sql IMMUTABLE
            AS $$ SELECT ('x' || substr(md5($1), 1, 8))::bit(32)::bigint / 4294967296.0 $$;
    """
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cur.execute("SET LOCAL work_mem = '256MB'")
        # Bulk load: no FK triggers (every reference is made from existing rows and checked
        # below), no secondary index maintenance (rebuilt afterwards).
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("SELECT setseed(0.4242)")
        cur.execute(table_sql)
        with cur.cursor.copy("COPY bench_ep (idx, id, organization_id, slug) FROM STDIN") as copy:
            for idx, (id_, org, slug, _share) in enumerate(endpoints, 1):
                copy.write_row((idx, id_, org, slug))
        with cur.cursor.copy(
            "COPY bench_model (idx, model, provider, kind, priced, r_in, r_out, r_5m, r_1h, r_read,"
            " r_search) FROM STDIN"
        ) as copy:
            for idx, (
                model,
                provider,
                kind,
                _share,
                r_in,
                r_out,
                r_5m,
                r_1h,
                r_read,
                search,
                priced,
            ) in enumerate(model_rows, 1):
                copy.write_row(
                    (idx, model, provider, kind, priced, r_in, r_out, r_5m, r_1h, r_read, search)
                )

        with cur.cursor.copy(
            "COPY bench_person (organization_id, idx, person, source, api_key_id) FROM STDIN"
        ) as copy:
            for row in people:
                copy.write_row(row)
        with cur.cursor.copy("COPY bench_org (organization_id, person_bounds) FROM STDIN") as copy:
            for organization_id, bounds in person_bounds.items():
                copy.write_row((organization_id, bounds))

        cur.execute(
            """SELECT indexname, indexdef FROM pg_indexes i
               WHERE tablename IN ('usage_usagelog', 'usage_session', 'usage_usageloglabel')
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"""
        )
        index_defs = cur.fetchall()
        for name, _ in index_defs:
            cur.execute(f'DROP INDEX "{name}"')

        t0 = time.perf_counter()
        cur.execute(
            LOG_INSERT_SQL,
            {
                "n": logs,
                "ep_bounds": ep_bounds,
                "model_bounds": model_bounds,
                "now": now,
                "days": DAYS_SEEDED,
                "deleted_from": DELETED_FROM,
                "deleted_slug": DELETED_SLUG,
                "deleted_days": DELETED_DAYS,
                "unattributed": UNATTRIBUTED,
                "tags": [tag for tag, _ in TAGS],
                "tag_bounds": _bounds([share for _, share in TAGS]),
                "tag_counts": list(TAG_COUNTS),
                "repos": REPOS,
                "repo_bounds": _bounds(_zipf(len(REPOS), 1.0)),
                "repo_share": REPO_SHARE,
                "ticket_share": TICKET_SHARE,
                "block": SUBAGENT_BLOCK,
                "run_p": SUBAGENT_RUN_P,
                "nested_p": NESTED_P,
                "hintless": HINTLESS_SESSIONS,
                "compaction": COMPACTION,
                "auxiliary": COMPACTION + AUXILIARY,
                "agent_types": [name for name, _ in AGENT_TYPES],
                "agent_type_bounds": [0.0] + [bound for _, bound in AGENT_TYPES[:-1]],
            },
        )
        print(f"  {logs:,} usage logs inserted in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        cur.execute(SESSION_INSERT_SQL, {"prompts": SESSION_PROMPTS})
        print(f"  {cur.rowcount:,} sessions in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        cur.execute(LABEL_INSERT_SQL)
        print(f"  {cur.rowcount:,} UsageLogLabel rows in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        for _name, definition in index_defs:
            cur.execute(definition)
        print(f"  {len(index_defs)} indexes rebuilt in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        cur.execute(DAILY_INSERT_SQL)
        print(f"  {cur.rowcount:,} UsageDaily rows in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        cur.execute(ROLLUP_INSERT_SQL)
        print(f"  {cur.rowcount:,} UsageRollup rows in {time.perf_counter() - t0:.1f} s")

        # What the FK triggers would have checked.
        cur.execute(
            """SELECT
                 (SELECT count(*) FROM usage_usagelog l
                  WHERE l.endpoint_id IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM proxy_proxyendpoint e WHERE e.id = l.endpoint_id)),
                 (SELECT count(*) FROM usage_usagelog l
                  WHERE l.session_id IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM usage_session s WHERE s.id = l.session_id)),
                 (SELECT count(*) FROM usage_usagelog l
                  WHERE l.api_key_id IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM accounts_apikey k
                     WHERE k.id = l.api_key_id AND k.organization_id = l.organization_id)),
                 (SELECT count(*) FROM usage_usageloglabel b
                  WHERE NOT EXISTS (SELECT 1 FROM usage_usagelog l
                    WHERE l.id = b.log_id AND l.organization_id = b.organization_id
                      AND l.started_at = b.started_at))"""
        )
        dangling = cur.fetchone()
        assert dangling == (0, 0, 0, 0), f"dangling references: {dangling}"

    bodies_seed()
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        for table in (
            "usage_usagelog",
            "usage_usagelogbody",
            "usage_session",
            "usage_usagedaily",
            "usage_usageloglabel",
            "usage_usagerollup",
            "proxy_proxyendpoint",
            "accounts_apikey",
            "accounts_membership",
            "accounts_organization",
        ):
            cur.execute(f"VACUUM (ANALYZE) {table}")
    print(f"  VACUUM ANALYZE in {time.perf_counter() - t0:.1f} s")
    seed_check(now=now)
    with connection.cursor() as cur:
        cur.execute(
            f"COMMENT ON DATABASE {connection.ops.quote_name(connection.settings_dict['NAME'])} "
            "IS %s",
            [SEEDED_MARK.format(logs=logs)],
        )
    print(f"seeded in {time.perf_counter() - started:.1f} s")


# Every log row is made here. Layer g: the random draws; layer x: endpoint, model, time,
# outcome and raw token counts; the outer SELECT: the columns, with the cost priced from
# the model's rates exactly like usage.pricing.cost_compute for these calls.
LOG_INSERT_SQL = """
INSERT INTO usage_usagelog (
    id, organization_id, endpoint_id, endpoint_slug, session_id, provider, path, request_model,
    model, streamed, status_code, outcome, incomplete, usage_missing, error_type, error_message,
    input_tokens, output_tokens, cache_write_tokens, cache_write_5m_tokens,
    cache_write_1h_tokens, cache_read_tokens, reasoning_tokens, web_search_requests,
    web_fetch_requests, inference_geo, service_tier, speed, stop_reason, cost_cents, unpriced,
    multi_part, started_at, duration_ms, ttfb_ms, upstream_request_id, user_agent, key_hint,
    claude_code_session_id, session_name, created_at, person, person_source, api_key_id,
    agent_id, parent_agent_id, request_class, agent_type, tags, properties,
    attribution_warnings
)
SELECT
    gen_random_uuid(), y.organization_id,
    CASE WHEN y.deleted THEN NULL ELSE y.endpoint_id END,
    CASE WHEN y.deleted THEN %(deleted_slug)s ELSE y.slug END, y.session_id, y.provider, y.path,
    y.model, y.model, y.streamed, y.status_code, y.outcome, y.outcome = 'client_disconnected',
    y.usage_missing, y.error_type, y.error_message,
    y.input_tokens, y.output_tokens, y.cw5m + y.cw1h, y.cw5m, y.cw1h, y.cache_read,
    y.reasoning, y.searches, 0, '',
    CASE WHEN y.provider = 'anthropic' THEN 'standard' ELSE 'default' END, '', y.stop_reason,
    CASE
        WHEN y.usage_missing THEN NULL
        WHEN y.status_code >= 400 THEN 0
        WHEN NOT y.priced THEN NULL
        ELSE y.input_tokens * y.r_in + y.output_tokens * y.r_out
             + y.cw5m * coalesce(y.r_5m, 0) + y.cw1h * coalesce(y.r_1h, 0)
             + y.cache_read * coalesce(y.r_read, 0) + y.searches * coalesce(y.r_search, 0)
    END,
    NOT y.usage_missing AND y.status_code < 400 AND NOT y.priced, false,
    y.started_at, y.duration_ms, y.ttfb_ms,
    'req_' || substr(md5(y.i::text), 1, 24), y.user_agent, y.key_hint,
    coalesce(y.session_id::text, ''), '', y.started_at + y.duration_ms * interval '1 millisecond',
    coalesce(p.person, ''), coalesce(p.source, ''), p.api_key_id,
    y.agent_id, y.parent_agent_id, y.request_class,
    CASE WHEN y.agent_id <> '' THEN (%(agent_types)s::text[])[
        width_bucket(pg_temp.hu(y.agent_id), %(agent_type_bounds)s::float8[])] ELSE '' END,
    (SELECT coalesce(jsonb_agg(DISTINCT t), '[]'::jsonb) FROM unnest((ARRAY[
        (%(tags)s::text[])[width_bucket(y.u_tag1, %(tag_bounds)s::float8[])],
        (%(tags)s::text[])[width_bucket(y.u_tag2, %(tag_bounds)s::float8[])],
        (%(tags)s::text[])[width_bucket(y.u_tag3, %(tag_bounds)s::float8[])]
    ])[1:width_bucket(y.u_tags, %(tag_counts)s::float8[])]) AS t),
    jsonb_strip_nulls(jsonb_build_object(
        'repo', CASE WHEN y.u_has_repo < %(repo_share)s
                     THEN (%(repos)s::text[])[width_bucket(y.u_repo, %(repo_bounds)s::float8[])] END,
        'ticket', CASE WHEN y.u_has_ticket < %(ticket_share)s
                       THEN 'ENG-' || (1000 + 25 * (floor(extract(epoch FROM y.started_at) / 86400)::int
                                                    %% 1000) + floor(y.u_ticket * 80)::int) END
    )),
    '[]'::jsonb
FROM (
  -- Attribution, layer by layer: the agents and request class of a Claude Code call.
  SELECT q.*,
    CASE WHEN q.in_run
         THEN 'a' || substr(md5(q.hb || CASE WHEN q.child THEN ':child' ELSE ':agent' END), 1, 16)
         ELSE '' END AS agent_id,
    CASE WHEN q.child THEN 'a' || substr(md5(q.hb || ':agent'), 1, 16) ELSE '' END AS parent_agent_id,
    CASE WHEN NOT q.hinted THEN ''
         WHEN q.in_run THEN 'subagent'
         WHEN q.a_class < %(compaction)s THEN 'compaction'
         WHEN q.a_class < %(auxiliary)s THEN 'auxiliary'
         ELSE 'main' END AS request_class
  FROM (
    -- Whether the call is in its block's subagent run, and in its nested child's half.
    SELECT r.*,
        r.has_run AND r.off >= r.run_start AND r.off < r.run_start + r.run_len AS in_run,
        r.has_run AND r.nested AND r.off >= r.run_start + r.run_len / 2
            AND r.off < r.run_start + r.run_len AS child
    FROM (
      SELECT b.*,
          floor(pg_temp.hu(b.hb || ':start') * (b.block_size - b.run_len + 1))::int AS run_start,
          b.hinted AND b.run_len >= 3 AND pg_temp.hu(b.hb || ':run') < %(run_p)s AS has_run,
          b.run_len >= 8 AND pg_temp.hu(b.hb || ':nest') < %(nested_p)s AS nested
      FROM (
        -- A run of 3-15 calls (no longer than its block less one call).
        SELECT b0.*,
            least(3 + floor(pg_temp.hu(b0.hb || ':len') * 13)::int, b0.block_size - 1) AS run_len
        FROM (
            -- A session's calls in blocks (SUBAGENT_BLOCK); the draws a session shares (its
            -- person, tags, repo and ticket), per call outside sessions.
            SELECT w.*,
                w.session_id IS NOT NULL
                    AND pg_temp.hu(w.session_id::text || ':hints') >= %(hintless)s AS hinted,
                md5(w.session_id::text || ':' || ((w.pos - 1) / %(block)s)::text) AS hb,
                ((w.pos - 1) %% %(block)s)::int AS off,
                least(%(block)s, w.session_calls - (w.pos - 1) / %(block)s * %(block)s)::int
                    AS block_size,
                    CASE WHEN w.session_id IS NULL THEN w.a_person
                         ELSE pg_temp.hu(w.session_id::text || ':person') END AS u_person,
                    CASE WHEN w.session_id IS NULL THEN w.a_anon
                         ELSE pg_temp.hu(w.session_id::text || ':anon') END AS u_anon,
                    CASE WHEN w.session_id IS NULL THEN w.a_tag1
                         ELSE pg_temp.hu(w.session_id::text || ':tag1') END AS u_tag1,
                    CASE WHEN w.session_id IS NULL THEN w.a_tag2
                         ELSE pg_temp.hu(w.session_id::text || ':tag2') END AS u_tag2,
                    CASE WHEN w.session_id IS NULL THEN w.a_tag3
                         ELSE pg_temp.hu(w.session_id::text || ':tag3') END AS u_tag3,
                    CASE WHEN w.session_id IS NULL THEN w.a_tags
                         ELSE pg_temp.hu(w.session_id::text || ':tags') END AS u_tags,
                    CASE WHEN w.session_id IS NULL THEN w.a_repo
                         ELSE pg_temp.hu(w.session_id::text || ':repo') END AS u_repo,
                    CASE WHEN w.session_id IS NULL THEN w.a_has_repo
                         ELSE pg_temp.hu(w.session_id::text || ':has_repo') END AS u_has_repo,
                    CASE WHEN w.session_id IS NULL THEN w.a_ticket
                         ELSE pg_temp.hu(w.session_id::text || ':ticket') END AS u_ticket,
                    CASE WHEN w.session_id IS NULL THEN w.a_has_ticket
                         ELSE pg_temp.hu(w.session_id::text || ':has_ticket') END AS u_has_ticket
            FROM (
                -- Each call's position in its session, in time order.
                SELECT y0.*,
                    row_number() OVER (PARTITION BY y0.session_id ORDER BY y0.started_at) AS pos,
                    count(*) OVER (PARTITION BY y0.session_id) AS session_calls
                FROM (
    SELECT x.*,
        x.slug = %(deleted_from)s AND x.started_at
            < %(now)s::timestamptz - %(deleted_days)s * interval '1 day' AS deleted,
        CASE WHEN x.ok_usage THEN x.in_raw ELSE 0 END AS input_tokens,
        CASE WHEN NOT x.ok_usage THEN 0
             WHEN x.outcome = 'client_disconnected' THEN floor(x.out_raw * x.r9)::bigint
             ELSE x.out_raw END AS output_tokens,
        CASE WHEN x.ok_usage AND x.kind = 'claude' AND x.r5 < 0.55
             THEN floor(x.r4 * x.r4 * 25000)::bigint ELSE 0 END AS cw5m,
        CASE WHEN x.ok_usage AND x.kind = 'claude' AND x.r5 > 0.96
             THEN floor(x.r4 * 8000)::bigint ELSE 0 END AS cw1h,
        CASE WHEN NOT x.ok_usage THEN 0
             WHEN x.kind = 'claude' AND x.r3 < 0.85 THEN floor(power(x.r2, 1.5) * 140000)::bigint
             WHEN x.kind = 'chat' AND x.r3 < 0.40 THEN floor(x.r2 * x.in_raw * 0.5)::bigint
             ELSE 0 END AS cache_read,
        CASE WHEN x.ok_usage AND x.model LIKE 'claude-opus%%' AND x.r6 < 0.5
             THEN floor(x.out_raw * 0.3)::bigint
             WHEN x.ok_usage AND x.model = 'gpt-5' THEN floor(x.out_raw * 0.4)::bigint
             ELSE 0 END AS reasoning,
        CASE WHEN x.ok_usage AND x.kind = 'claude' AND x.r8 < 0.01
             THEN 1 + floor(x.r6 * 3)::int ELSE 0 END AS searches,
        -- Claude Code calls (most Anthropic ones) join a session: one per endpoint, 3 hours
        -- and one of three developers.
        CASE WHEN x.kind = 'claude' AND x.r7 < 0.55
             THEN md5(x.endpoint_id::text
                      || ':' || floor(extract(epoch FROM x.started_at) / 10800)::text
                      || ':' || floor(x.r8 * 3)::text)::uuid END AS session_id,
        CASE WHEN x.kind = 'claude' AND x.r7 < 0.55 THEN 'claude-cli/2.1.30 (external, cli)'
             WHEN x.provider = 'anthropic' THEN 'Anthropic/Python 0.72.0'
             ELSE 'OpenAI/Python 2.8.1' END AS user_agent,
        (ARRAY['x7Qa', 'k2Lm', 'P9sd', 'z3Vt'])[1 + floor(x.r8 * 4)::int] AS key_hint,
        CASE WHEN NOT x.ok_usage THEN ''
             WHEN x.kind = 'claude'
             THEN (ARRAY['end_turn', 'tool_use', 'tool_use', 'max_tokens'])[1 + floor(x.r6 * 4)::int]
             WHEN x.kind = 'chat' THEN 'stop' ELSE '' END AS stop_reason,
        (400 + x.out_raw * (8 + 12 * x.r9) + 2000 * x.r2)::int AS duration_ms,
        CASE WHEN x.status_code IS NOT NULL THEN (250 + 1500 * x.r9 * x.r9)::int END AS ttfb_ms
    FROM (
        SELECT g.*, ep.id AS endpoint_id, ep.organization_id, ep.slug,
            m.model, m.provider, m.kind, m.priced,
            m.r_in, m.r_out, m.r_5m, m.r_1h, m.r_read, m.r_search,
            CASE m.kind WHEN 'embed' THEN '/v1/embeddings' WHEN 'chat' THEN '/v1/chat/completions'
                 ELSE '/v1/messages' END AS path,
            -- Half the calls spread evenly over the 90 days, half growing towards today.
            %(now)s::timestamptz - %(days)s * interval '1 day'
                * CASE WHEN g.rt < 0.5 THEN g.rt2 ELSE 1 - sqrt(g.rt2) END AS started_at,
            o.outcome, o.status_code, o.usage_missing, o.error_type, o.error_message,
            o.outcome IN ('ok', 'client_disconnected') AS ok_usage,
            m.kind <> 'embed' AND (
                o.outcome = 'client_disconnected'
                OR g.r8 < CASE m.kind WHEN 'claude' THEN 0.85 ELSE 0.6 END
            ) AS streamed,
            CASE m.kind WHEN 'claude' THEN 1 + floor(g.r1 * g.r1 * 6000)::bigint
                        WHEN 'chat' THEN 50 + floor(g.r1 * g.r1 * 20000)::bigint
                        ELSE 10 + floor(g.r1 * 3000)::bigint END AS in_raw,
            CASE m.kind WHEN 'claude' THEN 20 + floor(g.r2 * g.r2 * 4000)::bigint
                        WHEN 'chat' THEN 10 + floor(g.r2 * g.r2 * 2000)::bigint
                        ELSE 0 END AS out_raw
        FROM (
            SELECT i, random() AS rep, random() AS rm, random() AS rt, random() AS rt2,
                random() AS ro, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
                random() AS r5, random() AS r6, random() AS r7, random() AS r8, random() AS r9
                , random() AS a_person, random() AS a_anon, random() AS a_class,
                random() AS a_tag1, random() AS a_tag2, random() AS a_tag3, random() AS a_tags,
                random() AS a_repo, random() AS a_has_repo, random() AS a_ticket,
                random() AS a_has_ticket
            FROM generate_series(1, %(n)s) AS i
        ) g
        JOIN bench_ep ep ON ep.idx = width_bucket(g.rep, %(ep_bounds)s::float8[])
        JOIN bench_model m ON m.idx = width_bucket(g.rm, %(model_bounds)s::float8[])
        CROSS JOIN LATERAL (
            SELECT * FROM (VALUES
                -- (upper bound of ro, outcome, status, usage missing, error type, message)
                (0.955, 'ok', 200, false, '', ''),
                (0.970, 'upstream_error', 529, false, 'overloaded_error', 'Overloaded'),
                (0.978, 'upstream_error', 429, false, 'rate_limit_error',
                 'Number of request tokens has exceeded your per-minute rate limit'),
                (0.983, 'upstream_error', 500, false, 'api_error', 'Internal server error'),
                (0.985, 'upstream_error', 400, false, 'invalid_request_error',
                 'prompt is too long'),
                (0.995, 'client_disconnected', 200, false, '', ''),
                (0.999, 'upstream_timeout', NULL, true, '', ''),
                (1.001, 'upstream_unreachable', 502, false, '', '')
            ) AS v (hi, outcome, status_code, usage_missing, error_type, error_message)
            WHERE g.ro < v.hi ORDER BY v.hi LIMIT 1
        ) o
    ) x
                ) y0
            ) w
        ) b0
      ) b
    ) r
  ) q
) y
LEFT JOIN bench_org o ON o.organization_id = y.organization_id
LEFT JOIN bench_person p ON p.organization_id = y.organization_id
    AND p.idx = width_bucket(y.u_person, o.person_bounds) AND y.u_anon >= %(unattributed)s
"""

SESSION_INSERT_SQL = """
INSERT INTO usage_session (
    id, organization_id, endpoint_id, name, source, external_id, started_at, ended_at,
    last_call_at, calls, input_tokens, output_tokens, cache_write_tokens, cache_read_tokens,
    cost_cents, duration_ms
)
SELECT session_id, organization_id, (array_agg(endpoint_id))[1],
    (%(prompts)s::text[])[1 + abs(hashtext(session_id::text)) %% cardinality(%(prompts)s::text[])],
    'claude_code', session_id::text, min(started_at), NULL, max(started_at), count(*),
    sum(input_tokens), sum(output_tokens), sum(cache_write_tokens),
    sum(cache_read_tokens), sum(coalesce(cost_cents, 0)), sum(duration_ms)
FROM usage_usagelog
WHERE session_id IS NOT NULL
GROUP BY session_id, organization_id
"""

# UsageDaily exactly as usage.services.daily.usage_daily_add keeps it (and usage_daily_rebuild rebuilds it):
# one row per organization, UTC day, endpoint slug, provider and model.
DAILY_INSERT_SQL = """
INSERT INTO usage_usagedaily (
    organization_id, day, endpoint_id, endpoint_slug, provider, model, calls, error_calls,
    unpriced_calls, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
    cache_read_tokens, reasoning_tokens, web_search_requests, cost_cents, cache_savings_cents,
    duration_ms
)
SELECT l.organization_id, (l.started_at AT TIME ZONE 'UTC')::date, (array_agg(l.endpoint_id))[1],
    l.endpoint_slug, l.provider, l.model, count(*), count(*) FILTER (WHERE l.outcome <> 'ok'),
    count(*) FILTER (WHERE l.unpriced), sum(l.input_tokens), sum(l.output_tokens),
    sum(l.cache_write_5m_tokens), sum(l.cache_write_1h_tokens), sum(l.cache_read_tokens),
    sum(l.reasoning_tokens), sum(l.web_search_requests), sum(coalesce(l.cost_cents, 0)),
    coalesce(sum(l.cache_read_tokens * (m.r_in - m.r_read)) FILTER (WHERE m.priced), 0),
    sum(l.duration_ms)
FROM usage_usagelog l
LEFT JOIN bench_model m ON m.model = l.model
GROUP BY l.organization_id, (l.started_at AT TIME ZONE 'UTC')::date, l.endpoint_slug,
    l.provider, l.model
"""

# UsageLogLabel as usage.services.logs.log_labels makes them: one row per tag and property.
LABEL_INSERT_SQL = """
INSERT INTO usage_usageloglabel (log_id, organization_id, kind, name, value, started_at)
SELECT l.id, l.organization_id, 'tag', '', t.value, l.started_at
FROM usage_usagelog l CROSS JOIN LATERAL jsonb_array_elements_text(l.tags) AS t (value)
UNION ALL
SELECT l.id, l.organization_id, 'property', p.key, p.value, l.started_at
FROM usage_usagelog l CROSS JOIN LATERAL jsonb_each_text(l.properties) AS p (key, value)
"""

# UsageRollup exactly as usage.services.rollups keeps it (rollup_keys: person, request
# class, agent type and session, "" when unset; the subagent run when there is one; each
# tag, or "" for none; each property), each log's sums counted under every key it has.
# The seed has no multi-part call, so a log's sums are its columns, its cache savings as
# UsageDaily's seed prices them.
ROLLUP_INSERT_SQL = """
INSERT INTO usage_usagerollup (
    organization_id, day, dimension, key, calls, error_calls, input_tokens, output_tokens,
    cache_write_5m_tokens, cache_write_1h_tokens, cache_read_tokens, cost_cents,
    cache_savings_cents, duration_ms
)
SELECT l.organization_id, l.day, d.dimension, d.key, count(*),
    count(*) FILTER (WHERE l.outcome <> 'ok'), sum(l.input_tokens), sum(l.output_tokens),
    sum(l.cache_write_5m_tokens), sum(l.cache_write_1h_tokens), sum(l.cache_read_tokens),
    sum(coalesce(l.cost_cents, 0)), coalesce(sum(l.savings), 0), sum(l.duration_ms)
FROM (
    SELECT l.*, (l.started_at AT TIME ZONE 'UTC')::date AS day,
        CASE WHEN m.priced THEN l.cache_read_tokens * (m.r_in - m.r_read) END AS savings
    FROM usage_usagelog l
    LEFT JOIN bench_model m ON m.model = l.model
) l
CROSS JOIN LATERAL (
    VALUES ('person', l.person), ('request_class', l.request_class),
        ('agent_type', l.agent_type), ('session', coalesce(l.session_id::text, ''))
    UNION ALL
    SELECT 'agent', l.agent_id WHERE l.agent_id <> ''
    UNION ALL
    SELECT 'tag', t.value FROM jsonb_array_elements_text(
        CASE WHEN l.tags = '[]'::jsonb THEN '[""]'::jsonb ELSE l.tags END) AS t (value)
    UNION ALL
    SELECT 'property:' || p.key, p.value FROM jsonb_each_text(l.properties) AS p (key, value)
) AS d (dimension, key)
GROUP BY l.organization_id, l.day, d.dimension, d.key
"""


def bodies_seed() -> None:
    """Small zlib-compressed bodies for BODY_LOGS recent logs, by COPY (most logs have none)."""
    import orjson
    from django.db import connection, transaction

    t0 = time.perf_counter()
    rng = random.Random(7)
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            """SELECT id, model, streamed, input_tokens, output_tokens FROM usage_usagelog
               WHERE started_at > now() - interval '7 days' AND outcome = 'ok'
               ORDER BY md5(id::text) LIMIT %s""",
            [BODY_LOGS],
        )
        rows = cur.fetchall()
        with cur.cursor.copy(
            "COPY usage_usagelogbody (log_id, request_body, response_body, request_size, response_size,"
            " request_truncated, response_truncated, response_content_type, dropped, request_manifest,"
            " omitted) FROM STDIN"
        ) as copy:
            for log_id, model, streamed, input_tokens, output_tokens in rows:
                prompt = rng.choice(SESSION_PROMPTS)
                request = orjson.dumps(
                    {
                        "model": model,
                        "max_tokens": 4096,
                        "stream": streamed,
                        "messages": [{"role": "user", "content": prompt}],
                    }
                )
                message = {
                    "id": f"msg_{uuid.uuid4().hex[:24]}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": "Done. " * 20}],
                    "stop_reason": "end_turn",
                    "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
                }
                if streamed:
                    response = (
                        b"event: message_start\ndata: "
                        + orjson.dumps({"type": "message_start", "message": message})
                        + b'\n\nevent: message_stop\ndata: {"type":"message_stop"}\n\n'
                    )
                    content_type = "text/event-stream"
                else:
                    response = orjson.dumps(message)
                    content_type = "application/json"
                copy.write_row(
                    (
                        log_id,
                        zlib.compress(request),
                        zlib.compress(response),
                        len(request),
                        len(response),
                        False,
                        False,
                        content_type,
                        False,
                        b"",  # stored whole: no manifest (usage.bodystore)
                        "",  # not omitted
                    )
                )
    print(f"  {len(rows):,} bodies by COPY in {time.perf_counter() - t0:.1f} s")


def seed_check(*, now: datetime) -> None:
    """Prove the SQL-made numbers are the product's: costs by cost_compute, days by
    usage_daily_rebuild."""
    from django.db import connection

    from usage.models import UsageDaily, UsageLog, UsageRollup
    from usage.pricing import cost_compute
    from usage.selectors.logs import usage_log_token_usage
    from usage.services.daily import usage_daily_rebuild
    from usage.services.rollups import usage_rollup_rebuild

    sample = list(
        UsageLog.objects.filter(outcome__in=["ok", "client_disconnected"], unpriced=False).order_by(
            "?"
        )[:2000]
    )
    wrong = [
        log.id
        for log in sample
        if cost_compute(
            model=log.model,
            usage=usage_log_token_usage(log),
            at=log.started_at,
            provider=log.provider,
        )
        != log.cost_cents
    ]
    assert not wrong, (
        f"{len(wrong)} of {len(sample)} sampled costs differ from cost_compute: {wrong[:3]}"
    )

    since = (now - timedelta(days=1)).date()
    fields = [f.attname for f in UsageDaily._meta.concrete_fields if f.attname != "id"]
    before = sorted(UsageDaily.objects.filter(day__gte=since).values_list(*fields))
    t0 = time.perf_counter()
    usage_daily_rebuild(since=since)
    after = sorted(UsageDaily.objects.filter(day__gte=since).values_list(*fields))
    assert before == after, "UsageDaily made in SQL differs from usage_daily_rebuild()"
    daily_s = time.perf_counter() - t0

    fields = [f.attname for f in UsageRollup._meta.concrete_fields if f.attname != "id"]
    rollups_before = sorted(UsageRollup.objects.filter(day__gte=since).values_list(*fields))
    t0 = time.perf_counter()
    usage_rollup_rebuild(since=since)
    rollups_after = sorted(UsageRollup.objects.filter(day__gte=since).values_list(*fields))
    if rollups_before != rollups_after:
        made, rebuilt = set(rollups_before), set(rollups_after)
        raise AssertionError(
            "UsageRollup made in SQL differs from usage_rollup_rebuild(): "
            f"only in SQL {sorted(made - rebuilt)[:3]}, only rebuilt {sorted(rebuilt - made)[:3]}"
        )
    with connection.cursor() as cur:
        cur.execute("ANALYZE usage_usagedaily")
        cur.execute("ANALYZE usage_usagerollup")
    print(
        f"  checked: {len(sample)} sampled costs = cost_compute; {len(after)} UsageDaily rows of the "
        f"last 2 days = usage_daily_rebuild() ({daily_s:.1f} s); {len(rollups_after)} UsageRollup "
        f"rows = usage_rollup_rebuild() ({time.perf_counter() - t0:.1f} s)"
    )


# --- Measure ----------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return seconds * 1000


def measure(*, runs: int, warmup: int, explain: bool) -> list[dict]:
    from django.db import connection
    from django.db.models import Sum
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Membership
    from codecosts.keyset import cursor_encode
    from usage.models import UsageDaily, UsageLog

    busiest = (
        UsageDaily.objects.values("organization")
        .annotate(calls=Sum("calls"))
        .order_by("-calls")
        .first()
    )
    org_id = busiest["organization"]
    owner_membership = (
        Membership.objects.filter(organization_id=org_id, role=Membership.Role.OWNER)
        .order_by("created_at")
        .select_related("user", "organization")
        .first()
    )
    owner = owner_membership.user
    organization = owner_membership.organization
    today = datetime.now(UTC).date()
    since, until = today - timedelta(days=PERIOD_DAYS - 1), today
    window = UsageLog.objects.filter(
        organization_id=org_id,
        started_at__gte=datetime.combine(since, datetime.min.time(), tzinfo=UTC),
        started_at__lt=datetime.combine(until + timedelta(days=1), datetime.min.time(), tzinfo=UTC),
    )
    in_window = window.count()
    total = UsageLog.objects.filter(organization_id=org_id).count()
    print(
        f"\nbusiest organization: {organization.name} — {total:,} logs, {in_window:,} in the last "
        f"{PERIOD_DAYS} days ({since} … {until}); logged in as {owner.username} (owner)"
    )

    # A page deep down: the position of the log halfway through the window, as the
    # "Older »" link would carry it after ~in_window/100 pages.
    deep = window.order_by("-started_at", "-id").values_list("started_at", "id")[in_window // 2]
    deep_cursor = cursor_encode(deep[0], deep[1])
    mid_model_window = window.filter(model="claude-opus-4-6")
    mid_model_count = mid_model_window.count()
    deep_model = mid_model_window.order_by("-started_at", "-id").values_list("started_at", "id")[
        mid_model_count // 2
    ]
    deep_model_cursor = cursor_encode(deep_model[0], deep_model[1])
    mid_model = "claude-opus-4-6"
    rare_model = "gpt-4.1"
    small_endpoint = ORGANIZATIONS[0][2][-2]

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner)
    period = {"since": since.isoformat(), "until": until.isoformat()}

    first = client.get("/logs?" + urlencode(period))
    assert first.status_code == 200, first.status_code
    next_link = _next_link(first.content.decode())
    api_first = client.get("/api/usage-logs?" + urlencode({**period, "limit": 100})).json()

    cases = [
        Case("page", "dashboard, 30 days", "/?days=30"),
        Case("page", "logs: page 1", "/logs?" + urlencode(period)),
        Case("page", "logs: page 2 (Older » link)", "/logs" + next_link),
        Case(
            "page",
            f"logs: deep page (cursor at {in_window // 2:,})",
            "/logs?" + urlencode({**period, "cursor": deep_cursor}),
        ),
        Case(
            "page",
            f"logs: model={mid_model}",
            "/logs?" + urlencode({**period, "model": mid_model}),
        ),
        Case(
            "page",
            f"logs: model={mid_model}, deep page (cursor at {mid_model_count // 2:,})",
            "/logs?" + urlencode({**period, "model": mid_model, "cursor": deep_model_cursor}),
        ),
        Case(
            "page",
            f"logs: model={rare_model} (~2%)",
            "/logs?" + urlencode({**period, "model": rare_model}),
        ),
        Case(
            "page",
            f"logs: endpoint={small_endpoint}",
            "/logs?" + urlencode({**period, "endpoint": small_endpoint}),
        ),
        Case(
            "page",
            f"logs: endpoint={DELETED_SLUG} (deleted; no call in period)",
            "/logs?" + urlencode({**period, "endpoint": DELETED_SLUG}),
        ),
        Case(
            "page",
            "logs: outcome=upstream_error (~3%)",
            "/logs?" + urlencode({**period, "outcome": "upstream_error"}),
        ),
        Case(
            "page",
            "logs: outcome=upstream_timeout (~0.4%)",
            "/logs?" + urlencode({**period, "outcome": "upstream_timeout"}),
        ),
        Case(
            "page",
            "logs: outcome=response_too_large (none)",
            "/logs?" + urlencode({**period, "outcome": "response_too_large"}),
        ),
        Case(
            "api",
            "GET /api/usage-logs limit=100",
            "/api/usage-logs?" + urlencode({**period, "limit": 100}),
        ),
        Case(
            "api",
            "GET /api/usage-logs next page",
            "/api/usage-logs?"
            + urlencode({**period, "limit": 100, "cursor": api_first["nextCursor"]}),
        ),
        Case(
            "api",
            f"GET /api/usage-logs deep cursor (at {in_window // 2:,})",
            "/api/usage-logs?" + urlencode({**period, "limit": 100, "cursor": deep_cursor}),
        ),
        Case(
            "api",
            f"GET /api/usage-logs endpoint={small_endpoint} (by slug)",
            "/api/usage-logs?" + urlencode({**period, "limit": 100, "endpoint": small_endpoint}),
        ),
        Case(
            "api",
            "GET /api/usage/summary group_by=model",
            "/api/usage/summary?" + urlencode({**period, "group_by": "model"}),
        ),
        Case(
            "api",
            "GET /api/usage/summary group_by=session",
            "/api/usage/summary?" + urlencode({**period, "group_by": "session"}),
        ),
        ]
    cases += attribution_cases(
        client=client, org_id=org_id, period=period, since=since, until=until
    )

    results = []
    for case in cases:
        row = {"group": case.group, "name": case.name, "path": case.path}
        response = client.get(case.path)
        skip = (
            f"{urlsplit(case.path).path} answers 404 on this commit"
            if case.optional and response.status_code == 404
            else case.check(response)
            if case.check
            else None
        )
        if skip:
            row.update(targeted=False, result="SKIP", skip=skip)
            results.append(row)
            print(f"  {case.name:<64} skipped: {skip}", flush=True)
            continue
        assert response.status_code == 200, (case.path, response.status_code)
        for _ in range(max(warmup - 1, 0)):
            response = client.get(case.path)
            assert response.status_code == 200, (case.path, response.status_code)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            response = client.get(case.path)
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200, (case.path, response.status_code)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(case.path)
        queries = captured.captured_queries
        slowest = max(queries, key=lambda q: float(q["time"]))
        p50 = _ms(statistics.median(times))
        row.update(
            p50=p50,
            max=_ms(max(times)),
            queries=len(queries),
            sql_ms=sum(_ms(float(q["time"])) for q in queries),
            slowest_ms=_ms(float(slowest["time"])),
            slowest_sql=slowest["sql"],
            items=_items(response),
            targeted=True,
            result="PASS" if p50 < TARGET_MS else "MISS",
        )
        results.append(row)
        print(
            f"  {case.name:<64} p50 {row['p50']:7.1f} ms  max {row['max']:7.1f} ms  "
            f"{row['queries']:2d} queries  {row['result']}",
            flush=True,
        )
        if explain or row["result"] == "MISS":
            row["explain"] = explain_analyze(slowest["sql"])
    return results


class Case(NamedTuple):
    group: str  # page | api
    name: str
    path: str
    # A page that may not exist on this commit: skipped when it answers 404.
    optional: bool = False
    # Given the first response, why the case cannot be measured here (None: it can).
    check: Callable | None = None


def attribution_cases(*, client, org_id, period: dict, since, until) -> list[Case]:
    """The attribution filters and summaries (issue 13), on values picked from the data:
    a mid person (by calls in the period), the common and the rare tag, a mid repo, the
    subagent run with the most calls."""
    from django.db.models import Sum

    from codecosts.keyset import cursor_encode
    from usage.models import UsageLogLabel, UsageRollup
    from usage.time_range import day_end, day_start

    rollups = UsageRollup.objects.filter(organization_id=org_id, day__gte=since, day__lte=until)

    def by_calls(dimension: str) -> list[tuple[str, int]]:
        return list(
            rollups.filter(dimension=dimension)
            .exclude(key="")
            .values("key")
            .annotate(calls=Sum("calls"))
            .order_by("-calls", "key")
            .values_list("key", "calls")
        )

    def share(dimension: str, key: str) -> str:
        calls = rollups.filter(dimension=dimension, key=key).aggregate(calls=Sum("calls"))["calls"] or 0
        total = rollups.filter(dimension="request_class").aggregate(calls=Sum("calls"))["calls"]
        return f"{calls:,} calls, {100 * calls / total:.1f}%"

    people = by_calls("person")
    person, _ = people[len(people) // 2]
    repos = by_calls("property:repo")
    repo, _ = repos[len(repos) // 2]
    agent, agent_calls = by_calls("agent")[0]
    filters = [
        (f"person={person} (mid: {share('person', person)})", {"person": person}),
        (f"person=(none) ({share('person', '')})", {"person": "(none)"}),
        (f"tag={COMMON_TAG} (common: {share('tag', COMMON_TAG)})", {"tag": COMMON_TAG}),
        (f"tag={RARE_TAG} (rare: {share('tag', RARE_TAG)})", {"tag": RARE_TAG}),
        (f"tag=(none) ({share('tag', '')})", {"tag": "(none)"}),
        (f"property=repo:{repo} ({share('property:repo', repo)})", {"property": f"repo:{repo}"}),
        ("property=repo:(none)", {"property": "repo:(none)"}),
        (f"request_class=subagent ({share('request_class', 'subagent')})", {"request_class": "subagent"}),
        (f"agent=<its busiest subagent run> ({agent_calls} calls)", {"agent": agent}),
    ]
    cases = []
    for label, params in filters:
        api_path = "/api/usage-logs?" + urlencode({**period, **params, "limit": 100})
        cases.append(
            Case(
                "page",
                f"logs: {label}",
                "/logs?" + urlencode({**period, **params}),
                check=_page_filters(client, api_path, ", ".join(params)),
            )
        )
        cases.append(Case("api", f"GET /api/usage-logs {label.split(' (')[0]}", api_path))
    for group_by in ("person", "request_class", "agent_type", "tag", "property:repo"):
        cases.append(
            Case(
                "api",
                f"GET /api/usage/summary group_by={group_by}",
                "/api/usage/summary?" + urlencode({**period, "group_by": group_by}),
            )
        )
    # A tag's page deep down: the cursor of its call halfway through the period.
    tagged = UsageLogLabel.objects.filter(
        organization_id=org_id,
        kind="tag",
        name="",
        value=COMMON_TAG,
        started_at__gte=day_start(since),
        started_at__lt=day_end(until),
    ).order_by("-started_at", "-log_id")
    middle = tagged.count() // 2
    deep = tagged.values_list("started_at", "log_id")[middle]
    cases.append(
        Case(
            "api",
            f"GET /api/usage-logs tag={COMMON_TAG}, deep cursor (at {middle:,})",
            "/api/usage-logs?"
            + urlencode({**period, "tag": COMMON_TAG, "limit": 100, "cursor": cursor_encode(*deep)}),
        )
    )
    # A range that is not whole days: its whole days from the rollups, the hours at its
    # ends from the logs.
    hours = {
        "since": f"{since.isoformat()}T09:30:00Z",
        "until": f"{until.isoformat()}T12:00:00Z",
    }
    for group_by in ("session", "person", "tag", "property:repo"):
        cases.append(
            Case(
                "api",
                f"GET /api/usage/summary group_by={group_by}, 09:30 to 12:00",
                "/api/usage/summary?" + urlencode({**hours, "group_by": group_by}),
            )
        )
    # The attribution pages (skipped on a commit from before them).
    for name, page, params in (
        ("people", "/people", {}),
        ("agents", "/agents", {}),
        ("properties (repo)", "/properties", {"name": "repo"}),
        ("properties (ticket: hundreds of values)", "/properties", {"name": "ticket"}),
    ):
        path = page + "?" + urlencode({**params, **period})
        cases.append(Case("page", f"{name}, 30 days", path, optional=True))
    return cases


def _page_filters(client, api_path: str, names: str) -> Callable:
    """A check that the logs page lists what the API does for the same filter: a page that
    does not read the filter yet (it shows every call) is skipped, not timed."""
    import re

    def check(response) -> str | None:
        page_ids = list(
            dict.fromkeys(re.findall(r'href="/logs/([0-9a-f-]{36})"', response.content.decode()))
        )
        api_ids = [item["id"] for item in client.get(api_path).json()["items"]]
        if page_ids != api_ids[: len(page_ids)] or (api_ids and not page_ids):
            return f"the /logs page does not filter by {names} on this commit"
        return None

    return check


def _next_link(html: str) -> str:
    import re

    match = re.search(r'<a href="(\?[^"]*)" rel="next">', html)
    assert match, "logs page 1 has no Older » link"
    return match.group(1).replace("&amp;", "&")


def _items(response) -> str:
    if response.get("Content-Type", "").startswith("application/json"):
        data = response.json()
        return str(len(data.get("items", [])))
    return (
        str(response.content.decode().count('<a href="/logs/'))
        if b"logs-table" in response.content
        else "-"
    )


def explain_analyze(sql: str) -> str:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(line for (line,) in cur.fetchall())


def report(results: list[dict]) -> str:
    lines = [
        f"| case | p50 ms | max ms | SQL queries | SQL ms | slowest query ms | rows | target p50 < {TARGET_MS:.0f} ms |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in results:
        if row["result"] == "SKIP":
            lines.append(f"| {row['name']} | - | - | - | - | - | - | SKIP: {row['skip']} |")
            continue
        lines.append(
            f"| {row['name']} | {row['p50']:.1f} | {row['max']:.1f} | {row['queries']} | {row['sql_ms']:.1f} | "
            f"{row['slowest_ms']:.1f} | {row['items']} | {row['result']} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--logs", type=int, default=1_000_000, help="usage logs to seed (default 1,000,000)"
    )
    ap.add_argument("--runs", type=int, default=10, help="timed requests per case (default 10)")
    ap.add_argument(
        "--warmup", type=int, default=2, help="untimed requests per case first (default 2)"
    )
    ap.add_argument(
        "--reseed", action="store_true", help="drop and recreate the database, then seed"
    )
    ap.add_argument(
        "--explain", action="store_true", help="EXPLAIN ANALYZE each case's slowest query"
    )
    ap.add_argument("--seed-only", action="store_true", help="seed (if needed) and stop")
    ap.add_argument(
        "--strict", action="store_true", help="exit with status 2 when a target is missed"
    )
    args = ap.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    must_seed = database_prepare(url, logs=args.logs, reseed=args.reseed)
    django_setup(url)
    from django.core.management import call_command

    t0 = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    print(f"migrated in {time.perf_counter() - t0:.1f} s")
    if must_seed:
        print(
            f"seeding {args.logs:,} usage logs (INSERT ... SELECT FROM generate_series, COPY for bodies)"
        )
        seed(logs=args.logs)
    if args.seed_only:
        return 0

    load_before = os.getloadavg()
    results = measure(runs=args.runs, warmup=args.warmup, explain=args.explain)
    load_after = os.getloadavg()
    print(
        f"\n{args.runs} timed requests per case after {args.warmup} warm-up; server time through "
        "django.test.Client (middleware, view, template/JSON rendering; no network); "
        f"{os.cpu_count()} CPUs, load average {load_before[0]:.2f} before, {load_after[0]:.2f} after\n"
    )
    print(report(results))
    targeted = [row for row in results if row["targeted"]]
    missed = [row for row in targeted if row["result"] == "MISS"]
    print(
        f"\n{len(targeted) - len(missed)}/{len(targeted)} targets PASS"
        + (f"; MISS: {', '.join(row['name'] for row in missed)}" if missed else "")
    )
    for row in results:
        if "explain" in row:
            print(
                f"\n--- {row['name']}: slowest query ({row['slowest_ms']:.1f} ms)\n{row['slowest_sql']}\n"
            )
            print(row["explain"])
    return 2 if args.strict and missed else 0


if __name__ == "__main__":
    sys.exit(main())

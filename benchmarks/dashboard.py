"""Dashboard and logs-list benchmark: server time of the real pages over a million logs.

    SECRET_KEY=x DATABASE_URL=postgres://postgres@127.0.0.1:5432/codecosts_bench \\
        .venv/bin/python benchmarks/dashboard.py [--logs 1000000] [--runs 10] [--reseed]
        [--explain] [--seed-only] [--strict]

1. Database: the one named in DATABASE_URL (PostgreSQL only), created through the
   `postgres` maintenance database when missing, then migrated.
2. Seed (skipped when the database already holds exactly --logs usage logs; --reseed
   drops and recreates it): 3 organizations, 20 proxy endpoints (uneven: ~70% / 22% / 8%
   of the traffic, Zipf-like within an organization), `--logs` usage logs over the last
   90 days (traffic growing towards today), a realistic model mix (Claude Sonnet / Opus /
   Haiku, a few OpenAI chat and embedding models, a sliver of an unpriced model), outcomes
   (mostly ok; upstream errors, disconnects, timeouts), Claude Code sessions, an endpoint
   deleted 40 days ago (its logs keep the slug, endpoint NULL), and bodies for only a few
   thousand logs. All rows are made by PostgreSQL itself in one
   `INSERT ... SELECT FROM generate_series(...)` (secondary indexes dropped during the
   load and rebuilt after, FK triggers off for the load and checked afterwards); bodies
   by COPY. Costs are computed in SQL from the per-token rates of the product's price
   table (usage.pricing, card at seed time), and web-search fees: exactly what
   cost_compute gives for these calls (prompts stay under the 200k long-context tier, no
   inference geo); a sample is re-priced with cost_compute to prove it. Sessions and
   UsageDaily are filled by INSERT ... SELECT GROUP BY over the logs; UsageDaily for the
   last two days is then rebuilt with the product's usage_daily_rebuild() and compared
   row by row. ANALYZE at the end.
3. Measure, for the busiest organization, through django.test.Client logged in as its
   owner (force_login), the full middleware stack and real views: the dashboard and the
   logs list (first page, next page, a page deep down by cursor, filters), the JSON APIs
   GET /api/usage-logs?limit=100 and GET /api/usage/summary?group_by=model, all for the
   last 30 days. Each case: warm-up, then --runs timed requests (p50, max), and one more
   request under CaptureQueriesContext for the number of SQL queries and the slowest one.
   Target: dashboard and logs list p50 under 300 ms. --explain prints EXPLAIN ANALYZE of
   every case's slowest query (always printed for a MISS); --strict exits 2 on a MISS.

One module on purpose (about 950 lines): a benchmark is run as one script with
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
    for index, (name, org_share, slugs) in enumerate(ORGANIZATIONS):
        owner = User.objects.create_user(
            username=f"owner{index}@bench.example", email=f"owner{index}@bench.example"
        )
        organization = organization_create(name=name, owner=owner)
        owners.append(owner)
        for slug, share in zip(slugs, _zipf(len(slugs))):
            endpoint = ProxyEndpoint.objects.create(organization=organization, name=slug, slug=slug)
            endpoints.append((str(endpoint.id), str(organization.id), slug, org_share * share))
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

    ep_bounds = _bounds([e[3] for e in endpoints])
    model_bounds = _bounds([m[3] for m in model_rows])
    table_sql = """
        CREATE TEMP TABLE bench_ep (idx int PRIMARY KEY, id uuid, organization_id uuid, slug text);
        CREATE TEMP TABLE bench_model (
            idx int PRIMARY KEY, model text, provider text, kind text, priced boolean,
            r_in numeric, r_out numeric, r_5m numeric, r_1h numeric, r_read numeric,
            r_search numeric
        );
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

        cur.execute(
            """SELECT indexname, indexdef FROM pg_indexes i
               WHERE tablename IN ('usage_usagelog', 'usage_session')
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
            },
        )
        print(f"  {logs:,} usage logs inserted in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        cur.execute(SESSION_INSERT_SQL, {"prompts": SESSION_PROMPTS})
        print(f"  {cur.rowcount:,} sessions in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        for _name, definition in index_defs:
            cur.execute(definition)
        print(f"  {len(index_defs)} indexes rebuilt in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        cur.execute(DAILY_INSERT_SQL)
        print(f"  {cur.rowcount:,} UsageDaily rows in {time.perf_counter() - t0:.1f} s")

        # What the FK triggers would have checked.
        cur.execute(
            """SELECT
                 (SELECT count(*) FROM usage_usagelog l
                  WHERE l.endpoint_id IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM proxy_proxyendpoint e WHERE e.id = l.endpoint_id)),
                 (SELECT count(*) FROM usage_usagelog l
                  WHERE l.session_id IS NOT NULL AND NOT EXISTS
                    (SELECT 1 FROM usage_session s WHERE s.id = l.session_id))"""
        )
        dangling = cur.fetchone()
        assert dangling == (0, 0), f"dangling references: {dangling}"

    bodies_seed()
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        for table in (
            "usage_usagelog",
            "usage_usagelogbody",
            "usage_session",
            "usage_usagedaily",
            "proxy_proxyendpoint",
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
    claude_code_session_id, session_name, created_at
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
    coalesce(y.session_id::text, ''), '', y.started_at + y.duration_ms * interval '1 millisecond'
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
) y
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
            " request_truncated, response_truncated, response_content_type, dropped) FROM STDIN"
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
                    )
                )
    print(f"  {len(rows):,} bodies by COPY in {time.perf_counter() - t0:.1f} s")


def seed_check(*, now: datetime) -> None:
    """Prove the SQL-made numbers are the product's: costs by cost_compute, days by
    usage_daily_rebuild."""
    from django.db import connection

    from usage.models import UsageDaily, UsageLog
    from usage.pricing import cost_compute
    from usage.selectors.logs import usage_log_token_usage
    from usage.services.daily import usage_daily_rebuild

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
    with connection.cursor() as cur:
        cur.execute("ANALYZE usage_usagedaily")
    print(
        f"  checked: {len(sample)} sampled costs = cost_compute; {len(after)} UsageDaily rows of the "
        f"last 2 days = usage_daily_rebuild() ({time.perf_counter() - t0:.1f} s)"
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
        # (group, name, path, target?)
        ("page", "dashboard, 30 days", "/?days=30", True),
        ("page", "logs: page 1", "/logs?" + urlencode(period), True),
        ("page", "logs: page 2 (Older » link)", "/logs" + next_link, True),
        (
            "page",
            f"logs: deep page (cursor at {in_window // 2:,})",
            "/logs?" + urlencode({**period, "cursor": deep_cursor}),
            True,
        ),
        (
            "page",
            f"logs: model={mid_model}",
            "/logs?" + urlencode({**period, "model": mid_model}),
            True,
        ),
        (
            "page",
            f"logs: model={mid_model}, deep page (cursor at {mid_model_count // 2:,})",
            "/logs?" + urlencode({**period, "model": mid_model, "cursor": deep_model_cursor}),
            True,
        ),
        (
            "page",
            f"logs: model={rare_model} (~2%)",
            "/logs?" + urlencode({**period, "model": rare_model}),
            True,
        ),
        (
            "page",
            f"logs: endpoint={small_endpoint}",
            "/logs?" + urlencode({**period, "endpoint": small_endpoint}),
            True,
        ),
        (
            "page",
            f"logs: endpoint={DELETED_SLUG} (deleted; no call in period)",
            "/logs?" + urlencode({**period, "endpoint": DELETED_SLUG}),
            True,
        ),
        (
            "page",
            "logs: outcome=upstream_error (~3%)",
            "/logs?" + urlencode({**period, "outcome": "upstream_error"}),
            True,
        ),
        (
            "page",
            "logs: outcome=upstream_timeout (~0.4%)",
            "/logs?" + urlencode({**period, "outcome": "upstream_timeout"}),
            True,
        ),
        (
            "page",
            "logs: outcome=response_too_large (none)",
            "/logs?" + urlencode({**period, "outcome": "response_too_large"}),
            True,
        ),
        (
            "api",
            "GET /api/usage-logs limit=100",
            "/api/usage-logs?" + urlencode({**period, "limit": 100}),
            False,
        ),
        (
            "api",
            "GET /api/usage-logs next page",
            "/api/usage-logs?"
            + urlencode({**period, "limit": 100, "cursor": api_first["nextCursor"]}),
            False,
        ),
        (
            "api",
            f"GET /api/usage-logs deep cursor (at {in_window // 2:,})",
            "/api/usage-logs?" + urlencode({**period, "limit": 100, "cursor": deep_cursor}),
            False,
        ),
        (
            "api",
            f"GET /api/usage-logs endpoint={small_endpoint} (by slug)",
            "/api/usage-logs?" + urlencode({**period, "limit": 100, "endpoint": small_endpoint}),
            False,
        ),
        (
            "api",
            "GET /api/usage/summary group_by=model",
            "/api/usage/summary?" + urlencode({**period, "group_by": "model"}),
            False,
        ),
        (
            "api",
            "GET /api/usage/summary group_by=session",
            "/api/usage/summary?" + urlencode({**period, "group_by": "session"}),
            False,
        ),
    ]

    results = []
    for group, name, path, targeted in cases:
        for _ in range(warmup):
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            response = client.get(path)
            times.append(time.perf_counter() - t0)
            assert response.status_code == 200, (path, response.status_code)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        queries = captured.captured_queries
        slowest = max(queries, key=lambda q: float(q["time"]))
        p50 = _ms(statistics.median(times))
        row = {
            "group": group,
            "name": name,
            "path": path,
            "p50": p50,
            "max": _ms(max(times)),
            "queries": len(queries),
            "sql_ms": sum(_ms(float(q["time"])) for q in queries),
            "slowest_ms": _ms(float(slowest["time"])),
            "slowest_sql": slowest["sql"],
            "items": _items(response),
            "targeted": targeted,
            "result": ("PASS" if p50 < TARGET_MS else "MISS") if targeted else "",
        }
        results.append(row)
        print(
            f"  {name:<44} p50 {row['p50']:7.1f} ms  max {row['max']:7.1f} ms  "
            f"{row['queries']:2d} queries  {row['result']}",
            flush=True,
        )
        if explain or row["result"] == "MISS":
            row["explain"] = explain_analyze(slowest["sql"])
    return results


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
        lines.append(
            f"| {row['name']} | {row['p50']:.1f} | {row['max']:.1f} | {row['queries']} | {row['sql_ms']:.1f} | "
            f"{row['slowest_ms']:.1f} | {row['items']} | {row['result'] or '(no target)'} |"
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

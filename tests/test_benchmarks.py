"""The dashboard benchmark runs, small: seeded, checked against the product's own
arithmetic (its seed asserts costs by cost_compute and days by usage_daily_rebuild) and
timed. Its seed once went broken unnoticed for an issue, when a body column was added."""

import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
DATABASE = settings.DATABASES["default"]


@pytest.mark.skipif(DATABASE["ENGINE"] != "django.db.backends.postgresql", reason="a PostgreSQL benchmark")
def test_the_dashboard_benchmark_seeds_checks_and_times_a_small_database():
    name = f"{DATABASE['NAME']}_dashboard_bench"
    password = f":{DATABASE['PASSWORD']}" if DATABASE.get("PASSWORD") else ""
    url = f"postgres://{DATABASE['USER']}{password}@{DATABASE['HOST']}:{DATABASE['PORT']}/{name}"
    try:
        result = subprocess.run(
            [sys.executable, "benchmarks/dashboard.py", "--reseed", "--logs", "30000", "--runs", "1",
             "--warmup", "1", "--strict"],
            cwd=ROOT, env={**os.environ, "DATABASE_URL": url, "SECRET_KEY": "bench"},
            capture_output=True, text=True, timeout=600,
        )
    finally:
        with psycopg.connect(
            host=DATABASE["HOST"], port=DATABASE["PORT"], user=DATABASE["USER"],
            password=DATABASE.get("PASSWORD") or None, dbname="postgres", autocommit=True,
        ) as maintenance:
            maintenance.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "30,000 usage logs inserted" in result.stdout
    passed = re.search(r"^(\d+)/(\d+) targets PASS$", result.stdout, re.MULTILINE)
    assert passed and passed[1] == passed[2] and int(passed[1]) >= 40, result.stdout[-4000:]

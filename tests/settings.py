"""The test suite's settings: the product's own, in hosted mode unless a test turns local on.

With no DATABASE_URL the product is in local mode (codecosts/settings.py), but most tests
are about hosted behaviour; the ones about local mode set LOCAL_MODE themselves. This has
to happen before the settings are read, which pytest-django does before any conftest.
"""

import os

os.environ.setdefault("LOCAL_MODE", "0")

import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from codecosts.settings import *  # noqa: E402, F403

# This test process's own spool and journals: never a dead test run's left in var/.
USAGE_SPOOL_DIR = Path(tempfile.mkdtemp(prefix="codecosts-test-spool-"))

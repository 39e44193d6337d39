"""What the server's lifespan sets for the whole process."""

import sys

from proxy import asgi, budget_gate
from tests.asgi import lifespan_startup
from usage import pipeline


def test_the_event_loop_waits_for_the_gil_half_a_millisecond_at_most(monkeypatch):
    """Another thread holding the GIL (the usage shipper, a page's sync view) makes a woken
    event loop wait Python's switch interval: 5 ms by default, 0.5 ms once the server runs."""
    for name in ("start", "background_start"):
        monkeypatch.setattr(pipeline, name, lambda: None)
    monkeypatch.setattr(budget_gate, "start", lambda: None)
    before = sys.getswitchinterval()
    try:
        assert lifespan_startup() == ["lifespan.startup.complete"]
        assert sys.getswitchinterval() == asgi.GIL_SWITCH_SECONDS == 0.0005
    finally:
        sys.setswitchinterval(before)

"""What Celery beat would run, for a server that has no beat (no REDIS_URL: local mode, or
one process with in-process tasks): retention, at the server's start and then every
INTERVAL_SECONDS, in a thread of its own, never on the event loop.

Started by the server's lifespan (proxy.asgi, through usage.pipeline.background_start);
the thread is a daemon: a server stopping mid-run leaves at most one batch's transaction,
which the database rolls back, and the next start carries on.
"""

import logging
import threading

logger = logging.getLogger("codecosts.usage")

INTERVAL_SECONDS = 3600.0

_lock = threading.Lock()
_thread: threading.Thread | None = None
_stop = threading.Event()


def start(*, interval: float = INTERVAL_SECONDS) -> threading.Thread:
    """Start the thread (once per process); return it."""
    global _thread
    with _lock:
        if _thread is None or not _thread.is_alive():
            _stop.clear()
            _thread = threading.Thread(
                target=_run, args=(interval,), name="codecosts-retention", daemon=True
            )
            _thread.start()
        return _thread


def stop(timeout: float = 5.0) -> None:
    """Stop after the run under way, if any (tests; a server stopping need not wait)."""
    global _thread
    with _lock:
        thread, _thread = _thread, None
    _stop.set()
    if thread is not None:
        thread.join(timeout)


def _run(interval: float) -> None:
    from django.db import connections

    from usage.services.retention import retention_run_all

    while not _stop.is_set():
        try:
            retention_run_all()
        except Exception:  # noqa: BLE001 - the next run tries again
            logger.exception("retention could not run")
        finally:
            connections.close_all()  # this thread's: none is held through the hour's wait
        if _stop.wait(interval):
            return

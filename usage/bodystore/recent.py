"""The pieces a shipper sent lately, so that a repeated piece travels as its digest alone."""

import time
from collections import OrderedDict

# About 6 MB at most; a session's pieces stay in it for as long as it is active.
RECENT_MAX = 50_000
RECENT_SECONDS = 600.0


class RecentPieces:
    """(organization, digest) of the pieces sent in the last RECENT_SECONDS, oldest
    first. One thread (the shipper) uses it.

    Sent means handed to the broker (or the spool, which delivers in order): the worker
    that writes a later call finds the piece, or waits for it (usage.tasks). A piece whose
    delivery failed is sent again once `forget` clears what was believed sent.
    """

    def __init__(self, size: int = RECENT_MAX, seconds: float = RECENT_SECONDS):
        self._sent: OrderedDict[tuple[str, bytes], float] = OrderedDict()
        self._size, self._seconds = size, seconds

    def first(self, organization_id: str, digest: bytes) -> bool:
        """Whether the piece must travel (not sent lately); if so it counts as sent now.
        A piece travels again RECENT_SECONDS after it last did, however often it is used
        meanwhile: what a lost delivery costs is bounded."""
        key, now = (organization_id, digest), time.monotonic()
        sent_at = self._sent.get(key)
        if sent_at is not None and now - sent_at <= self._seconds:
            self._sent.move_to_end(key)
            return False
        self._sent[key] = now
        self._sent.move_to_end(key)
        if len(self._sent) > self._size:
            self._sent.popitem(last=False)
        return True

    def forget(self) -> None:
        self._sent.clear()

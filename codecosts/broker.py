"""The Redis broker transport, with the kombu bug that killed workers in an outage fixed.

When the broker goes away, the worker's consumer drops its connection; then the channel
gives back the messages the worker holds unacknowledged (prefetched, or running under
`acks_late`), and each task that ends acknowledges its message, each through a Redis
connection made for it from the channel's connection, which is already gone: kombu
5.7.0 raises AttributeError("'NoneType' object has no attribute 'hostname'" or
"'client'"), which Celery takes for unrecoverable, and the worker exits (seen two times
in three with Redis stopped for 30 s; every time with the threads pool). Here, with no
connection to go through, a message is left where it is: in Redis's unacked set, which
gives it back after the visibility timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS;
a batch written twice is written once, the writes being idempotent), and the worker
reconnects by itself (tests/reliability/test_faults.py, "broker down").

Publishing reuses one Redis client per channel (see Channel.conn_or_acquire), and its
messages are written by orjson (see envelope).
"""

from contextlib import contextmanager

import orjson
from kombu.transport import redis
from kombu.utils.json import dumps as kombu_dumps

_NATIVE_ONLY = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


def envelope(message: dict) -> str:
    """A message as the transport stores it in Redis: JSON around its body, itself text.

    kombu's encoder took 0.4 ms for the envelope of a usage batch (escaping its 180 KB
    body) in the web process's usage shipper, holding the GIL throughout, which the event
    loop then waited for; orjson takes 0.1 ms. What JSON has no type for (a datetime, a
    Decimal, a subclass) goes to kombu's encoder, which tags it for kombu's decoder."""
    try:
        return orjson.dumps(message, option=_NATIVE_ONLY).decode()
    except TypeError:
        return kombu_dumps(message)


redis.dumps = envelope  # the name kombu's Redis channel writes its messages with


class QoS(redis.QoS):
    def _connected(self) -> bool:
        return getattr(self.channel.connection, "client", None) is not None

    def _unless_disconnected(self, call, *args):
        try:
            return call(*args)
        except AttributeError:
            if self._connected():
                raise
            return None  # left unacknowledged in Redis, given back after the timeout

    def ack(self, delivery_tag):
        return self._unless_disconnected(super().ack, delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        return self._unless_disconnected(super().reject, delivery_tag, requeue)

    def restore_unacked_once(self, stderr=None):
        return self._unless_disconnected(super().restore_unacked_once, stderr)


class Channel(redis.Channel):
    QoS = QoS

    @contextmanager
    def conn_or_acquire(self, client=None):
        """One client per channel and pool for what has no client of its own (publishing):
        kombu made one per message, and each builds redis-py's table of response
        callbacks (0.4 ms a publish, in the web process's shipper)."""
        if client is not None:
            yield client
            return
        pool = self.pool
        if self._own_client is None or self._own_client[0] is not pool:
            self._own_client = (pool, self._create_client())
        yield self._own_client[1]

    _own_client = None


class Transport(redis.Transport):
    Channel = Channel

"""Logging helpers of the settings' LOGGING."""

import copy
import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """Write a 4xx record (a client's mistake, e.g. a DisallowedHost) without its traceback.

    Django logs the exception of every 400/403 it answers; the request is worth a line,
    not a stack. Server errors keep theirs. A copy is returned, so other handlers (and
    error trackers) still get the record whole.
    """

    def filter(self, record: logging.LogRecord) -> bool | logging.LogRecord:
        status = getattr(record, "status_code", None)
        if not record.exc_info or not isinstance(status, int) or not 400 <= status < 500:
            return True
        record = copy.copy(record)
        record.exc_info = None
        record.exc_text = None
        return record

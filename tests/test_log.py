"""codecosts.log: client errors (4xx) reach the server log as one line, no traceback."""

import io
import logging

import pytest
from django.test import Client

from codecosts.log import ClientErrorsWithoutTraceback


def _handler() -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ClientErrorsWithoutTraceback())
    return handler, stream


def _log_error(logger: logging.Logger, status: int) -> None:
    try:
        raise ValueError("inside")
    except ValueError:
        logger.error("answered %s", status, exc_info=True, extra={"status_code": status})


def test_a_4xx_record_is_written_without_its_traceback_and_a_5xx_with_it():
    handler, stream = _handler()
    logger = logging.getLogger("tests.log.filter")
    logger.addHandler(handler)
    seen = []
    catch_all = logging.Handler()
    catch_all.emit = seen.append
    logger.addHandler(catch_all)
    try:
        _log_error(logger, 403)
        client_error = stream.getvalue()
        _log_error(logger, 500)
    finally:
        logger.removeHandler(handler)
        logger.removeHandler(catch_all)

    assert client_error == "answered 403\n"
    assert "Traceback" in stream.getvalue().removeprefix(client_error)
    assert "ValueError: inside" in stream.getvalue()
    # Only this handler's copy lost the traceback; other handlers get the record whole.
    assert [record.exc_info is not None for record in seen] == [True, True]


@pytest.mark.django_db
def test_djangos_disallowed_host_reaches_the_console_as_one_line(settings):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    # The console handler of settings.LOGGING, writing into a buffer for the test.
    [console] = [
        handler
        for handler in logging.getLogger().handlers
        if any(isinstance(f, ClientErrorsWithoutTraceback) for f in handler.filters)
    ]
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        response = Client().get("/login", HTTP_HOST="evil.example")
    finally:
        console.setStream(previous)

    assert response.status_code == 400
    assert "ERROR django.security.DisallowedHost Invalid HTTP_HOST header: 'evil.example'" in (
        stream.getvalue()
    )
    assert "Traceback" not in stream.getvalue()

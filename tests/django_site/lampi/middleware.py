"""LAMPI_SITE_STALL=N:SECONDS -- the N-th request this process serves (1-based, counted across all
threads, login requests included) sleeps SECONDS before being handled. Tests use it to prove that the
load generator corrects for coordinated omission.

The test harness's readiness probe carries `X-Lampi-Readiness-Probe: 1` and is not counted, so request 1
is the test's own first request."""
import itertools
import logging
import os
import threading
import time

from django.core.exceptions import ImproperlyConfigured

log = logging.getLogger(__name__)


def _parse_stall(value):
    if not value:
        return None
    try:
        nth, seconds = value.split(":", 1)
        nth, seconds = int(nth), float(seconds)
    except ValueError:
        raise ImproperlyConfigured(f"LAMPI_SITE_STALL must be N:SECONDS, not {value!r}")
    if nth < 1 or seconds < 0:
        raise ImproperlyConfigured(f"LAMPI_SITE_STALL must be N>=1:SECONDS>=0, not {value!r}")
    return nth, seconds


class StallMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.stall = _parse_stall(os.environ.get("LAMPI_SITE_STALL"))
        self.counter = itertools.count(1)
        self.lock = threading.Lock()

    def __call__(self, request):
        if self.stall is not None and request.headers.get("X-Lampi-Readiness-Probe") != "1":
            with self.lock:
                n = next(self.counter)
            nth, seconds = self.stall
            if n == nth:
                log.warning("stalling request %d (%s %s) for %.3f s", n, request.method, request.path, seconds)
                time.sleep(seconds)
        return self.get_response(request)

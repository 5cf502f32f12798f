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


class SlowMiddleware:
    """LAMPI_SITE_DELAY=SECONDS -- every request sleeps SECONDS first (a slower site, for `report compare`).

    LAMPI_SITE_SLOW=SECONDS -- every request sleeps SECONDS times the number of requests in flight, itself
    included: one request alone takes SECONDS more, eight at once take 8 x SECONDS each. By Little's law the site
    then serves at most 1/SECONDS requests a second however many threads it has: offered more, its queue (and the
    latency measured from each request's intended start) grows without bound. A known knee for `--find-limit`.

    The harness's readiness probe (`X-Lampi-Readiness-Probe: 1`) is never slowed."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.delay = _seconds("LAMPI_SITE_DELAY")
        self.slow = _seconds("LAMPI_SITE_SLOW")
        self.in_flight = 0
        self.lock = threading.Lock()

    def __call__(self, request):
        if request.headers.get("X-Lampi-Readiness-Probe") == "1" or not (self.delay or self.slow):
            return self.get_response(request)
        with self.lock:
            self.in_flight += 1
            n = self.in_flight
        try:
            time.sleep(self.delay + self.slow * n)
            return self.get_response(request)
        finally:
            with self.lock:
                self.in_flight -= 1


def _seconds(name):
    value = os.environ.get(name)
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number of seconds, not {value!r}")
    if seconds < 0:
        raise ImproperlyConfigured(f"{name} must be 0 or more seconds, not {value!r}")
    return seconds

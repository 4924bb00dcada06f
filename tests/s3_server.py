"""A real S3 server for tests: moto's server mode on 127.0.0.1 (port 0), with a request log.

The log is kept by the server itself (a WSGI layer around moto's application), so a test sees
every request the scanner sent: its method, path, query and Range header. No client is
mocked: s3fs and botocore talk HTTP to it like to any S3-compatible endpoint.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

try:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server
except ImportError as exc:  # never a silent skip: the dev extra installs it
    MISSING: str | None = f"{exc}; install it with pip install -e '.[dev]' (moto[server])"
else:
    MISSING = None


SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)

INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message></Error>"
)


def _object_get(environ: dict[str, Any]) -> bool:
    parts = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)
    return environ["REQUEST_METHOD"] == "GET" and len(parts) == 2 and bool(parts[1])


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    range: str | None
    signed: bool  # sent with an Authorization header (or a presigned query)
    agent: str = ""  # its User-Agent (botocore's names AWS_SDK_UA_APP_ID: who sent it)
    sent: int = 0  # bytes of the response's body the server wrote


class S3Server:
    """moto on 127.0.0.1, one per test module; `reset()` empties it and its log."""

    def __init__(self) -> None:
        if MISSING is not None:
            pytest.fail(f"the S3 tests need moto's server: {MISSING}")
        self.log: list[Request] = []
        self.throttle = 0  # the next this many object GETs are answered 503 SlowDown
        # a listing fault: after this many listing requests, every further one fails (500)
        self.listings_before_fault: int | None = None
        self.get_delay = 0.0  # seconds each object GET waits before its answer (a slow store)
        # called with each object GET's request before the server answers it: a test changes
        # the store there (by requests to this server), between a scan's GETs of one object
        self.before_get: Callable[[Request], None] | None = None
        self._lock = threading.Lock()
        app = DomainDispatcherApplication(create_backend_app)

        def logged(environ: dict[str, Any], start: Callable[..., Any]) -> Iterable[bytes]:
            index = -1
            if not environ.get("PATH_INFO", "").startswith("/moto-api"):
                request = Request(
                    environ["REQUEST_METHOD"],
                    environ.get("PATH_INFO", ""),
                    environ.get("QUERY_STRING", ""),
                    environ.get("HTTP_RANGE"),
                    "HTTP_AUTHORIZATION" in environ
                    or "X-Amz-Signature" in environ.get("QUERY_STRING", ""),
                    environ.get("HTTP_USER_AGENT", ""),
                )
                with self._lock:
                    index = len(self.log)
                    self.log.append(request)
                if self.before_get is not None and _object_get(environ):
                    self.before_get(request)
                if self.get_delay and _object_get(environ):
                    time.sleep(self.get_delay)
                if self._throttled(environ):
                    start("503 Slow Down", [("Content-Type", "application/xml")])
                    return [SLOW_DOWN]
                if self._listing_fault(environ):
                    start("500 Internal Server Error", [("Content-Type", "application/xml")])
                    return [INTERNAL_ERROR]
            result: Iterable[bytes] = app(environ, start)
            return result if index < 0 else self._counted(index, result)

        self._server = make_server(
            "127.0.0.1", 0, logged, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def _counted(self, index: int, body: Iterable[bytes]) -> Iterator[bytes]:
        """The response's body, its bytes added to its request's entry as they are sent."""
        try:
            for chunk in body:
                with self._lock:
                    if index < len(self.log):
                        entry = self.log[index]
                        self.log[index] = replace(entry, sent=entry.sent + len(chunk))
                yield chunk
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()

    def _throttled(self, environ: dict[str, Any]) -> bool:
        if not _object_get(environ) or self.throttle <= 0:
            return False
        self.throttle -= 1
        return True

    def _listing_fault(self, environ: dict[str, Any]) -> bool:
        parts = environ.get("PATH_INFO", "").lstrip("/").split("/", 1)
        if environ["REQUEST_METHOD"] != "GET" or (len(parts) == 2 and parts[1]):
            return False
        query = environ.get("QUERY_STRING", "")
        if self.listings_before_fault is None or not ("versions" in query or "list-type" in query):
            return False
        if self.listings_before_fault > 0:
            self.listings_before_fault -= 1
            return False
        return True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def environ(self, secret: str, no_files: Path) -> dict[str, str]:
        """The standard AWS environment by which the scanner (and boto3) reach this server:
        its endpoint, a key pair whose secret is `secret`, and no config or credentials file
        (`no_files`: a path that does not exist)."""
        return {
            "AWS_ENDPOINT_URL_S3": self.url,
            "AWS_ACCESS_KEY_ID": "AKIAFACEAUDITTEST",
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(no_files),
            "AWS_SHARED_CREDENTIALS_FILE": str(no_files),
        }

    def use(self, monkeypatch: pytest.MonkeyPatch, secret: str, no_files: Path) -> dict[str, str]:
        """Point this process at the server (`environ`), with s3fs's cached clients dropped;
        returns the environment (for subprocesses)."""
        import s3fs

        env = self.environ(secret, no_files)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        s3fs.S3FileSystem.clear_instance_cache()
        return env

    def reset(self) -> None:
        req = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass
        self.clear_log()

    def enforce_iam(self, on: bool) -> None:
        """moto's own IAM enforcement (its `reset-auth` API): on, every request must be signed
        by an IAM user's key and is allowed by that user's policies, as on AWS."""
        body = b"0" if on else b"inf"
        req = urllib.request.Request(
            f"{self.url}/moto-api/reset-auth",
            body,
            headers={"Content-Type": "text/plain"},  # a form's body would not reach moto
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10):
            pass

    def clear_log(self) -> None:
        with self._lock:
            self.log.clear()
            self.throttle = 0
            self.listings_before_fault = None
            self.get_delay = 0.0
            self.before_get = None

    def requests(self) -> list[Request]:
        with self._lock:
            return list(self.log)

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)

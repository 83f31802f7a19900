"""Small helpers shared by the tests (not fixtures): free loopback ports and printed figures."""

from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def report(request, lines: list[str]) -> None:
    """Print figures past pytest's output capture, so `make test` shows them."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:  # pragma: no cover - plugins turned off
        print("\n".join(lines))
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in lines:
            reporter.write_line(line)


def stop_process(proc: subprocess.Popen, grace_s: float = 10) -> None:
    """Terminate a server the test started; kill it if it does not stop within grace_s."""
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:  # e.g. still generating for a request a test gave up on
        proc.kill()
        proc.wait(timeout=10)

"""Small helpers shared by the tests (not fixtures): free loopback ports, printed figures, and the
shipped corpus's doctrine and framing judge (the service builds its own from its corpus folder)."""

from __future__ import annotations

import socket
import subprocess
from functools import lru_cache
from pathlib import Path

SHIPPED_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


@lru_cache(maxsize=1)
def shipped_doctrine():
    """AQ's doctrine, from the shipped corpus's doctrine.yaml."""
    from assistant.doctrine import load

    return load(SHIPPED_CORPUS / "doctrine.yaml")


@lru_cache(maxsize=1)
def shipped_judge():
    """The framing judge the service builds for the shipped corpus."""
    from assistant.corpus import load_glossary
    from assistant.guard import FramingJudge

    return FramingJudge(shipped_doctrine(), load_glossary(SHIPPED_CORPUS / "glossary.yaml"))


def judge_framing(text: str):
    return shipped_judge().judge_framing(text)


def judge_sentence(text: str):
    return shipped_judge().judge_sentence(text)


def fresh_postgres_database(postgres_url: str, prefix: str = "t") -> str:
    """The URL of a new, empty database on the PostgreSQL at postgres_url."""
    import uuid

    from sqlalchemy import create_engine, text

    name = prefix + uuid.uuid4().hex[:12]
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres_url.rsplit("/", 1)[0] + "/" + name


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


class PostgresCluster:
    """A throwaway PostgreSQL cluster on loopback: initdb and pg_ctl in a temp dir, stopped afterwards.

    As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
    """

    def __init__(self, base, port: int) -> None:
        import glob
        import os
        from pathlib import Path

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin); `make postgres` installs it")
        self.bin = Path(found[-1]).parent
        self.base = Path(base)
        self.data = self.base / "pgdata"
        self.port = port
        self.as_root = os.geteuid() == 0
        self.url = f"postgresql+psycopg://aq@127.0.0.1:{port}/aq"

    def _run(self, *args: str) -> None:
        cmd = [str(a) for a in args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr or done.stdout}")

    def start(self) -> PostgresCluster:
        import shutil

        self.base.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(self.bin / "initdb", "-D", self.data, "-U", "aq", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} -c fsync=off -c max_connections=200"
        self._run(self.bin / "pg_ctl", "-D", self.data, "-o", options, "-l", self.base / "server.log", "-w", "start")
        self._run(self.bin / "createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "aq", "aq")
        return self

    def stop(self) -> None:
        try:
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        except RuntimeError:
            pass  # already stopped


def chroma_cli() -> str:
    """The `chroma` CLI of this interpreter's environment (the project venv), else the PATH one."""
    import shutil
    import sys
    from pathlib import Path

    here = Path(sys.executable).parent / "chroma"
    found = str(here) if here.exists() else shutil.which("chroma")
    assert found, "the `chroma` CLI (installed with chromadb) is missing: pip install chromadb"
    return found


def chroma_heartbeat(port: int) -> bool:
    import urllib.request

    for path in ("/api/v2/heartbeat", "/api/v1/heartbeat"):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            continue
    return False


def start_chroma_server(path, port: int, timeout_s: float = 60) -> subprocess.Popen:
    """A real `chroma run` server on 127.0.0.1:port persisting in path; raises if it gives no heartbeat."""
    import os
    import time

    log = open(path / "server.log", "wb")
    proc = subprocess.Popen(
        [chroma_cli(), "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    log.close()
    deadline = time.monotonic() + timeout_s
    while not chroma_heartbeat(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_process(proc, 5) if proc.poll() is None else None
            raise RuntimeError(f"`chroma run` on 127.0.0.1:{port} did not start: "
                               f"{(path / 'server.log').read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    return proc

"""Start a real Daphne process on the test database, for tests that need the
server as users run it (HTTP, WebSockets, and events across processes)."""

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def subprocess_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    # A Unix socket's directory is a host too, quoted in a URL ("%2Fvar%2Frun%2F...").
    host = quote(db["HOST"] or "127.0.0.1", safe="")
    return f"postgres://{auth}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


class DaphneProcess:
    """One Daphne server on a fixed port, which a test may kill -9 and start again."""

    def __init__(self, port: int | None = None, **extra_env: str):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": subprocess_database_url(), **extra_env}
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.process: subprocess.Popen | None = None
        # A file, not a pipe: nobody reads a pipe while the test runs, and a full pipe
        # would block the server.
        self.log = tempfile.NamedTemporaryFile(prefix="daphne-", suffix=".log", delete=False)  # noqa: SIM115 (lives as long as the server)

    def start(self) -> "DaphneProcess":
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "marketplace.serve",  # Daphne as production starts it
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                "marketplace.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Daphne did not become healthy:\n{self.output()}")
            time.sleep(0.2)

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill_hard(self) -> None:
        """kill -9: no shutdown handlers, open sockets simply vanish."""
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@contextmanager
def running_daphne(**extra_env: str):
    daphne = DaphneProcess(**extra_env).start()
    try:
        yield daphne.url
    finally:
        daphne.stop()

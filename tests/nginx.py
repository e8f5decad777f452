"""Run the machine's nginx (Debian's package) with the compose stack's own configuration,
deploy/nginx/, in front of Daphne processes on loopback: only the lines that name
Docker's world (the `web` service, port 80, the static volume, system paths) are
pointed at the test's, so what the tests exercise is the committed file."""

import getpass
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

from django.conf import settings

from tests.daphne import ROOT, free_port

CONF_DIR = ROOT / "deploy" / "nginx"
NGINX = "/usr/sbin/nginx"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (NGINX if os.access(NGINX, os.X_OK) else None)


def _replace_once(text: str, pattern: str, replacement, *, file: str) -> str:
    """Replace the one line the committed file must have; a changed file fails here,
    saying what is missing, instead of quietly testing something else."""
    new, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise AssertionError(f"{file}: expected exactly one line matching {pattern!r}")
    return new


def site_conf(*, listen_port: int, upstream_ports: list[int], static_root: Path) -> str:
    text = (CONF_DIR / "marketplace.conf").read_text()
    name = "marketplace.conf"
    text = _replace_once(
        text,
        r"^(\s*)server web:8000 resolve ([^;]*);",
        lambda m: "\n".join(
            f"{m.group(1)}server 127.0.0.1:{port} {m.group(2)};" for port in upstream_ports
        ),
        file=name,
    )
    text = _replace_once(
        text, r"^(\s*)listen 80;", rf"\1listen 127.0.0.1:{listen_port};", file=name
    )
    return _replace_once(text, r"^(\s*)alias /srv/static/;", rf"\1alias {static_root}/;", file=name)


def main_conf(*, workdir: Path) -> str:
    text = (CONF_DIR / "nginx.conf").read_text()
    name = "nginx.conf"
    # Workers as the user running the test (the "user" directive means something only to
    # a master started by root), in the foreground, everything written under workdir.
    user = f"user {getpass.getuser()};" if os.geteuid() == 0 else ""
    text = _replace_once(text, r"^user nginx;.*$", f"daemon off;\n{user}", file=name)
    text = _replace_once(text, r"^pid .*;$", f"pid {workdir}/nginx.pid;", file=name)
    text = _replace_once(text, r"^error_log \S+", f"error_log {workdir}/error.log", file=name)
    # Which Daphne served each request and socket: the tests read it.
    text = _replace_once(
        text,
        r"^(\s*)access_log .*;$",
        rf"\1log_format upstreams '$request_uri $status $upstream_addr';"
        rf"\n\1access_log {workdir}/access.log upstreams;"
        + "".join(
            rf"\n\1{kind}_temp_path {workdir}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        ),
        file=name,
    )
    return _replace_once(
        text,
        r"^(\s*)include /etc/nginx/conf.d/marketplace.conf;",
        rf"\1include {workdir}/marketplace.conf;",
        file=name,
    )


class NginxProcess:
    """nginx in the foreground, as the current user, on a free loopback port; its
    configuration, logs and temporary files in workdir (a test's tmp_path)."""

    def __init__(self, binary: str, upstream_ports: list[int], workdir: Path):
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        (self.workdir / "marketplace.conf").write_text(
            site_conf(
                listen_port=self.port,
                upstream_ports=upstream_ports,
                static_root=Path(settings.STATIC_ROOT),
            )
        )
        (self.workdir / "nginx.conf").write_text(main_conf(workdir=self.workdir))
        self.process: subprocess.Popen | None = None

    def _command(self, *extra: str) -> list[str]:
        return [
            self.binary,
            "-p",
            str(self.workdir),
            "-c",
            str(self.workdir / "nginx.conf"),
            "-e",
            str(self.workdir / "error.log"),
            *extra,
        ]

    def start(self) -> "NginxProcess":
        check = subprocess.run(self._command("-t"), capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t refused the configuration:\n{check.stderr}")
        self.process = subprocess.Popen(
            self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
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
                self.stop()
                raise RuntimeError(f"nginx did not proxy /healthz:\n{self.error_log()}")
            time.sleep(0.2)

    def error_log(self) -> str:
        path = self.workdir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access_log(self) -> list[str]:
        path = self.workdir / "access.log"
        return path.read_text(errors="replace").splitlines() if path.exists() else []

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: nginx's fast shutdown
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

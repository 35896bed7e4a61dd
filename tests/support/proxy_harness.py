"""docker/compose.yaml's proxy on this machine, without Docker: nginx runs docker/nginx.conf
itself, and the replicas run compose's own command and environment.

What stands in for Docker, and the only edits to nginx.conf:
- Docker's DNS (127.0.0.11, answering "api" with every running replica) is ``DnsStub``, a
  UDP server on a loopback address that answers "api" with the addresses the test lists;
  nginx.conf's resolver address is replaced by the stub's (``address:port``).
- Each replica listens on its own loopback address (127.N.M.2, .3, ...) on port 8000, as a
  container does on its own IP, so "api:8000" in nginx.conf is left as it is.
- nginx listens on 127.N.M.1:8000 (``listen 8000`` gets that address), and the image's
  template step is done here the same way: ``${AUTOGRAD_*}`` from the environment.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml

from support.service_server import ROOT, TEST_ENV

DOCKER = Path(ROOT) / "docker"
COMPOSE = yaml.safe_load((DOCKER / "compose.yaml").read_text())


def interpolate(value: str, env: dict) -> str:
    """Compose's ``${NAME:-default}`` / ``${NAME}`` interpolation."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}",
                  lambda m: env.get(m.group(1)) or (m.group(2) or ""), value)


def compose_env(service: str, env: dict) -> dict:
    """A compose service's environment as its container gets it (``env``: the shell's)."""
    return {k: interpolate(str(v), env)
            for k, v in COMPOSE["services"][service].get("environment", {}).items()}


def render_nginx(resolver: str, listen: str, env: dict) -> str:
    """docker/nginx.conf as the nginx image renders it (envsubst of the variables named by
    NGINX_ENVSUBST_FILTER, defined in ``env``), with the resolver's and the listening
    address substituted."""
    conf = (DOCKER / "nginx.conf").read_text()
    wanted = re.compile(env.get("NGINX_ENVSUBST_FILTER", ".*"))
    for name, value in env.items():
        if wanted.search(name):
            conf = conf.replace("${" + name + "}", value)
    assert conf.count("resolver 127.0.0.11 ") == 1 and conf.count("listen 8000;") == 1
    conf = conf.replace("resolver 127.0.0.11 ", f"resolver {resolver} ")
    return conf.replace("listen 8000;", f"listen {listen};")


class DnsStub:
    """Docker's DNS for one name: answers A queries for ``api`` with ``self.addresses``
    (TTL 1 s), NXDOMAIN for any other name. Change ``addresses`` to scale."""

    def __init__(self, host: str, name: str = "api"):
        self.name, self.addresses = name.encode(), []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.address = f"{host}:{self.sock.getsockname()[1]}"
        self.queries = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                return
            with contextlib.suppress(Exception):
                self.sock.sendto(self._answer(query), peer)

    def _answer(self, query: bytes) -> bytes:
        self.queries += 1
        (qid,) = struct.unpack("!H", query[:2])
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]])
            i += 1 + query[i]
        question = query[12:i + 5]
        qtype = struct.unpack("!H", query[i + 1:i + 3])[0]
        known = b".".join(labels).lower() == self.name
        answers = [a for a in self.addresses] if known and qtype == 1 else []
        flags = 0x8180 if known else 0x8183  # a response; NXDOMAIN for other names
        out = struct.pack("!HHHHHH", qid, flags, 1, len(answers), 0, 0) + question
        for a in answers:
            out += struct.pack("!HHHLH", 0xC00C, 1, 1, 1, 4) + socket.inet_aton(a)
        return out

    def close(self):
        self.sock.close()


def loopback_net() -> str:
    """A random 127.N.M prefix, so that port 8000 on its addresses is free for this run."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"


class Replica:
    """`autograd-service` with compose's api command and environment, on ``host``:8000."""

    def __init__(self, host: str, env: dict):
        cmd = list(COMPOSE["services"]["api"]["command"])
        if shutil.which(cmd[0]) is None and not os.environ.get("CI"):
            cmd[:1] = [sys.executable, "-m", "service"]  # its entry point, not pip-installed
        cmd[cmd.index("--host") + 1] = host
        self.host, self.url = host, f"http://{host}:8000"
        self.log = tempfile.TemporaryFile()
        full = {**os.environ, **TEST_ENV, **env,
                "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_ready(self.url, self.proc, self.output)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def stop(self, sig=None):
        if self.proc.poll() is None:
            self.proc.send_signal(sig) if sig else self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Nginx:
    """nginx with the rendered docker/nginx.conf; its access and error logs in files."""

    def __init__(self, resolver: str, host: str, env: dict):
        self.dir = Path(tempfile.mkdtemp())
        self.dir.chmod(0o755)  # nginx's workers (nobody, when run as root) use temp dirs here
        (self.dir / "nginx.conf").write_text(render_nginx(resolver, f"{host}:8000", env))
        self.out, self.err = open(self.dir / "stdout", "wb"), open(self.dir / "stderr", "wb")
        self.proc = subprocess.Popen(
            [shutil.which("nginx"), "-p", str(self.dir), "-e", "stderr",
             "-c", str(self.dir / "nginx.conf"), "-g", f"pid {self.dir}/nginx.pid; daemon off;"],
            stdout=self.out, stderr=self.err)
        self.url = f"http://{host}:8000"
        time.sleep(0.3)
        assert self.proc.poll() is None, (self.dir / "stderr").read_text()

    def access_log(self) -> list[str]:
        self.out.flush()
        return (self.dir / "stdout").read_text().splitlines()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.out.close()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_ready(url: str, proc, output, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while True:
        assert proc.poll() is None, output()[-3000:]
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        assert time.monotonic() < deadline, "not ready: " + output()[-3000:]
        time.sleep(0.05)

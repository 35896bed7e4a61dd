"""The deployment files agree with the settings and with what CI tests: docker/ (compose,
Dockerfile, the dependency lock, nginx.conf) here; the proxy itself runs in
test_proxy_failover.py, the Kubernetes manifests in test_kubernetes_manifests.py."""

import importlib.metadata as md
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from support.proxy_harness import COMPOSE, compose_env
from support.service_server import ROOT, free_port, running_server

from service.settings import Settings

DOCKER = Path(ROOT) / "docker"
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
NGINX = (DOCKER / "nginx.conf").read_text()
SERVICES = COMPOSE["services"]


def seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m)?", str(value))
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]


def images() -> list[str]:
    found = [s["image"] for s in SERVICES.values() if "image" in s]
    found += re.findall(r"^ARG PYTHON_IMAGE=(\S+)", DOCKERFILE, re.M)
    return found


def test_images_are_pinned_to_a_full_version():
    assert len(images()) == 3
    for image in images():
        name, tag = image.split("@")[0].split(":")
        assert re.match(r"\d+\.\d+\.\d+-", tag), image  # not latest, not 7-alpine
    assert all("FROM ${PYTHON_IMAGE}" in line for line in DOCKERFILE.splitlines()
               if line.startswith("FROM"))


def test_the_image_python_is_the_one_ci_runs():
    (image,) = re.findall(r"^ARG PYTHON_IMAGE=python:(\d+\.\d+)\.", DOCKERFILE, re.M)
    assert image == f"{sys.version_info.major}.{sys.version_info.minor}"


def _lock(name: str) -> dict[str, str]:
    text = (DOCKER / name).read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", text, re.M))
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", text)
    for block in blocks[1:]:
        assert "--hash=sha256:" in block, block[:80]  # every pin has its hashes
    return {canonicalize_name(k): v for k, v in pins.items()}


def test_lock_pins_every_runtime_dependency_and_their_closure():
    lock = _lock("requirements.lock")
    project = tomllib.loads((Path(ROOT) / "pyproject.toml").read_text())["project"]
    env = {"python_version": "3.11", "python_full_version": "3.11.7", "extra": "",
           "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
           "implementation_name": "cpython", "platform_python_implementation": "CPython"}
    for line in project["dependencies"]:
        req = Requirement(line)
        assert canonicalize_name(req.name) in lock, req.name
        assert req.specifier.contains(lock[canonicalize_name(req.name)]), (req, lock)
    for name in lock:  # what each locked package needs is locked too
        try:
            needs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue  # not installed here (a marker for another Python): nothing to read
        for line in needs:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                assert canonicalize_name(req.name) in lock, (name, line)
    assert "setuptools" in _lock("build-requirements.lock")


def test_dockerfile_builds_from_the_lock_and_requires_the_extensions():
    assert "--require-hashes -r requirements.lock" in DOCKERFILE
    assert "--no-build-isolation" in DOCKERFILE and "sys.exit(len(so) < 2)" in DOCKERFILE
    assert "graphviz" in DOCKERFILE and "USER autograd" in DOCKERFILE
    assert "COPY --from=build /opt/venv /opt/venv" in DOCKERFILE  # no wheel left in a layer
    ignore = (Path(ROOT) / ".dockerignore").read_text().splitlines()
    assert ignore[1] == "*"  # everything out, then what the COPY lines name back in
    for src in re.findall(r"^COPY (?!--from)(.+) \S+$", DOCKERFILE, re.M):
        for path in src.split():
            assert f"!{path}" in ignore or f"!{path}/" in ignore, path


def test_compose_survives_operations():
    settings = Settings(**{k.removeprefix("AUTOGRAD_").lower(): v
                           for k, v in compose_env("api", {}).items()
                           if k.startswith("AUTOGRAD_")})
    assert settings.compute_seconds < settings.shutdown_seconds
    assert settings.shutdown_seconds < seconds(SERVICES["api"]["stop_grace_period"])
    for name, service in SERVICES.items():
        assert service["restart"] == "unless-stopped", name
        assert service["logging"]["options"]["max-size"], name
        assert service["deploy"]["resources"]["limits"]["memory"], name
    assert SERVICES["nginx"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert SERVICES["api"]["depends_on"]["redis"]["condition"] == "service_healthy"
    # the healthcheck asks the probe process (NOTE [probes outside the GIL]): run as declared
    # in test_the_healthchecks_ask_the_probe_port
    assert settings.probe_port == 8001
    redis = SERVICES["redis"]["command"]
    assert redis[redis.index("--maxmemory-policy") + 1] == "noeviction"
    assert SERVICES["api"]["env_file"] == "api-keys.env"  # no keys, no start
    assert "AUTOGRAD_API_KEYS=" in (DOCKER / "api-keys.env.example").read_text()
    assert "/docker/api-keys.env" in (Path(ROOT) / ".gitignore").read_text()
    assert SERVICES["nginx"]["ports"][0].startswith("${AUTOGRAD_PUBLISH:-127.0.0.1:")
    # the body limit: one variable, given to both
    both = compose_env("api", {"AUTOGRAD_MAX_BODY_BYTES": "123"})
    assert both["AUTOGRAD_MAX_BODY_BYTES"] == "123"
    assert compose_env("nginx", {"AUTOGRAD_MAX_BODY_BYTES": "123"})[
        "AUTOGRAD_MAX_BODY_BYTES"] == "123"
    assert int(compose_env("api", {})["AUTOGRAD_MAX_BODY_BYTES"]) == Settings().max_body_bytes
    assert "client_max_body_size ${AUTOGRAD_MAX_BODY_BYTES};" in NGINX
    assert seconds(re.search(r"proxy_read_timeout (\w+);", NGINX).group(1)) > \
        settings.compute_seconds
    assert re.search(r"proxy_connect_timeout (\w+);", NGINX).group(1) == "2s"
    # the files compose.yaml's comment names exist
    header = (DOCKER / "compose.yaml").read_text().split("\nx-settings")[0]
    for test in re.findall(r"tests/(\w+\.py)", header):
        assert (Path(ROOT) / "tests" / test).exists(), test


def test_settings_default_shutdown_outlasts_the_compute_limit():
    s = Settings()
    assert s.compute_seconds < s.shutdown_seconds


def healthchecks() -> list[list[str]]:
    """compose's and the Dockerfile's healthcheck commands, as argument lists."""
    compose = SERVICES["api"]["healthcheck"]["test"]
    assert compose[0] == "CMD"
    (line,) = re.findall(r"^HEALTHCHECK .*\\\n\s+CMD (.+)$", DOCKERFILE, re.M)
    return [compose[1:], shlex.split(line)]


def test_the_healthchecks_ask_the_probe_port():
    """Each healthcheck command, run as declared (its port 8001 moved to a free one), passes
    against a real server whose probe process listens there, and fails once it is gone."""
    port = free_port()
    commands = [[arg.replace("127.0.0.1:8001/", f"127.0.0.1:{port}/") for arg in command]
                for command in healthchecks()]
    assert all(command != declared for command, declared in zip(commands, healthchecks()))
    assert "AUTOGRAD_PROBE_PORT=8001" in DOCKERFILE
    env = {"AUTOGRAD_PROBE_PORT": str(port), "AUTOGRAD_PROBE_HOST": "127.0.0.1"}
    with running_server(env):
        for command in commands:
            assert subprocess.run(command, timeout=30).returncode == 0, command
    for command in commands:
        assert subprocess.run(command, timeout=30, capture_output=True).returncode != 0

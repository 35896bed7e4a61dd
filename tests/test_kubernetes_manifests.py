"""deploy/kubernetes/: every resource kustomization.yaml lists is valid against Kubernetes'
own schemas (kubernetes-validate bundles them: offline), and the manifests agree with the
service's settings: body size, timeouts, grace period against the compute limit, probe
paths and ports, selectors."""

import os
import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from support.service_server import ROOT

from service.http.app import create_app
from service.settings import Settings

try:
    import kubernetes_validate
except ImportError:
    if os.environ.get("CI"):
        raise
    pytest.skip("kubernetes-validate is not installed (pip install -e '.[test]')",
                allow_module_level=True)

K8S = Path(ROOT) / "deploy" / "kubernetes"
KUSTOMIZATION = yaml.safe_load((K8S / "kustomization.yaml").read_text())
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still supported by the big providers


def documents() -> list[dict]:
    docs = []
    for name in KUSTOMIZATION["resources"]:
        docs += [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]
    return docs


def one(kind: str, name: str | None = None) -> dict:
    (doc,) = [d for d in documents() if d["kind"] == kind
              and (name is None or d["metadata"]["name"] == name)]
    return doc


def quantity(text: str) -> int:
    """A Kubernetes/nginx size ("64m", "64Mi", "67108864") in bytes."""
    m = re.fullmatch(r"(\d+)([kKmMgG]i?)?", text)
    unit = (m.group(2) or "").lower().rstrip("i")
    return int(m.group(1)) * {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit]


def settings() -> Settings:
    data = one("ConfigMap", "autograd-settings")["data"]
    return Settings(**{k.removeprefix("AUTOGRAD_").lower(): v for k, v in data.items()
                       if k.startswith("AUTOGRAD_")})


def container() -> dict:
    (c,) = one("Deployment")["spec"]["template"]["spec"]["containers"]
    return c


@pytest.mark.parametrize("strict", [False, True])
def test_every_resource_is_valid_against_the_kubernetes_schemas(strict):
    docs = documents()
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "Ingress", "ConfigMap",
                                         "Secret", "HorizontalPodAutoscaler",
                                         "PodDisruptionBudget", "StatefulSet", "Namespace"}
    for doc in docs:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=strict)


def test_the_validator_does_catch_a_mistake():
    bad = one("Deployment")
    bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "http"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_ingress_matches_the_body_limit_and_the_compute_limit():
    s = settings()
    notes = one("Ingress")["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    assert quantity(notes[prefix + "proxy-body-size"]) == s.max_body_bytes
    assert s.max_body_bytes == Settings().max_body_bytes  # the default, unless both change
    assert int(notes[prefix + "proxy-read-timeout"]) > s.compute_seconds
    assert int(notes[prefix + "proxy-connect-timeout"]) <= 2
    assert "error" in notes[prefix + "proxy-next-upstream"]


def test_grace_period_outlasts_prestop_and_the_graceful_shutdown():
    s = settings()
    pod = one("Deployment")["spec"]["template"]["spec"]
    pre_stop = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert s.compute_seconds < s.shutdown_seconds
    assert int(pre_stop[1]) + s.shutdown_seconds < pod["terminationGracePeriodSeconds"]


def test_probes_name_real_routes_on_the_served_ports():
    c = container()
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    with TestClient(create_app(Settings())) as app:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            assert app.get(c[probe]["httpGet"]["path"]).status_code == 200
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["http"] == int(c["args"][c["args"].index("--port") + 1])
    # NOTE [probes outside the GIL]: liveness and readiness on the probe process's port,
    # the startup probe on uvicorn's own (the probe process starts before uvicorn binds)
    assert ports["probes"] == settings().probe_port
    assert c["startupProbe"]["httpGet"]["port"] == "http"
    for probe in ("livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"]["port"] == "probes"
    assert {e.get("configMapRef", e.get("secretRef"))["name"] for e in c["envFrom"]} == {
        "autograd-settings", "autograd-api-keys"}
    assert "AUTOGRAD_API_KEYS" in one("Secret")["stringData"]


def test_selectors_and_references_agree():
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert one("Service", "autograd-api")["spec"]["selector"].items() <= labels.items()
    assert one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"].items() <= \
        labels.items()
    hpa = one("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] > one("PodDisruptionBudget")["spec"]["minAvailable"]
    backend = one("Ingress")["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "autograd-api"
    assert container()["resources"]["requests"]["cpu"]  # the HPA's utilization needs it
    # the store the ConfigMap names is the Redis the kustomization deploys
    redis = one("Service", "autograd-redis")
    assert settings().store == f"redis://{redis['metadata']['name']}:6379/0"

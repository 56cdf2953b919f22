"""The manifests under deploy/ parse and agree with the code: the settings they set
exist, the shard resource the workers advertise is the one the shards ask for, the
probes hit the API's health routes, and the dashboard charts exactly the metrics the
code exports."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest
import yaml

from allocator.config import environment_table

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {name for name, _, _ in environment_table()}


def docs() -> list[dict]:
    out = []
    for path in sorted(DEPLOY.rglob("*.yaml")):
        out += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return out


def one(kind: str, name: str) -> dict:
    (found,) = [d for d in docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def pod_specs() -> list[dict]:
    specs = []
    for d in docs():
        if d["kind"] == "RayCluster":
            specs.append(d["spec"]["headGroupSpec"]["template"]["spec"])
            specs += [g["template"]["spec"] for g in d["spec"]["workerGroupSpecs"]]
        elif d["kind"] in ("Deployment", "Job"):
            specs.append(d["spec"]["template"]["spec"])
    return specs


def test_every_manifest_names_its_kind():
    kinds = set()
    for d in docs():
        assert d.get("apiVersion") and d.get("kind") and d["metadata"].get("name"), d
        kinds.add(d["kind"])
    assert {"RayCluster", "Deployment", "Service", "Job", "ConfigMap", "Secret"} <= kinds


def test_the_environment_sets_only_real_settings():
    env = one("ConfigMap", "allocator-env")["data"]
    secret = one("Secret", "allocator-secrets")["stringData"]
    assert set(env) | set(secret) <= SETTINGS
    assert {"REDIS_URL", "ALLOCATOR_SHARD_RESOURCE"} <= set(env) | set(secret)
    for spec in pod_specs():
        for c in spec["containers"]:
            refs = {next(iter(r.values()))["name"] for r in c["envFrom"]}
            assert refs == {"allocator-env", "allocator-secrets"}, c["name"]
            for var in c.get("env", []):
                assert var["name"] in SETTINGS or var["name"].startswith("RAY_"), var


def test_workers_advertise_the_resource_the_shards_ask_for_and_the_head_takes_none():
    resource = one("ConfigMap", "allocator-env")["data"]["ALLOCATOR_SHARD_RESOURCE"]
    ray_cluster = one("RayCluster", "allocator")
    assert ray_cluster["apiVersion"] == "ray.io/v1"
    head = ray_cluster["spec"]["headGroupSpec"]["rayStartParams"]
    assert head["num-cpus"] == "0" and "resources" not in head
    for group in ray_cluster["spec"]["workerGroupSpecs"]:
        resources = json.loads(json.loads(group["rayStartParams"]["resources"]))
        assert resources[resource] >= 1
        assert group["minReplicas"] >= 2  # shards survive the loss of one pod
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_the_api_deployment_probes_the_health_routes_and_runs_the_app():
    api = one("Deployment", "allocator-api")
    spec = api["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"][
        "labels"].items()
    (c,) = spec["template"]["spec"]["containers"]
    ports = {p["name"] for p in c["ports"]}
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {c[p]["httpGet"]["port"] for p in ("livenessProbe", "readinessProbe")} <= ports
    args = " ".join(c["args"])
    for flag in ("--factory", "--http"):  # the app, and the API's own HTTP protocol
        module, name = re.search(flag + r" (\S+)", args).group(1).split(":")
        assert callable(getattr(importlib.import_module(module), name))
    routes = (ROOT / "api" / "app.py").read_text()
    assert '"/healthz"' in routes and '"/readyz"' in routes
    service = one("Service", "allocator-api")
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()


def exported_metrics() -> set[str]:
    """Prometheus series names of every metric the code defines: Ray's (prefixed
    ``ray_``) in actors/metrics.py, the API's in api/app.py."""
    out = set()
    kinds = {"Counter": "_total", "Histogram": "_bucket", "Gauge": ""}
    for path, prefix in ((ROOT / "actors" / "metrics.py", "ray_"),
                         (ROOT / "api" / "app.py", "")):
        for kind, name in re.findall(r"\b(Counter|Histogram|Gauge)\(\s*\"(\w+)\"",
                                     path.read_text()):
            out.add(prefix + name + kinds[kind])
    return out


def test_the_dashboard_charts_every_exported_metric_and_nothing_else():
    dash = json.loads((DEPLOY / "grafana" / "allocator-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b((?:ray_)?allocator_\w+)", e)}
    exported = exported_metrics()
    assert len(exported) >= 10
    assert used == exported
    assert all(p.get("description") for p in dash["panels"])
    cells = set()
    for p in dash["panels"]:
        g = p["gridPos"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"panel {p['title']!r} overlaps another"
        assert g["x"] + g["w"] <= 24
        cells |= mine


@pytest.mark.parametrize("path", sorted(DEPLOY.rglob("*.json")), ids=lambda p: p.name)
def test_json_parses(path):
    json.loads(path.read_text())


def test_detach_needs_a_ray_cluster_and_a_redis_that_outlive_the_command(monkeypatch, capsys):
    from commands.main import main

    for var in ("RAY_ADDRESS", "REDIS_URL", "ALLOCATOR_REDIS_URL"):
        monkeypatch.delenv(var, raising=False)
    assert main(["serve", "--detach", "--redis-url", "redis://h:6379"]) == 2
    assert main(["serve", "--detach", "--address", "auto"]) == 2
    assert "--detach needs a Ray cluster" in capsys.readouterr().err

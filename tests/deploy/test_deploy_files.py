"""The deployment files check out offline: the Dockerfile is hadolint clean, deploy/compose.yaml is valid under
the Compose Specification's schema (check-jsonschema's vendored copy), and the Helm chart lints and renders with
Helm's own engine (helm-python-sdk: Helm v4 built as a library) into manifests that validate against two
Kubernetes versions' schemas (kubernetes-validate) and say what docs/deploy.md promises: /ready and /health
probes, non-root read-only containers, HPA, PDB, a pre-upgrade migration Job and Secrets.

The image itself is built and run by test_image.py (`make image-test`: podman on debootstrapped Debian bases).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
CHART = DEPLOY / "helm" / "atlas4d"
BIN = Path(sys.executable).parent
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")
VALUES = {"database": {"url": "postgresql://atlas4d:secret@postgis:5432/atlas4d"}}


def test_dockerfile_is_hadolint_clean() -> None:
    done = subprocess.run([BIN / "hadolint", DEPLOY / "Dockerfile"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr
    bad = "FROM python:latest\nRUN apt-get install curl\n"
    flagged = subprocess.run([BIN / "hadolint", "-"], input=bad, capture_output=True, text=True)
    assert flagged.returncode != 0 and "DL3007" in flagged.stdout  # the linter does lint


def test_dockerfile_runs_as_non_root_from_pinned_bases() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    images = [
        line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ARG ") and "_IMAGE=" in line
    ]
    assert images and all(":" in i and not i.endswith(":latest") for i in images), images
    assert "USER 10001:10001" in text and 'ENTRYPOINT ["atlas4d"]' in text
    assert text.count("\nFROM ") == 3  # assets, build, runtime


def _check_compose(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", path],
        capture_output=True,
        text=True,
    )


def test_compose_file_is_valid(tmp_path: Path) -> None:
    done = _check_compose(DEPLOY / "compose.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    gateway = compose["services"]["gateway"]
    assert gateway["read_only"] is True and gateway["user"] == "10001:10001"
    assert "/ready" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["depends_on"]["postgis"]["condition"] == "service_healthy"
    assert compose["services"]["nats"]["profiles"] == ["nats"]
    broken = tmp_path / "compose.yaml"
    broken.write_text(yaml.safe_dump({"services": {"gateway": {"image": "x", "ports": 4000}}}))
    assert _check_compose(broken).returncode != 0  # the schema does reject


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    from helm_python.chart import Chart

    with Chart.load(CHART) as chart:
        manifests = chart.render(values, name="atlas4d", namespace="atlas4d", is_install=True)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def test_chart_lints_strictly() -> None:
    from helm_python.chart import lint

    report = lint(CHART, VALUES, strict=True, kube_version="v1.33.0")
    assert report["total_charts_linted"] == 1
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert not problems and not report.get("errors"), report


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_manifests_validate(version: str) -> None:
    import kubernetes_validate

    docs = render(VALUES)
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(
        [
            "CronJob",
            "Deployment",
            "HorizontalPodAutoscaler",
            "Job",
            "PodDisruptionBudget",
            "Secret",
            "Secret",
            "Service",
            "ServiceAccount",
        ]
    )


def test_manifests_say_what_the_docs_promise() -> None:
    docs = {(d["kind"], d["metadata"]["name"]): d for d in render(VALUES)}
    deployment = docs[("Deployment", "atlas4d")]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    env = {e["name"]: e for e in container["env"]}
    assert env["ATLAS4D_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "atlas4d-database",
        "key": "url",
    }
    assert container["envFrom"] == [{"secretRef": {"name": "atlas4d-auth"}}]
    job = docs[("Job", "atlas4d-migrate")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "migrate"]
    cron = docs[("CronJob", "atlas4d-maintain")]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    maintain = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert maintain["containers"][0]["args"] == ["db", "maintain"]
    assert maintain["securityContext"]["runAsNonRoot"] is True
    assert "ATLAS4D_RETENTION" not in {e["name"] for e in maintain["containers"][0]["env"]}  # off by default
    kept = render({**VALUES, "maintenance": {"retention": "P90D"}})
    (kept_cron,) = [d for d in kept if d["kind"] == "CronJob"]
    env = {
        e["name"]: e.get("value")
        for e in kept_cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["ATLAS4D_RETENTION"] == "P90D"
    secret = docs[("Secret", "atlas4d-database")]
    assert secret["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"  # before the Job
    assert docs[("PodDisruptionBudget", "atlas4d")]["spec"]["minAvailable"] == 1
    # the Job's pod is not one of the Service's endpoints
    selector = docs[("Service", "atlas4d")]["spec"]["selector"]
    job_labels = job["spec"]["template"]["metadata"]["labels"]
    assert not all(job_labels.get(k) == v for k, v in selector.items())


def test_values_schema_refuses_unsafe_values() -> None:
    from helm_python.errors import HelmError

    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["properties"]["securityContext"]["properties"]["readOnlyRootFilesystem"] == {"const": True}
    writable = {
        **VALUES,
        "securityContext": {"readOnlyRootFilesystem": False, "allowPrivilegeEscalation": False},
    }
    with pytest.raises(HelmError, match="readOnlyRootFilesystem"):
        render(writable)
    with pytest.raises(HelmError, match=r"database\.url"):
        render({})
    with pytest.raises(HelmError, match="retention"):
        render({**VALUES, "maintenance": {"retention": "90 days"}})
    byo = render({"database": {"existingSecret": "db"}, "auth": {"existingSecret": "jwt"}})
    assert not [d for d in byo if d["kind"] == "Secret"]

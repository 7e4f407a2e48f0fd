"""The Kubernetes manifests: every overlay renders, validates against Kubernetes' schemas, and
agrees with the code (services, ports, variables, topics, consumers)."""

from __future__ import annotations

import copy
import json
import re

import kubernetes_validate
import pytest
from kubernetes_validate.utils import SchemaNotFoundError

from tests.deploy.truth import K8S, OVERLAYS, PAGING_PATH, of_kind, rendered, services, topics

K8S_VERSION = "1.31"
# Custom resources: no schema in kubernetes-validate; each has its own checks below.
CRD_KINDS = {"KafkaTopic", "ScaledObject", "ServiceMonitor", "PrometheusRule"}
SECRET_LIKE = re.compile(r"TOKEN|PASSWORD|DATABASE_URL|SECRET|_KEYS?$")


def deployments(objects) -> dict[str, dict]:
    """service name -> its Deployment, found by the `vigil serve <name>` it runs."""
    out = {}
    for dep in of_kind(objects, "Deployment").values():
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        args = container.get("args", [])
        assert args[:1] == ["serve"] and len(args) == 2, f"{dep['metadata']['name']} does not run `vigil serve <name>`"
        out[args[1]] = dep
    return out


def container_env(objects, container: dict) -> dict[str, object]:
    """Every variable a container gets: literal values, and secret refs as ('secret', name, key)."""
    configmaps = of_kind(objects, "ConfigMap")
    env: dict[str, object] = {}
    for source in container.get("envFrom", []):
        assert "configMapRef" in source, "envFrom only from ConfigMaps; secrets key by key"
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for item in container.get("env", []):
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = ("secret", ref["name"], ref["key"])
        else:
            env[item["name"]] = item["value"]
    return env


def pod_templates(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            yield obj["metadata"]["name"], obj["spec"]["template"]


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request):
    return request.param


@pytest.fixture(scope="module")
def objects(overlay):
    return rendered(overlay)


def test_every_overlay_renders_with_kustomize(objects):
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "NetworkPolicy", "KafkaTopic", "PrometheusRule", "Job"} <= kinds


def test_rendered_objects_validate_against_the_kubernetes_schemas(objects):
    errors = []
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except SchemaNotFoundError:
            errors.append(f"{obj['kind']} {obj['metadata']['name']}: no schema (a CRD not in CRD_KINDS?)")
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']} {obj['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_the_schema_validation_catches_a_wrong_field():
    dep = copy.deepcopy(next(iter(deployments(rendered("prod")).values())))
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)
    dep = copy.deepcopy(next(iter(deployments(rendered("prod")).values())))
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] = "/healthz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def test_the_deployed_services_are_exactly_the_services_of_the_code(objects):
    deployed = deployments(objects)
    assert set(deployed) == set(services())
    for name, dep in deployed.items():
        assert dep["metadata"]["name"] == f"vigil-{name}"
        assert dep["spec"]["template"]["spec"]["containers"][0]["name"] == name


def test_ports_probes_and_services_match_the_code(objects):
    svc_objects = of_kind(objects, "Service")
    for name, dep in deployments(objects).items():
        truth = services()[name]
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": truth.port}, name
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}, name
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}, name
        env = container_env(objects, container)
        assert env.get(truth.port_env, str(truth.port)) == str(truth.port), name
        service = svc_objects[f"vigil-{name}"]
        assert service["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
        assert [(p["name"], p["port"], p["targetPort"]) for p in service["spec"]["ports"]] == [("http", truth.port, "http")]


def test_every_variable_is_a_setting_of_its_service_and_secrets_come_from_secrets(objects):
    for name, dep in deployments(objects).items():
        truth = services()[name]
        env = container_env(objects, dep["spec"]["template"]["spec"]["containers"][0])
        unknown = {k for k in env if k.startswith("VIGIL_")} - truth.env
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of {truth.settings.__name__}"
        assert env["VIGIL_HOST"] == "0.0.0.0", name
        for key, value in env.items():
            if SECRET_LIKE.search(key):
                assert isinstance(value, tuple) and value[0] == "secret", f"{name}: {key} must come from a Secret"
        if truth.needs_postgres:
            assert isinstance(env.get("VIGIL_DATABASE_URL"), tuple), f"{name} needs VIGIL_DATABASE_URL"
    ingest_env = container_env(objects, deployments(objects)["ingest"]["spec"]["template"]["spec"]["containers"][0])
    assert isinstance(ingest_env.get("VIGIL_INGEST_TOKENS"), tuple), "ingest refuses to start without tokens"


def test_no_secret_values_are_in_the_manifests(objects):
    assert not of_kind(objects, "Secret"), "Secrets are created in the cluster, not kept in git"
    for cm in of_kind(objects, "ConfigMap").values():
        assert not any(SECRET_LIKE.search(k) for k in cm.get("data", {})), cm["metadata"]["name"]


def test_every_pod_meets_the_restricted_pod_security_standard(objects):
    (namespace,) = of_kind(objects, "Namespace").values()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for name, template in pod_templates(objects):
        spec = template["spec"]
        pod_sc = spec["securityContext"]
        assert pod_sc["runAsNonRoot"] is True and pod_sc.get("runAsUser", 1) != 0, name
        assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        assert not any("hostPath" in v for v in spec.get("volumes", [])), name
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            assert sc.get("privileged") is not True and sc.get("runAsUser", 1) != 0, name
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"], name


def test_every_deployment_has_a_disruption_budget(objects):
    pdbs = of_kind(objects, "PodDisruptionBudget").values()
    for name, dep in deployments(objects).items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        matching = [p for p in pdbs if p["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, name
        assert "maxUnavailable" in matching[0]["spec"], f"{name}: maxUnavailable works with one replica too"


def kafka_topics(objects) -> dict[str, dict]:
    return {t["spec"]["topicName"]: t for t in of_kind(objects, "KafkaTopic").values()}


def test_kafka_topics_are_the_event_contract_and_its_dead_letter_topics(objects, overlay):
    expected = set(topics()) | {f"{t}.dlq" for t in topics()}
    managed = kafka_topics(objects)
    assert set(managed) == expected
    for name, topic in managed.items():
        spec = topic["spec"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "vigil", name
        assert spec["partitions"] >= 1 and 1 <= spec["config"]["min.insync.replicas"] <= spec["replicas"], name
        assert spec["config"]["unclean.leader.election.enable"] is False, name
        if overlay == "prod":
            assert (spec["replicas"], spec["config"]["min.insync.replicas"]) == (3, 2), name
    # A topic a service has to create itself (one missing here) gets the same shape.
    common = of_kind(objects, "ConfigMap")["vigil-common"]["data"]
    for name in topics():
        spec = managed[name]["spec"]
        assert (int(common["VIGIL_TOPIC_PARTITIONS"]), int(common["VIGIL_TOPIC_REPLICATION_FACTOR"])) == \
            (spec["partitions"], spec["replicas"]), name


def test_consumers_scale_on_lag_and_the_paging_path_never_scales_to_zero(objects, overlay):
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in of_kind(objects, "ScaledObject").values()}
    hpas = {o["spec"]["scaleTargetRef"]["name"]: o for o in of_kind(objects, "HorizontalPodAutoscaler").values()}
    bootstrap = of_kind(objects, "ConfigMap")["vigil-common"]["data"]["VIGIL_KAFKA_BOOTSTRAP_SERVERS"]
    managed = kafka_topics(objects)
    for name, dep in deployments(objects).items():
        truth = services()[name]
        target = dep["metadata"]["name"]
        assert not (target in scaled and target in hpas), f"{name}: two autoscalers"
        if truth.consumed_topics:
            assert target in scaled, f"{name} consumes {sorted(truth.consumed_topics)}: scale it on lag (KEDA)"
        if target in scaled:
            so = scaled[target]["spec"]
            assert so["minReplicaCount"] >= 1, f"{name}: never to zero"
            for trigger in so["triggers"]:
                meta = trigger["metadata"]
                assert trigger["type"] == "kafka" and meta["bootstrapServers"] == bootstrap, name
                assert meta["topic"] in truth.consumed_topics, f"{name} does not consume {meta['topic']}"
                assert meta["consumerGroup"].startswith(truth.consumer_group), name
                assert so["maxReplicaCount"] <= managed[meta["topic"]]["spec"]["partitions"], f"{name}: idle consumers"
        if target in hpas:
            assert hpas[target]["spec"]["minReplicas"] >= 1, name
        if name in PAGING_PATH:
            floor = scaled[target]["spec"]["minReplicaCount"] if target in scaled else (
                hpas[target]["spec"]["minReplicas"] if target in hpas else dep["spec"]["replicas"])
            assert floor >= (2 if overlay == "prod" else 1), f"{name} is on the paging path"


def _selects(peer: dict, labels: dict) -> bool:
    return "namespaceSelector" not in peer and peer.get("podSelector", {}).get("matchLabels", {}).items() <= labels.items()


def test_network_policies_allow_only_what_each_service_needs(objects):
    policies = of_kind(objects, "NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"} and "ingress" not in deny
    dns = policies["allow-dns"]["spec"]
    assert {p["port"] for p in dns["egress"][0]["ports"]} == {53}
    deployed = deployments(objects)
    labels_of = {n: d["spec"]["template"]["metadata"]["labels"] for n, d in deployed.items()}
    for name, template in pod_templates(objects):
        assert dns["podSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items(), f"{name}: no DNS"
    for name, dep in deployed.items():
        truth = services()[name]
        own = [p["spec"] for p in policies.values() if p["metadata"]["name"] not in ("default-deny", "allow-dns")
               and p["spec"]["podSelector"].get("matchLabels", {}).items() <= labels_of[name].items()]
        assert len(own) == 1, name
        (policy,) = own
        assert {p["port"] for rule in policy["ingress"] for p in rule["ports"]} == {truth.port}, name
        egress_ports = {p["port"] for rule in policy["egress"] for p in rule["ports"]}
        assert 9092 in egress_ports, f"{name}: Kafka"
        assert (5432 in egress_ports) == truth.needs_postgres, f"{name}: Postgres only where it is used"
        # A call to another Vigil service (an http://vigil-<svc>:<port> setting) is allowed both ways.
        env = container_env(objects, dep["spec"]["template"]["spec"]["containers"][0])
        for value in env.values():
            match = isinstance(value, str) and re.fullmatch(r"http://vigil-([a-z]+):(\d+)/?", value)
            if not match:
                continue
            peer, port = match.group(1), int(match.group(2))
            assert port == services()[peer].port, f"{name} calls {peer} on the wrong port"
            assert any(_selects(t, labels_of[peer]) and port in {p["port"] for p in rule["ports"]}
                       for rule in policy["egress"] for t in rule["to"]), f"{name} may not reach {peer}"
            peer_policy = next(p["spec"] for p in policies.values() if p["metadata"]["name"] == f"vigil-{peer}")
            assert any(_selects(f, labels_of[name]) for rule in peer_policy["ingress"] for f in rule["from"]), \
                f"{peer} does not let {name} in"


def test_the_service_monitor_scrapes_every_service(objects):
    (monitor,) = of_kind(objects, "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert [(e["port"], e["path"]) for e in monitor["spec"]["endpoints"]] == [("http", "/metrics")]
    scraped = {s["metadata"]["name"] for s in of_kind(objects, "Service").values()
               if selector.items() <= s["metadata"]["labels"].items()}
    assert scraped == {f"vigil-{n}" for n in services()}


def test_the_escalator_accepts_its_configuration_file(objects):
    from services.escalator.oncall_config import load_yaml

    container = deployments(objects)["escalator"]["spec"]["template"]["spec"]["containers"][0]
    path = container_env(objects, container)["VIGIL_ESCALATOR_CONFIG_FILE"]
    directory, _, filename = path.rpartition("/")
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == directory]
    volume = next(v for v in deployments(objects)["escalator"]["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"])
    configmap = of_kind(objects, "ConfigMap")[volume["configMap"]["name"]]
    load_yaml(configmap["data"][filename], where=path)  # raises ConfigError when the escalator would refuse it


def test_the_migration_job_runs_every_migration_before_the_services(objects):
    (job,) = of_kind(objects, "Job").values()
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "/opt/vigil/libexec/migrate.py"]
    assert isinstance(container_env(objects, container)["VIGIL_DATABASE_URL"], tuple)
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never" and job["spec"]["backoffLimit"] >= 1


def test_the_grafana_dashboard_ships_in_a_configmap_for_the_sidecar(objects):
    dashboards = [c for c in of_kind(objects, "ConfigMap").values()
                  if c["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert len(dashboards) == 1
    shipped = json.loads(dashboards[0]["data"]["vigil.json"])
    assert shipped == json.loads((K8S / "base" / "dashboards" / "vigil.json").read_text())


def test_every_pod_runs_the_one_vigil_image_pinned_in_prod():
    images = {c["image"] for _, t in pod_templates(rendered("prod")) for c in t["spec"]["containers"]}
    assert len(images) == 1
    (image,) = images
    assert ":" in image and not image.endswith((":latest", ":dev")), image


def _elements(path: str) -> list[str]:
    return [e for e in path.split("/") if e]


def public_backend(routes: dict[tuple[str, str], str], path: str) -> str | None:
    """The Service an Ingress sends `path` to, by Kubernetes' rules: an Exact path first, else the
    longest Prefix whose elements ('/'-separated) begin the path's."""
    if (path, "Exact") in routes:
        return routes[(path, "Exact")]
    elements = _elements(path)
    matching = [(len(_elements(prefix)), service) for (prefix, kind), service in routes.items()
                if kind == "Prefix" and elements[:len(_elements(prefix))] == _elements(prefix)]
    return max(matching)[1] if matching else None


def test_public_backend_follows_the_ingress_path_rules():
    routes = {("/", "Prefix"): "console", ("/ack/", "Prefix"): "notifier", ("/slack/actions", "Exact"): "notifier"}
    assert public_backend(routes, "/ack/abc") == "notifier" and public_backend(routes, "/ack") == "notifier"
    assert public_backend(routes, "/acknowledge") == "console"  # element-wise, not a string prefix
    assert public_backend(routes, "/slack/actions") == "notifier" and public_backend(routes, "/slack/actions/x") == "console"
    assert public_backend({("/ack/", "Prefix"): "notifier"}, "/api/v1/x") is None


def test_the_public_host_is_the_console_and_the_notifier_one_click_paths_only(objects):
    from services.console.app import SPEC as CONSOLE
    from services.notifier import one_click
    from services.notifier.app import SPEC as NOTIFIER

    routes: dict[tuple[str, str], str] = {}
    hosts = set()
    for ingress in of_kind(objects, "Ingress").values():
        (rule,) = ingress["spec"]["rules"]
        hosts.add(rule["host"])
        assert [rule["host"]] in [t["hosts"] for t in ingress["spec"]["tls"]], ingress["metadata"]["name"]
        for path in rule["http"]["paths"]:
            assert path["backend"]["service"]["port"] == {"name": "http"}
            assert (path["path"], path["pathType"]) not in routes, f"{path['path']} routed twice"
            routes[(path["path"], path["pathType"])] = path["backend"]["service"]["name"]
    (host,) = hosts  # one public host: people's links and the console are the same site
    assert {route for route, service in routes.items() if service == "vigil-notifier"} == \
        {("/ack/", "Prefix"), ("/slack/actions", "Exact")}
    assert {route: service for route, service in routes.items() if service != "vigil-notifier"} == \
        {("/", "Prefix"): "vigil-console"}
    # Every one-click route reaches the notifier, nothing else of it does (its API stays inside)...
    one_click_paths = {route.path for route in one_click.router.routes}
    for path in {route.path for router in NOTIFIER.routers for route in router.routes} | {"/api/v1/", "/metrics"}:
        assert (public_backend(routes, path) == "vigil-notifier") == (path in one_click_paths), path
    # ...and the notifier's paths hide none of the console's.
    for path in {route.path for router in CONSOLE.routers for route in router.routes}:
        assert public_backend(routes, path) == "vigil-console", path
    # People's links and the console's own carry the public URL: this host, over TLS.
    for name, variable in (("notifier", "VIGIL_NOTIFIER_PUBLIC_URL"), ("console", "VIGIL_CONSOLE_PUBLIC_URL")):
        container = deployments(objects)[name]["spec"]["template"]["spec"]["containers"][0]
        assert container_env(objects, container)[variable] == f"https://{host}", name


def test_every_service_that_verifies_people_has_the_same_identity_keys_from_a_secret(objects):
    readers = {name for name, truth in services().items() if "VIGIL_IDENTITY_KEYS" in truth.env}
    assert "console" in readers  # the console signs; the others verify
    keys = {name: container_env(objects, dep["spec"]["template"]["spec"]["containers"][0]).get("VIGIL_IDENTITY_KEYS")
            for name, dep in deployments(objects).items() if name in readers}
    assert all(isinstance(ref, tuple) for ref in keys.values()), keys
    assert len(set(keys.values())) == 1, f"one Secret for every service: {keys}"


def test_the_console_reaches_every_peer_it_acts_through(objects):
    from services.console.config import ConsoleSettings

    env = container_env(objects, deployments(objects)["console"]["spec"]["template"]["spec"]["containers"][0])
    for peer in ConsoleSettings.model_construct().peer_urls():  # the network policies are checked above
        assert env[f"VIGIL_CONSOLE_{peer.upper()}_URL"] == f"http://vigil-{peer}:{services()[peer].port}", peer

"""The Helm chart, rendered by real Helm (its Go SDK) and checked offline.

Every manifest is validated against the Kubernetes API schemas; the assertions
are the ones an operator would check by reading `helm template` output.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "licensing"
PRODUCTION_VALUES = CHART_DIR / "ci" / "production-values.yaml"
RELEASE = "licensing"
NAMESPACE = "licensing"

# The oldest Kubernetes the chart declares (Chart.yaml kubeVersion) and a
# current one; kubernetes-validate ships the API schemas of both.
KUBERNETES_VERSIONS = ("1.29.0", "1.33.0")

# Custom resources have no schema in kubernetes-validate: they are checked by
# the tests about them instead.
CUSTOM_KINDS = {"ServiceMonitor"}

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]

HOOK_EVENTS = "pre-install,pre-upgrade"
HOOK_DELETE_POLICY = "before-hook-creation,hook-succeeded"


def read_values(path: Path) -> dict[str, Any]:
    return helm.values_from_yaml(path.read_text())


def only(manifests: list[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = [
        m
        for m in manifests
        if m["kind"] == kind and name in (None, m["metadata"]["name"])
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def pod_spec(workload: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def container(workload: Manifest) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(workload)["containers"]
    assert len(containers) == 1
    return containers[0]


def env_by_name(workload: Manifest) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container(workload).get("env", [])}


def secret_refs(workload: Manifest) -> dict[str, tuple[str, str]]:
    return {
        name: (ref["name"], ref["key"])
        for name, entry in env_by_name(workload).items()
        if (ref := entry.get("valueFrom", {}).get("secretKeyRef"))
    }


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def production_values() -> dict[str, Any]:
    return read_values(PRODUCTION_VALUES)


@pytest.fixture(scope="module")
def render(chart: helm.Chart) -> Render:
    def _render(values: dict[str, Any] | None = None) -> list[Manifest]:
        rendered = chart.render(
            values, name=RELEASE, namespace=NAMESPACE, is_install=True
        )
        manifests: list[Manifest] = []
        for template, text in sorted(rendered.items()):
            if not template.endswith(".txt"):
                manifests.extend(doc for doc in yaml.safe_load_all(text) if doc)
        return manifests

    return _render


@pytest.fixture(scope="module")
def default(render: Render) -> list[Manifest]:
    return render()


@pytest.fixture(scope="module")
def production(render: Render, production_values: dict[str, Any]) -> list[Manifest]:
    return render(production_values)


@pytest.fixture(params=["default", "production"])
def values_set(
    request: pytest.FixtureRequest, production_values: dict[str, Any]
) -> dict[str, Any] | None:
    return None if request.param == "default" else production_values


@pytest.fixture(params=["default", "production"])
def manifests(request: pytest.FixtureRequest) -> list[Manifest]:
    rendered: list[Manifest] = request.getfixturevalue(request.param)
    return rendered


class TestLintAndKubernetesSchemas:
    @pytest.mark.parametrize("kube_version", KUBERNETES_VERSIONS)
    def test_helm_lint_reports_no_warning_or_error(
        self, values_set: dict[str, Any] | None, kube_version: str
    ) -> None:
        report = helm.lint(
            CHART_DIR, values_set, strict=True, kube_version=f"v{kube_version}"
        )

        assert report["errors"] == []
        # Severity 1 is information ("icon is recommended"); 2 and 3 are
        # warnings and errors.
        assert [m for m in report["messages"] if m["severity"] >= 2] == []

    @pytest.mark.parametrize("kube_version", KUBERNETES_VERSIONS)
    def test_every_manifest_is_a_valid_kubernetes_object(
        self, manifests: list[Manifest], kube_version: str
    ) -> None:
        for manifest in manifests:
            if manifest["kind"] in CUSTOM_KINDS:
                continue
            # strict: unknown fields (a misspelt key) are errors too.
            kubernetes_validate.validate(manifest, kube_version, strict=True)

    def test_the_chart_renders_the_expected_objects(
        self, default: list[Manifest], production: list[Manifest]
    ) -> None:
        assert sorted(m["kind"] for m in default) == [
            "ConfigMap",
            "Deployment",
            "Job",
            "Secret",
            "Secret",
            "Service",
            "ServiceAccount",
        ]
        assert sorted(m["kind"] for m in production) == [
            "ConfigMap",
            "Deployment",
            "Job",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ]

    def test_every_object_carries_the_standard_labels(
        self, manifests: list[Manifest]
    ) -> None:
        for manifest in manifests:
            labels = manifest["metadata"]["labels"]
            assert labels["app.kubernetes.io/name"] == "licensing"
            assert labels["app.kubernetes.io/instance"] == RELEASE
            assert labels["app.kubernetes.io/managed-by"] == "Helm"
            assert labels["app.kubernetes.io/version"]
            assert labels["helm.sh/chart"] == "licensing-0.1.0"
            assert labels["app.kubernetes.io/component"] in {"worker", "migration"}
            assert manifest["metadata"]["namespace"] == NAMESPACE


class TestWorkerDeployment:
    def test_probes_use_livez_and_readyz_on_the_http_port(
        self, manifests: list[Manifest]
    ) -> None:
        worker = container(only(manifests, "Deployment"))

        assert worker["ports"] == [
            {"name": "http", "containerPort": 8080, "protocol": "TCP"}
        ]
        assert worker["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
        assert worker["readinessProbe"]["httpGet"] == {
            "path": "/readyz",
            "port": "http",
        }

    def test_it_runs_licensing_worker(self, manifests: list[Manifest]) -> None:
        worker = container(only(manifests, "Deployment"))

        assert worker["command"] + worker["args"] == ["licensing", "worker"]

    def test_replicas_follow_the_values(
        self, default: list[Manifest], production: list[Manifest]
    ) -> None:
        assert only(default, "Deployment")["spec"]["replicas"] == 1
        assert only(production, "Deployment")["spec"]["replicas"] == 3

    def test_settings_come_from_the_configmap(self, production: list[Manifest]) -> None:
        deployment = only(production, "Deployment")
        config_map = only(production, "ConfigMap")

        assert container(deployment)["envFrom"] == [
            {"configMapRef": {"name": config_map["metadata"]["name"]}}
        ]
        assert config_map["data"] == {
            "LICENSING_STREAM_PREFIX": "licensing",
            "LICENSING_PARTITIONS": "6",
            "LICENSING_HTTP_PORT": "8080",
            "LICENSING_LOG_FORMAT": "json",
            "LICENSING_LOG_LEVEL": "INFO",
            "LICENSING_LEASE_SECONDS": "15",
            "LICENSING_BATCH_SIZE": "500",
            "LICENSING_ACCOUNT_CACHE": "100000",
            "LICENSING_MAX_DELIVERIES": "5",
            "LICENSING_DRAIN_SECONDS": "20",
            "LICENSING_STREAM_MAXLEN": "1000000",
        }

    def test_service_links_are_off_so_no_stray_licensing_variables_appear(
        self, manifests: list[Manifest]
    ) -> None:
        for workload in (only(manifests, "Deployment"), only(manifests, "Job")):
            assert pod_spec(workload)["enableServiceLinks"] is False

    def test_grace_period_exceeds_the_drain_time(
        self, default: list[Manifest], production: list[Manifest]
    ) -> None:
        default_spec = pod_spec(only(default, "Deployment"))
        production_spec = pod_spec(only(production, "Deployment"))

        assert default_spec["terminationGracePeriodSeconds"] > 10
        assert production_spec["terminationGracePeriodSeconds"] == 45 > 20

    def test_grace_period_is_computed_from_the_drain_time(self, render: Render) -> None:
        manifests = render({"config": {"drainSeconds": 60}})

        grace = pod_spec(only(manifests, "Deployment"))["terminationGracePeriodSeconds"]
        assert grace > 60

    def test_a_grace_period_shorter_than_the_drain_time_is_refused(
        self, render: Render
    ) -> None:
        too_short = {
            "config": {"drainSeconds": 30},
            "terminationGracePeriodSeconds": 30,
        }

        with pytest.raises(helm.HelmRenderError) as refused:
            render(too_short)

        message = str(refused.value)
        assert "terminationGracePeriodSeconds (30)" in message
        assert "config.drainSeconds (30)" in message

    def test_resources_follow_the_values(self, production: list[Manifest]) -> None:
        assert container(only(production, "Deployment"))["resources"] == {
            "requests": {"cpu": "250m", "memory": "256Mi"},
            "limits": {"memory": "512Mi"},
        }

    def test_the_image_is_the_app_version_unless_pinned(
        self, render: Render, default: list[Manifest]
    ) -> None:
        digest = "sha256:" + "a" * 64
        pinned = render({"image": {"repository": "r.example/l", "digest": digest}})

        assert container(only(default, "Deployment"))["image"] == (
            "licensing-service:0.1.0"
        )
        for workload in (only(pinned, "Deployment"), only(pinned, "Job")):
            assert container(workload)["image"] == f"r.example/l@{digest}"


class TestSecurityContext:
    @pytest.mark.parametrize("kind", ["Deployment", "Job"])
    def test_pods_run_as_a_non_root_user_under_runtime_default_seccomp(
        self, manifests: list[Manifest], kind: str
    ) -> None:
        spec = pod_spec(only(manifests, kind))

        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == 10001
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False

    @pytest.mark.parametrize("kind", ["Deployment", "Job"])
    def test_containers_are_locked_down(
        self, manifests: list[Manifest], kind: str
    ) -> None:
        context = container(only(manifests, kind))["securityContext"]

        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == 10001
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}

    @pytest.mark.parametrize("kind", ["Deployment", "Job"])
    def test_only_tmp_is_writable(self, manifests: list[Manifest], kind: str) -> None:
        workload = only(manifests, kind)

        assert container(workload)["volumeMounts"] == [
            {"name": "tmp", "mountPath": "/tmp"}
        ]
        (volume,) = pod_spec(workload)["volumes"]
        assert volume["name"] == "tmp"
        assert "emptyDir" in volume

    def test_the_service_account_mounts_no_token(
        self, manifests: list[Manifest]
    ) -> None:
        account = only(manifests, "ServiceAccount")

        assert account["automountServiceAccountToken"] is False
        deployment = only(manifests, "Deployment")
        assert (
            pod_spec(deployment)["serviceAccountName"] == (account["metadata"]["name"])
        )


class TestMigrationJob:
    def test_it_is_a_pre_install_and_pre_upgrade_hook(
        self, manifests: list[Manifest]
    ) -> None:
        annotations = only(manifests, "Job")["metadata"]["annotations"]

        assert annotations["helm.sh/hook"] == HOOK_EVENTS
        assert annotations["helm.sh/hook-delete-policy"] == HOOK_DELETE_POLICY

    def test_it_runs_licensing_migrate_once(self, manifests: list[Manifest]) -> None:
        job = only(manifests, "Job")
        migrate = container(job)

        assert migrate["command"] + migrate["args"] == ["licensing", "migrate"]
        assert pod_spec(job)["restartPolicy"] == "Never"

    def test_it_gets_the_workers_settings_inline(
        self, manifests: list[Manifest]
    ) -> None:
        # The ConfigMap does not exist yet when a pre-install hook runs.
        config = only(manifests, "ConfigMap")["data"]
        env = env_by_name(only(manifests, "Job"))

        inline = {name: e["value"] for name, e in env.items() if "value" in e}
        assert inline == config
        assert "envFrom" not in container(only(manifests, "Job"))

    def test_it_uses_the_same_image_and_urls_as_the_worker(
        self, manifests: list[Manifest]
    ) -> None:
        job = only(manifests, "Job")
        deployment = only(manifests, "Deployment")

        assert container(job)["image"] == container(deployment)["image"]
        assert (
            secret_refs(job).keys()
            == secret_refs(deployment).keys()
            == {
                "LICENSING_DATABASE_URL",
                "LICENSING_REDIS_URL",
            }
        )

    def test_its_pods_are_not_selected_as_workers(
        self, production: list[Manifest]
    ) -> None:
        job_pod_labels = only(production, "Job")["spec"]["template"]["metadata"][
            "labels"
        ]
        selectors = [
            only(production, "Service")["spec"]["selector"],
            only(production, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
            only(production, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"],
        ]

        assert not any(selects(s, job_pod_labels) for s in selectors)

    def test_it_can_be_turned_off(self, render: Render) -> None:
        manifests = render({"migration": {"enabled": False}})

        assert of_kind(manifests, "Job") == []
        assert [s["metadata"]["name"] for s in of_kind(manifests, "Secret")] == [
            "licensing"
        ]

    def test_it_uses_an_existing_service_account_but_not_a_chart_made_one(
        self, render: Render, default: list[Manifest]
    ) -> None:
        # A pre-install hook runs before the chart's ServiceAccount exists.
        existing = render(
            {"serviceAccount": {"create": False, "name": "licensing-identity"}}
        )

        assert pod_spec(only(default, "Job"))["serviceAccountName"] == "default"
        for kind in ("Job", "Deployment"):
            assert pod_spec(only(existing, kind))["serviceAccountName"] == (
                "licensing-identity"
            )
        assert of_kind(existing, "ServiceAccount") == []


class TestSecrets:
    def test_the_chart_makes_a_secret_with_both_urls_by_default(
        self, default: list[Manifest]
    ) -> None:
        secret = only(default, "Secret", "licensing")

        decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert decoded == {
            "database-url": "postgresql://licensing@postgresql:5432/licensing",
            "redis-url": "redis://redis:6379/0",
        }
        assert "helm.sh/hook" not in secret["metadata"].get("annotations", {})
        assert secret_refs(only(default, "Deployment")) == {
            "LICENSING_DATABASE_URL": ("licensing", "database-url"),
            "LICENSING_REDIS_URL": ("licensing", "redis-url"),
        }

    def test_the_migration_reads_a_hook_made_copy_created_before_it(
        self, default: list[Manifest]
    ) -> None:
        job = only(default, "Job")
        copy = only(default, "Secret", "licensing-migrate")
        annotations = copy["metadata"]["annotations"]

        assert copy["data"] == only(default, "Secret", "licensing")["data"]
        assert annotations["helm.sh/hook"] == HOOK_EVENTS
        assert annotations["helm.sh/hook-delete-policy"] == HOOK_DELETE_POLICY
        assert int(annotations["helm.sh/hook-weight"]) < int(
            job["metadata"]["annotations"]["helm.sh/hook-weight"]
        )
        assert secret_refs(job) == {
            "LICENSING_DATABASE_URL": ("licensing-migrate", "database-url"),
            "LICENSING_REDIS_URL": ("licensing-migrate", "redis-url"),
        }

    def test_an_existing_secret_is_referenced_with_its_own_keys(
        self, production: list[Manifest]
    ) -> None:
        expected = {
            "LICENSING_DATABASE_URL": (
                "licensing-connection",
                "LICENSING_DATABASE_URL",
            ),
            "LICENSING_REDIS_URL": ("licensing-connection", "LICENSING_REDIS_URL"),
        }

        assert of_kind(production, "Secret") == []
        assert secret_refs(only(production, "Deployment")) == expected
        assert secret_refs(only(production, "Job")) == expected

    def test_urls_never_appear_in_plain_environment_values(
        self, manifests: list[Manifest]
    ) -> None:
        for kind in ("Deployment", "Job"):
            env = env_by_name(only(manifests, kind))
            for name in ("LICENSING_DATABASE_URL", "LICENSING_REDIS_URL"):
                assert "value" not in env[name]

    def test_urls_are_required_without_an_existing_secret(
        self, chart: helm.Chart
    ) -> None:
        with pytest.raises(helm.HelmValuesError, match="/secrets/databaseUrl"):
            chart.validate_schema({"secrets": {"databaseUrl": ""}})


class TestRollingOnConfigChange:
    @staticmethod
    def annotations(manifests: list[Manifest]) -> dict[str, str]:
        template = only(manifests, "Deployment")["spec"]["template"]
        found: dict[str, str] = template["metadata"]["annotations"]
        return found

    def test_a_changed_setting_changes_the_config_checksum(
        self, render: Render, default: list[Manifest]
    ) -> None:
        debug = render({"config": {"logLevel": "DEBUG"}})

        assert (
            self.annotations(debug)["checksum/config"]
            != (self.annotations(default)["checksum/config"])
        )
        assert (
            self.annotations(debug)["checksum/secret"]
            == (self.annotations(default)["checksum/secret"])
        )

    def test_a_changed_url_changes_the_secret_checksum(
        self, render: Render, default: list[Manifest]
    ) -> None:
        moved = render({"secrets": {"redisUrl": "redis://redis-2:6379/0"}})

        assert (
            self.annotations(moved)["checksum/secret"]
            != (self.annotations(default)["checksum/secret"])
        )
        assert (
            self.annotations(moved)["checksum/config"]
            == (self.annotations(default)["checksum/config"])
        )

    def test_scaling_does_not_roll_the_pods(
        self, render: Render, default: list[Manifest]
    ) -> None:
        scaled = render({"replicaCount": 2})

        assert self.annotations(scaled) == self.annotations(default)

    def test_an_existing_secret_has_no_checksum_to_follow(
        self, production: list[Manifest]
    ) -> None:
        annotations = self.annotations(production)

        assert "checksum/config" in annotations
        assert "checksum/secret" not in annotations


class TestServiceAndDisruptionBudget:
    def test_the_service_exposes_the_http_port_of_the_workers(
        self, manifests: list[Manifest]
    ) -> None:
        service = only(manifests, "Service")
        pod_labels = only(manifests, "Deployment")["spec"]["template"]["metadata"][
            "labels"
        ]

        assert service["spec"]["ports"] == [
            {"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}
        ]
        assert selects(service["spec"]["selector"], pod_labels)

    def test_no_budget_for_a_single_replica(self, default: list[Manifest]) -> None:
        assert of_kind(default, "PodDisruptionBudget") == []

    def test_a_budget_protects_several_replicas(
        self, production: list[Manifest]
    ) -> None:
        budget = only(production, "PodDisruptionBudget")
        pod_labels = only(production, "Deployment")["spec"]["template"]["metadata"][
            "labels"
        ]

        assert budget["spec"]["maxUnavailable"] == 1
        assert selects(budget["spec"]["selector"]["matchLabels"], pod_labels)

    def test_the_budget_can_be_turned_off(self, render: Render) -> None:
        manifests = render(
            {"replicaCount": 3, "podDisruptionBudget": {"enabled": False}}
        )

        assert of_kind(manifests, "PodDisruptionBudget") == []


class TestOptionalObjects:
    def test_service_monitor_and_network_policy_are_off_by_default(
        self, default: list[Manifest]
    ) -> None:
        assert of_kind(default, "ServiceMonitor") == []
        assert of_kind(default, "NetworkPolicy") == []

    def test_the_service_monitor_scrapes_metrics_of_the_service(
        self, production: list[Manifest]
    ) -> None:
        monitor = only(production, "ServiceMonitor")
        service = only(production, "Service")

        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert selects(
            monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"]
        )
        assert monitor["spec"]["endpoints"] == [
            {
                "port": "http",
                "path": "/metrics",
                "interval": "15s",
                "scrapeTimeout": "5s",
            }
        ]
        assert monitor["spec"]["endpoints"][0]["port"] in {
            p["name"] for p in service["spec"]["ports"]
        }

    def test_the_network_policy_allows_only_what_the_worker_needs(
        self, production: list[Manifest]
    ) -> None:
        policy = only(production, "NetworkPolicy")["spec"]
        pod_labels = only(production, "Deployment")["spec"]["template"]["metadata"][
            "labels"
        ]

        assert selects(policy["podSelector"]["matchLabels"], pod_labels)
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        (ingress,) = policy["ingress"]
        assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
        assert ingress["from"][0]["namespaceSelector"]["matchLabels"] == {
            "kubernetes.io/metadata.name": "monitoring"
        }
        egress = {
            (port["port"], port["protocol"]): rule.get("to")
            for rule in policy["egress"]
            for port in rule["ports"]
        }
        assert set(egress) == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (6379, "TCP")}
        assert egress[(5432, "TCP")] == [{"ipBlock": {"cidr": "10.40.0.0/24"}}]
        assert egress[(6379, "TCP")] == [
            {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "redis"}}}
        ]

    def test_network_policy_peers_left_empty_allow_any_destination(
        self, render: Render
    ) -> None:
        manifests = render({"networkPolicy": {"enabled": True}})

        policy = only(manifests, "NetworkPolicy")["spec"]
        assert all("to" not in rule for rule in policy["egress"])
        assert "from" not in policy["ingress"][0]


class TestNotes:
    @staticmethod
    def notes(chart: helm.Chart, values: dict[str, Any] | None = None) -> str:
        rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE)
        return rendered["licensing/templates/NOTES.txt"]

    def test_they_warn_when_replicas_exceed_partitions(self, chart: helm.Chart) -> None:
        notes = self.notes(chart, {"replicaCount": 4, "config": {"partitions": 2}})

        assert "WARNING: replicaCount (4) is above config.partitions (2)" in notes

    def test_they_do_not_warn_when_partitions_suffice(
        self, chart: helm.Chart, production_values: dict[str, Any]
    ) -> None:
        notes = self.notes(chart, production_values)

        assert "WARNING" not in notes
        assert "3 worker(s) share 6 partition(s)" in notes


class TestServiceAcceptsTheSettings:
    def test_every_variable_the_chart_sets_is_a_setting_the_service_reads(
        self, manifests: list[Manifest]
    ) -> None:
        from licensing.settings import Settings

        known = {f"LICENSING_{name.upper()}" for name in Settings.__dataclass_fields__}
        config = only(manifests, "ConfigMap")["data"]
        for kind in ("Deployment", "Job"):
            set_by_chart = config.keys() | env_by_name(only(manifests, kind)).keys()
            assert set_by_chart <= known, set_by_chart - known

    def test_the_service_accepts_the_rendered_settings(
        self, manifests: list[Manifest]
    ) -> None:
        from licensing.settings import Settings

        environ = {
            **only(manifests, "ConfigMap")["data"],
            "LICENSING_DATABASE_URL": "postgresql://licensing@db:5432/licensing",
            "LICENSING_REDIS_URL": "redis://redis:6379/0",
        }

        settings = Settings.from_env(environ)

        assert settings.partitions == int(environ["LICENSING_PARTITIONS"])
        assert settings.drain_seconds == float(environ["LICENSING_DRAIN_SECONDS"])

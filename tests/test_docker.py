"""The Docker image, built and run on a real Docker engine.

One image per session (module fixture): built from this checkout with
``docker build --network host --build-arg TORCH_INDEX=$TORCH_INDEX`` under a unique tag,
run with ``--network host``, a free ``OPTLAB_PORT`` and a named volume on ``/data``.
Skipped when no Docker daemon is reachable; ``OPTLAB_REQUIRE_DOCKER=1`` (CI) makes that
a failure. Containers, the volume and the tag are always removed; the layers below the
tag stay as the build cache, so the next session rebuilds only what changed
(``docker image prune`` reclaims them). On a machine without a registry,
``eval "$(../shared/tools/docker-local.sh up)"`` provides the engine (see that script's header).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests import browser as browser_harness

pytestmark = [pytest.mark.docker, pytest.mark.timeout(3600)]

REQUIRE_ENV = "OPTLAB_REQUIRE_DOCKER"
REPO_ROOT = browser_harness.REPO_ROOT
BUILD_TIMEOUT = 3000  # a cold build on vfs storage and 2 shared cores takes minutes
HEALTH_TIMEOUT = 240  # the HEALTHCHECK's start period is 120 s, its interval 10 s
EXAMPLE = "examples/sgdm_vs_adam.json"
SESSION = uuid.uuid4().hex[:10]


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    """``docker args…``; output captured as text, a failure shows its stderr."""
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited with {proc.returncode}:\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc


def docker_missing_reason() -> str | None:
    """Why the Docker tests cannot run here, or None when they can."""
    if shutil.which("docker") is None:
        return "the docker command is not installed"
    try:
        proc = docker("info", "--format", "{{.ServerVersion}}", timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if proc.returncode != 0 or not proc.stdout.strip():
        lines = (proc.stderr or proc.stdout).strip().splitlines()
        return f"no Docker daemon reachable ({lines[-1] if lines else 'docker info failed'})"
    return None


def _require_docker() -> None:
    reason = docker_missing_reason()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"Docker tests required ({REQUIRE_ENV}=1) but {reason}")
    pytest.skip(f"Docker tests skipped: {reason}")


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """This checkout's image under a unique tag; the tag is removed at the end."""
    _require_docker()
    tag = f"optlab-test:{SESSION}"
    args = ["build", "--network", "host", "--force-rm", "-t", tag]
    if os.environ.get("TORCH_INDEX"):
        args += ["--build-arg", f"TORCH_INDEX={os.environ['TORCH_INDEX']}"]
    try:
        with tempfile.TemporaryFile(mode="w+") as log:
            proc = subprocess.run(
                ["docker", *args, str(REPO_ROOT)],
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=BUILD_TIMEOUT,
                check=False,
            )
            if proc.returncode != 0:
                log.seek(0)
                pytest.fail(f"docker build failed ({proc.returncode}):\n{log.read()[-6000:]}")
        yield tag
    finally:
        # the tag only: its parent layers stay as the build cache of the next session
        docker("image", "rm", "--no-prune", tag, check=False)


@pytest.fixture(scope="module")
def volume(image: str) -> Iterator[str]:
    """A named volume for ``/data`` (OPTLAB_HOME), shared by the containers of this module."""
    name = f"optlab-test-{SESSION}"
    docker("volume", "create", name)
    try:
        yield name
    finally:
        docker("volume", "rm", "-f", name, check=False)


@dataclass
class Container:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def exec(self, *cmd: str, workdir: str | None = None, timeout: float = 300) -> str:
        """Run ``cmd`` in the container (as the image's user); its stdout."""
        where = ["-w", workdir] if workdir else []
        return docker("exec", *where, self.name, *cmd, timeout=timeout).stdout

    def health(self) -> str:
        fmt = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}"
        return docker("inspect", "--format", fmt, self.name).stdout.strip()

    def logs(self) -> str:
        proc = docker("logs", "--tail", "60", self.name, check=False)
        return proc.stdout + proc.stderr


@contextlib.contextmanager
def running(image: str, volume: str) -> Iterator[Container]:
    """A container of ``image`` on the host network with ``volume`` on /data, once Docker's
    own health check says ``healthy``; removed on exit."""
    port = browser_harness.free_port()
    c = Container(name=f"optlab-test-{SESSION}-{uuid.uuid4().hex[:6]}", port=port)
    docker(
        "run", "-d", "--name", c.name, "--network", "host",
        "-e", f"OPTLAB_PORT={port}", "-v", f"{volume}:/data", image,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        state = c.health()
        while state != "running healthy":
            if not state.startswith("running") or state.endswith("unhealthy"):
                raise AssertionError(f"container {state!r}; its log:\n{c.logs()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not healthy after {HEALTH_TIMEOUT} s ({state!r}); its log:\n{c.logs()}"
                )
            time.sleep(1)
            state = c.health()
        yield c
    finally:
        docker("rm", "-f", "-v", c.name, check=False)


@pytest.fixture(scope="module")
def server(image: str, volume: str) -> Iterator[Container]:
    """The first container; the last test of this module removes it on purpose."""
    with running(image, volume) as c:
        yield c


def test_dashboard_loads_in_chromium(server: Container, page: Any) -> None:
    """Healthy by Docker's own check on the OPTLAB_PORT it was given; a real page load."""
    from playwright.sync_api import expect

    page.goto(server.url)
    expect(page.get_by_role("button", name="Run").first).to_be_visible(timeout=60_000)
    assert "optlab" in page.title()
    page.get_by_role("link", name="Training").click()
    expect(page.get_by_text("Trains on:").first).to_be_visible(timeout=60_000)  # torch loaded
    assert page.locator("[data-testid='stException']").count() == 0


def test_server_runs_as_non_root(server: Container) -> None:
    status = server.exec("cat", "/proc/1/status")
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    cmdline = server.exec("cat", "/proc/1/cmdline").replace("\0", " ")
    assert "streamlit run app.py" in cmdline, cmdline
    assert uid != "0", status
    assert server.exec("id", "-u").strip() == uid  # `docker exec` runs as the same user


def test_bundled_cifar_sample_is_in_the_image(server: Container) -> None:
    out = server.exec(
        "python", "-c",
        "from problems.cifar10_cnn.data import load_cifar10; d = load_cifar10(); "
        "print(len(d.train_y), len(d.test_y), d.source)",
        workdir="/",  # the editable install imports from any folder
    )  # fmt: skip
    assert out.split()[:2] == ["5085", "1017"], out


def test_cli_run_is_kept_in_the_volume(image: str, volume: str, server: Container) -> None:
    """``python -m optlab run`` in one container; a new container on the same volume lists it.

    Last in this module: it removes the shared container.
    """
    result = json.loads(server.exec("python", "-m", "optlab", "run", "--quiet", EXAMPLE))
    assert [r["status"] for r in result["runs"]] == ["finished", "finished"], result
    exp_id = result["id"]
    docker("rm", "-f", server.name)

    with running(image, volume) as second:
        rows = json.loads(second.exec("python", "-m", "optlab", "runs", "--json"))
        assert exp_id in [r["id"] for r in rows], rows
        listing = second.exec("python", "-m", "optlab", "runs")
        assert exp_id in listing

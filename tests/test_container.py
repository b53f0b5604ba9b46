"""The container: the Dockerfile builds, the image runs `digest serve` as a user who is not
root and its HEALTHCHECK turns healthy; compose.yaml brings up PostgreSQL, serve, schedule
and the SMTP sink, serves the form and delivers to the sink. Where Docker does not run (no
daemon, or no way to get the base images) every test here skips and says why.

The image is built from a wheelhouse made on this machine (`pip wheel`), with the Dockerfile's
offline build arguments, so the build needs no network inside the container.
DIGEST_TEST_PYTHON_IMAGE names another base than python:3.11-slim (a local Debian image with
python3 and python3-venv, say, where no registry is reachable)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow

PYTHON_IMAGE = os.environ.get("DIGEST_TEST_PYTHON_IMAGE", "python:3.11-slim")
# What the build context needs; the rest of the clone stays out, as .dockerignore keeps it.
CONTEXT = [
    "pyproject.toml",
    "README.md",
    "Dockerfile",
    ".dockerignore",
    "compose.yaml",
    "digest",
    "templates",
]
CONTEXT += ["samples", "examples/compose"]
OFFLINE = ["--build-arg", "PIP_NO_INDEX=1", "--build-arg", "PIP_FIND_LINKS=/src/wheelhouse"]


def docker(*args: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, **kw)
    if check:
        assert result.returncode == 0, f"docker {' '.join(args)}: {result.stdout}\n{result.stderr}"
    return result


def have_image(name: str) -> bool:
    if docker("image", "inspect", name, check=False).returncode == 0:
        return True
    return docker("pull", name, check=False, timeout=300).returncode == 0


@pytest.fixture(scope="module")
def docker_daemon() -> None:
    if shutil.which("docker") is None:
        pytest.skip("the docker client is not installed")
    info = docker("info", check=False, timeout=60)
    if info.returncode != 0:
        pytest.skip(f"no Docker daemon answers ({info.stderr.strip().splitlines()[-1:]}); start dockerd")
    if not have_image(PYTHON_IMAGE):
        pytest.skip(
            f"the base image {PYTHON_IMAGE} is not here and cannot be pulled (no registry?); "
            "set DIGEST_TEST_PYTHON_IMAGE to a local image with python3 and python3-venv"
        )


@pytest.fixture(scope="module")
def context(docker_daemon, tmp_path_factory) -> Path:
    """The build context: the project's files and a wheelhouse with every wheel it needs."""
    ctx = tmp_path_factory.mktemp("context")
    for name in CONTEXT:
        source, target = ROOT / name, ctx / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    wheelhouse = ctx / "wheelhouse"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    for args in (
        [*pip, "wheel", "--wheel-dir", str(wheelhouse), f"{ROOT}[postgres]"],
        [*pip, "download", "--dest", str(wheelhouse), "--only-binary=:all:", "setuptools>=77"],
    ):
        made = subprocess.run(args, capture_output=True, text=True, timeout=600)
        assert made.returncode == 0, made.stderr
    return ctx


@pytest.fixture(scope="module")
def image(context) -> str:
    tag = f"digest-test:{uuid.uuid4().hex[:8]}"
    docker(
        "build", "--quiet", "-t", tag, "--build-arg", f"PYTHON_IMAGE={PYTHON_IMAGE}", *OFFLINE, str(context)
    )
    yield tag
    docker("image", "rm", "-f", tag, check=False)


def wait_for(what: str, ready, timeout: float = 180):
    """Poll `ready()` until it returns something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := ready():
            return value
        time.sleep(1)
    pytest.fail(f"{what}: not ready after {timeout:.0f} s")


def http_get(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except OSError:
        return None


def test_the_image_serves_the_form_as_a_user_who_is_not_root_and_turns_healthy(image, tmp_path, cli):
    config = tmp_path / "config"
    assert cli("init", "config", cwd=tmp_path).returncode == 0
    # The config folder is mounted read-only: what digest writes goes to data/.
    yaml_text = (config / "digest.yaml").read_text()
    yaml_text = yaml_text.replace("state: .digest/state.db", "state: /srv/digest/data/state.db")
    (config / "digest.yaml").write_text(
        yaml_text.replace("archive: archive", "archive: /srv/digest/data/archive")
    )
    name = f"digest-test-{uuid.uuid4().hex[:8]}"
    docker(
        "run", "--detach", "--name", name, "--publish", "127.0.0.1::8000",
        "--health-interval", "2s",  # the image's check, asked more often than in production
        "--env", f"DIGEST_SECRET={secrets.token_urlsafe(32)}",
        "--volume", f"{config}:/srv/digest/config:ro",
        image,
    )  # fmt: skip
    try:
        port = docker("port", name, "8000").stdout.strip().rsplit(":", 1)[1]
        status, page = wait_for("GET /subscribe", lambda: http_get(f"http://127.0.0.1:{port}/subscribe"))
        assert status == 200 and "<form" in page

        def healthy():
            state = json.loads(docker("inspect", "--format", "{{json .State.Health}}", name).stdout)
            return state["Status"] == "healthy" and state

        assert wait_for("the HEALTHCHECK", healthy)["FailingStreak"] == 0
        assert docker("exec", name, "id", "-u").stdout.strip() not in ("", "0")
        # The image's config folder is read-only and data/ is the digest user's.
        assert docker("exec", name, "test", "-w", "/srv/digest/data", check=False).returncode == 0
    finally:
        logs = docker("logs", name, check=False).stderr
        docker("rm", "--force", name, check=False)
    assert "Traceback" not in logs, logs


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def compose_command() -> list[str]:
    if docker("compose", "version", check=False).returncode == 0:
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    pytest.skip("neither `docker compose` nor docker-compose is installed")


def test_compose_serves_the_form_and_sends_to_the_smtp_sink(image, context):
    compose = compose_command()
    images = {
        "POSTGRES_IMAGE": os.environ.get("DIGEST_TEST_POSTGRES_IMAGE", "postgres:16"),
        "MAILPIT_IMAGE": os.environ.get("DIGEST_TEST_MAILPIT_IMAGE", "axllent/mailpit:v1.21"),
    }
    for needed in images.values():
        if not have_image(needed):
            pytest.skip(
                f"the image {needed} is not here and cannot be pulled (no registry?); "
                "DIGEST_TEST_POSTGRES_IMAGE and DIGEST_TEST_MAILPIT_IMAGE name others"
            )
    web, mail = free_port(), free_port()
    env = {
        **os.environ,
        **images,
        "DIGEST_IMAGE": image,  # the image built above: compose does not build again
        "DIGEST_SECRET": secrets.token_urlsafe(32),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "COMPOSE_PROJECT_NAME": f"digesttest{uuid.uuid4().hex[:8]}",
        "DIGEST_PORT": str(web),
        "MAILPIT_PORT": str(mail),
    }

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*compose, *args], cwd=context, env=env, capture_output=True, text=True, timeout=600
        )
        if check:
            assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
        return result

    try:
        run("up", "--detach", "--no-build")
        form = wait_for("GET /subscribe", lambda: http_get(f"http://127.0.0.1:{web}/subscribe"))
        assert form[0] == 200 and "<form" in form[1]
        run("exec", "-T", "serve", "digest", "subscribe", "reader@example.org", "--confirmed")
        sent = run("exec", "-T", "serve", "digest", "send")
        assert "sent 1" in sent.stdout, sent.stdout + sent.stderr

        def delivered():
            listed = http_get(f"http://127.0.0.1:{mail}/api/v1/messages")
            return listed and json.loads(listed[1])

        messages = wait_for("the message in the SMTP sink", delivered)["messages"]
        assert [m["To"][0]["Address"] for m in messages] == ["reader@example.org"]
        assert run("ps", "--services", "--filter", "status=running").stdout.split().count("schedule") == 1
    finally:
        run("down", "--volumes", "--remove-orphans", check=False)

"""`make deploy` / `make rollback` hand the release tag to `docker stack deploy`."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from stackfile import ROOT

FAKE_DOCKER = """#!/bin/sh
# Records what `docker stack deploy` was asked to do, and with which variables.
{{
  echo "argv=$*"
  echo "CTH_IMAGE_TAG=$CTH_IMAGE_TAG"
  echo "CTH_SPLIT_ROUTED=$CTH_SPLIT_ROUTED"
  echo "CTH_APP_REPLICAS=$CTH_APP_REPLICAS"
  echo "CTH_PROJECT_REPLICAS=$CTH_PROJECT_REPLICAS"
}} >> "{log}"
"""


def make(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "CTH_"))}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def fake_docker(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "docker.log"
    docker = tmp_path / "docker"
    docker.write_text(FAKE_DOCKER.format(log=log))
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    return docker, log


@pytest.mark.parametrize(("target", "tag"), [("deploy", "1.2.3"), ("rollback", "1.2.2")])
def test_dry_run_shows_the_tag_reaching_docker_stack_deploy(target: str, tag: str) -> None:
    result = make("-n", target, f"TAG={tag}")

    assert result.returncode == 0, result.stderr
    command = next(line for line in result.stdout.splitlines() if "docker stack deploy" in line)
    assert f"CTH_IMAGE_TAG={tag} docker stack deploy --with-registry-auth" in command
    assert "-c deploy/stack.yml cloudtaskhub" in command


def test_deploy_then_rollback_passes_each_tag_and_records_the_previous_one(
    tmp_path: Path, fake_docker: tuple[Path, Path]
) -> None:
    docker, log = fake_docker
    env_file = tmp_path / "server.env"
    env_file.write_text("CTH_SHAPE=split\nCTH_PROJECT_REPLICAS=4\n")

    deployed = make("deploy", "TAG=1.2.3", f"DOCKER={docker}", f"ENV_FILE={env_file}")
    rolled_back = make("rollback", "TAG=1.2.2", f"DOCKER={docker}", f"ENV_FILE={env_file}")

    assert deployed.returncode == 0, deployed.stderr
    assert rolled_back.returncode == 0, rolled_back.stderr
    calls = log.read_text().split("argv=")[1:]
    assert [call.splitlines()[1] for call in calls] == [
        "CTH_IMAGE_TAG=1.2.3",
        "CTH_IMAGE_TAG=1.2.2",
    ]
    assert all(call.startswith("stack deploy --with-registry-auth") for call in calls)
    assert "CTH_SPLIT_ROUTED=true" in calls[0]
    assert "CTH_APP_REPLICAS=0" in calls[0]
    assert "CTH_PROJECT_REPLICAS=4" in calls[0]
    recorded = env_file.read_text().splitlines()
    assert "CTH_IMAGE_TAG=1.2.2" in recorded
    assert "CTH_PREVIOUS_IMAGE_TAG=1.2.3" in recorded


def test_shape_on_the_command_line_overrides_the_env_file(
    tmp_path: Path, fake_docker: tuple[Path, Path]
) -> None:
    docker, log = fake_docker
    env_file = tmp_path / "server.env"
    env_file.write_text("CTH_SHAPE=split\n")

    result = make("deploy", "TAG=1.2.3", "SHAPE=allinone", f"DOCKER={docker}", f"ENV_FILE={env_file}")

    assert result.returncode == 0, result.stderr
    assert "CTH_SPLIT_ROUTED=false" in log.read_text()
    assert "CTH_PROJECT_REPLICAS=0" in log.read_text()


@pytest.mark.parametrize("tag", ["", "latest", "1.2.3;rm"])
def test_deploy_refuses_a_missing_latest_or_malformed_tag(
    tag: str, tmp_path: Path, fake_docker: tuple[Path, Path]
) -> None:
    docker, log = fake_docker
    env_file = tmp_path / "server.env"

    result = make("deploy", f"TAG={tag}", f"DOCKER={docker}", f"ENV_FILE={env_file}")

    assert result.returncode != 0
    assert not log.exists()
    assert not env_file.exists()

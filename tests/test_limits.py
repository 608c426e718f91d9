"""GitHub's limits on a committed workflow are rules of the settings: a stack past one is refused
before anything is registered, naming the limit and what to do; a stack within them renders
files GitHub runs as written."""

from __future__ import annotations

from typing import Any

import pytest

from components.config import ConfigError
from components.workflow_render import render, render_pull_requests
from components.workflow_render.limits import MAX_ENV, MAX_FILE, MAX_JOBS, MAX_NAME, limit_problems
from components.workflow_render.table import rows, table
from tests.conftest import SECRET_KEYS, config, encode, settings_for
from tools.mock_engine import RecordingMonitor, run_program

TWO = ["linux/amd64", "linux/arm64"]


def images(count: int, **image: Any) -> list[dict[str, Any]]:
    return [{"name": f"service-{n:03}", **image} for n in range(count)]


def refused(**overrides: Any) -> list[str]:
    with pytest.raises(ConfigError) as error:
        settings_for(**overrides)
    return error.value.problems


def test_a_stack_of_256_builds_is_accepted_and_of_257_refused_naming_the_limit_and_the_way_out() -> None:
    accepted = settings_for(images=[*images(127, platforms=TWO), {"name": "odd", "platforms": TWO}])
    assert len(rows(accepted)) == MAX_JOBS
    (problem,) = refused(images=[*images(128, platforms=TWO), {"name": "odd"}])
    assert problem == (
        "acr-pipeline:images: 129 images make 257 builds (one per image and platform), and GitHub runs at "
        "most 256 jobs of one matrix: split the images over two stacks (each with its own workflow.path), or "
        "set workflow.emulate: true (one job per image)"
    )


def test_emulated_images_are_one_build_each_so_the_same_images_fit() -> None:
    emulated = settings_for(images=images(200, platforms=TWO), workflow={"emulate": True})
    assert len(rows(emulated)) == 200


def test_a_job_name_of_100_characters_is_accepted_and_of_101_refused_once_per_image() -> None:
    suffix = len("-build-and-push (linux/amd64)")
    settings_for(images=[{"name": "a" * (MAX_NAME - suffix)}])
    (problem,) = refused(images=[{"name": "a" * (MAX_NAME - suffix + 1), "platforms": TWO}])
    name = "a" * (MAX_NAME - suffix + 1)
    job = f"{name}-build-and-push (linux/"
    assert problem.startswith(f"acr-pipeline:images[0].name = '{name}': its job '{job}")
    assert "has 101 characters, and GitHub cuts a job's name past 100" in problem


def test_an_emulated_image_of_many_platforms_has_one_job_named_after_all_of_them() -> None:
    platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/s390x", "linux/ppc64le"]
    name = "n" * 30
    settings_for(images=[{"name": name, "platforms": platforms}])
    (problem,) = refused(images=[{"name": name, "platforms": platforms}], workflow={"emulate": True})
    assert f"its job '{name}-build-and-push (linux/amd64, linux/arm64, linux/arm/v7, " in problem


def test_a_table_the_runner_could_not_hand_a_step_is_refused() -> None:
    arguments = {f"ARG_{n}": "x" * 1000 for n in range(140)}
    (problem,) = refused(images=[{"name": "api", "buildArgs": arguments}])
    assert problem.startswith("acr-pipeline:images: the table of builds is 13")
    assert "KB, and a step's environment value can be at most 128 KB" in problem
    fewer = {f"ARG_{n}": "x" * 1000 for n in range(120)}
    assert len(table(settings_for(images=[{"name": "api", "buildArgs": fewer}])).encode()) <= MAX_ENV
    assert "split the images over two stacks" in problem


def test_a_workflow_file_over_500_kb_is_refused_naming_the_file() -> None:
    settings = settings_for()
    big = {settings.workflow_path: "x" * (MAX_FILE + 1)}
    ((key, problem),) = limit_problems(settings, rendered=big)
    assert key == "acr-pipeline:images"
    assert problem.startswith(
        "acr-pipeline:images: the workflow .github/workflows/build-push.yml would be 500 KB, and GitHub "
        "starts no run of a workflow file over 500 KB"
    )
    assert limit_problems(settings, rendered={settings.workflow_path: "x" * MAX_FILE}) == []


def test_every_stack_the_settings_accept_renders_files_github_starts() -> None:
    """The largest stack the other rules let through: 256 builds whose table and filters are just
    under what a step can be given. Its files stay under 500 KB, so the file rule never has to
    be the only guard (it is checked all the same)."""
    long_paths = [f"services/{'p' * 60}/{n}/**" for n in range(3)]
    settings = settings_for(
        images=images(128, platforms=TWO, paths=long_paths, buildArgs={"VERSION": "v" * 150}),
        workflow={"pullRequests": True},
    )
    assert len(table(settings).encode()) <= MAX_ENV
    for text in (render(settings), render_pull_requests(settings)):
        assert len(text.encode()) < MAX_FILE


def test_a_stack_past_a_limit_registers_nothing() -> None:
    monitor = RecordingMonitor()
    with pytest.raises(ConfigError, match="at most 256 jobs of one matrix"):
        run_program(encode(config(images=images(129, platforms=TWO))), SECRET_KEYS, monitor=monitor)
    assert monitor.registered == []

"""`make synth`: every stack file runs offline, writes its plan and files, and leaks nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from components import stackfile
from components.config import parse
from tests.conftest import FIXTURES, assert_matches_golden
from tools import synth
from tools.mock_engine import ROOT_DIR, run_program
from tools.tokens import FILE

STACKS = stackfile.stack_names(FIXTURES)
"""Our fixture stacks (tests/stacks); tests/test_user_stacks.py checks whatever stacks/ holds."""


def test_the_fixtures_include_dev_and_prod() -> None:
    assert {"dev", "prod"} <= set(STACKS)


@pytest.mark.parametrize("stack", STACKS)
def test_stack_file_is_valid_and_its_password_is_a_secret(stack: str) -> None:
    values, secrets = stackfile.stack_config(stack, FIXTURES)
    assert "acr-pipeline:registryPassword" in secrets
    settings = parse(values, secrets, stack)
    assert settings.workflow_path.startswith(".github/workflows/")


@pytest.mark.parametrize("stack", STACKS)
def test_synth_writes_plan_and_the_committed_workflow(stack: str, tmp_path: Path) -> None:
    text, target = synth.synth(stack, out_dir=tmp_path, stacks_dir=FIXTURES)
    plan = json.loads((target / "plan.json").read_text())
    files = [r for r in plan["resources"] if r["type"] == FILE]
    assert files
    for file in files:
        committed = target / file["inputs"]["file"]
        assert committed.is_file()
        assert committed.read_text().startswith(f"# Managed by acr-pipeline (Pulumi stack '{stack}')")
    assert plan["outputs"]["workflowPath"] in {file["inputs"]["file"] for file in files}
    assert text.rstrip().endswith(f"{sum(r['custom'] for r in plan['resources'])} to create")


@pytest.mark.parametrize("stack", STACKS)
def test_synth_shows_secrets_as_placeholders_only(stack: str, tmp_path: Path) -> None:
    values, _ = stackfile.stack_config(stack, FIXTURES)
    placeholder = values["acr-pipeline:registryPassword"]
    text, target = synth.synth(stack, out_dir=tmp_path, stacks_dir=FIXTURES)
    written = [p.read_text() for p in target.rglob("*") if p.is_file()]
    assert all(placeholder not in t for t in [text, *written])
    plan = json.loads((target / "plan.json").read_text())
    (pwd,) = [r for r in plan["resources"] if r["inputs"].get("secretName") == "ALIYUN_REGISTRY_PWD"]
    assert pwd["inputs"]["value"] == "[secret]"


def test_plan_is_the_same_on_every_run(tmp_path: Path) -> None:
    synth.synth("dev", out_dir=tmp_path / "a", stacks_dir=FIXTURES)
    synth.synth("dev", out_dir=tmp_path / "b", stacks_dir=FIXTURES)
    a = (tmp_path / "a" / "dev" / "plan.json").read_text()
    assert a == (tmp_path / "b" / "dev" / "plan.json").read_text()


def test_plan_lists_resources_in_dependency_readable_order(tmp_path: Path) -> None:
    values, secrets = stackfile.stack_config("dev", FIXTURES)
    names = [r["name"] for r in synth.plan(run_program(values, secrets))["resources"]]
    assert names.index("registry") < names.index("registry-namespace") < names.index("registry-repo-api")


def _synth_cli(
    stacks_dir: Path, stack: str, out_dir: Path, *flags: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    chosen = [stack] if stack else []
    cmd = [
        sys.executable,
        "-m",
        "tools.synth",
        *chosen,
        "--stacks-dir",
        str(stacks_dir),
        "--out-dir",
        str(out_dir),
    ]
    cmd += flags
    return subprocess.run(cmd, cwd=ROOT_DIR, capture_output=True, text=True, check=False, env=env)


def test_bad_stack_exits_nonzero_with_the_problem_and_no_traceback(tmp_path: Path) -> None:
    bad = (FIXTURES / "Pulumi.dev.yaml").read_text().replace("namespace: acme-dev", "namespace: Acme_Dev")
    (tmp_path / "Pulumi.broken.yaml").write_text(bad)
    result = _synth_cli(tmp_path, "broken", tmp_path / "out")
    assert result.returncode == 2
    assert 'acr-pipeline:registry.namespace = "Acme_Dev"' in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_stack_file_that_does_not_parse_says_where_and_what_in_words(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.broken.yaml").write_text("config:\n  acr-pipeline:images: [a, b\n  github:owner: x\n")
    for cmd in (["-m", "tools.synth", "broken"], ["-m", "tools.check_stacks"]):
        env = {**os.environ, "ACR_PIPELINE_STACKS": str(tmp_path)}
        result = subprocess.run(
            [sys.executable, *cmd], cwd=ROOT_DIR, capture_output=True, text=True, check=False, env=env
        )
        assert result.returncode != 0, cmd
        (line,) = [e for e in result.stderr.splitlines() if "Pulumi.broken.yaml" in e]
        where = f"{tmp_path}/Pulumi.broken.yaml:2:24"
        assert line == f"error: {where}: this `[` is never closed: a `]` is missing", cmd
        assert "    2 |   acr-pipeline:images: [a, b" in result.stderr, "the line shown"
        assert "Traceback" not in result.stderr


def test_without_a_stack_synth_shows_dev_or_else_every_stack(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.production.yaml").write_text((FIXTURES / "Pulumi.dev.yaml").read_text())
    result = _synth_cli(tmp_path, "", tmp_path / "out", env=_cli_env())
    assert result.returncode == 0, result.stderr
    assert "Previewing acr-pipeline/production " in result.stdout
    assert "Stacks (1):" in result.stdout


def test_unknown_stack_names_the_known_ones(tmp_path: Path) -> None:
    result = _synth_cli(FIXTURES, "nosuch", tmp_path)
    assert result.returncode == 2
    assert "dev" in result.stderr
    assert "Traceback" not in result.stderr


# --- the plan reads like `pulumi preview` -----------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> synth.Synthesis:
    return synth.synthesize("dev", out_dir=tmp_path_factory.mktemp("synth"), stacks_dir=FIXTURES)


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    return {**env, **extra}


def _transcript(result: subprocess.CompletedProcess[str], out_dir: Path) -> str:
    # As `make synth` prints it: the default output directory, not the test's.
    return result.stdout.replace(str(out_dir), "build/synth")


def test_dev_transcript_with_colours_off_matches_its_golden_file(tmp_path: Path) -> None:
    result = _synth_cli(FIXTURES, "dev", tmp_path, env=_cli_env())
    assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout), "piped output must carry no colour codes"
    assert_matches_golden(_transcript(result, tmp_path), "synth-dev.txt")


def test_plan_is_a_tree_under_the_stack_with_one_plus_line_per_resource(dev: synth.Synthesis) -> None:
    text = synth.render_plan("dev", dev.plan)
    lines = text.splitlines()
    (stack_line,) = [line for line in lines if "pulumi:pulumi:Stack" in line]
    assert stack_line.split() == ["+", "pulumi:pulumi:Stack", "acr-pipeline-dev"]
    resource_lines = [line for line in lines if line.startswith(" +   ")]
    assert len(resource_lines) == len(dev.plan["resources"]) + 1  # and the stack
    for res in dev.plan["resources"]:
        (line,) = [line for line in resource_lines if line.endswith(f" {res['name']}")]
        assert f"─ {res['type']} " in line, f"{res['name']}: type missing from {line!r}"
        # Components hang off the stack; resources one level deeper, under their component.
        depth = 1 if res["parent"] is None else 2
        assert line.index("─") == 6 + 3 * (depth - 1), f"{res['name']} is not at depth {depth}"


def test_plan_ends_with_the_count_of_resources_to_create(dev: synth.Synthesis) -> None:
    custom = sum(1 for r in dev.plan["resources"] if r["custom"])
    assert synth.render_plan("dev", dev.plan).endswith(f"\nResources:\n    + {custom} to create\n")


def test_plan_shows_secrets_as_secret_and_never_their_value(dev: synth.Synthesis) -> None:
    text = synth.render_plan("dev", dev.plan)
    for name in ("ALIYUN_REGISTRY_USER", "ALIYUN_REGISTRY_PWD"):
        block = text.split(f"github-secret-{name}\n", 1)[1].split(" +   ", 1)[0]
        assert re.search(r"value\s*: \[secret\]$", block, flags=re.M), f"{name} value not [secret]"
    assert "acr-pusher@" not in text, "the registry user name is a secret too"


def test_plan_summarizes_the_workflow_content_instead_of_printing_it(dev: synth.Synthesis) -> None:
    text = synth.render_plan("dev", dev.plan)
    assert re.search(r"content\s*: <\d+ lines: see \.github/workflows/build-push\.yml>", text)
    assert "runs-on" not in text
    assert "uses:" not in text


def test_plan_shows_what_each_resource_waits_for(dev: synth.Synthesis) -> None:
    text = synth.render_plan("dev", dev.plan)
    after_repo = text.split(" registry-repo-api\n", 1)[1].split(" +   ", 1)[0]
    assert "(after: registry-namespace)" in after_repo
    after_file = " ".join(text.split(" workflow-file\n", 1)[1].split())
    for name in ("github-secret-ALIYUN_REGISTRY_PWD", "github-var-API_IMAGE_NAME", "registry-repo-worker"):
        assert name in after_file.split("(after:", 1)[1], f"workflow-file does not show it waits for {name}"


def test_plan_prints_values_as_pulumi_does() -> None:
    assert synth.pretty("shop") == ['"shop"']
    assert synth.pretty(False) == ["false"]
    assert synth.pretty(50.0) == ["50"], "engine numbers arrive as doubles"
    assert synth.pretty("[secret]") == ["[secret]"]
    assert synth.pretty({"b": 1, "a": ["x"]}, "  ") == [
        "{",
        "      a: [",
        '          [0]: "x"',
        "      ]",
        "      b: 1",
        "  }",
    ]
    assert synth.pretty([]) == ["[]"]


@pytest.mark.parametrize(
    ("flag", "isatty", "environ", "expected"),
    [
        (None, True, {}, True),
        (None, False, {}, False),
        (None, True, {"NO_COLOR": "1"}, False),
        (None, True, {"NO_COLOR": ""}, True),  # no-color.org: only a non-empty value counts
        (None, True, {"TERM": "dumb"}, False),
        (True, False, {"NO_COLOR": "1"}, True),
        (False, True, {}, False),
    ],
)
def test_colours_only_on_a_terminal_without_no_color_unless_asked(
    flag: bool | None, isatty: bool, environ: dict[str, str], expected: bool
) -> None:
    assert synth.use_color(flag, isatty, environ) is expected


def test_coloured_plan_is_the_plain_plan_plus_colour_codes(dev: synth.Synthesis) -> None:
    coloured = synth.render_plan("dev", dev.plan, color=True)
    assert "\x1b[32m+\x1b[0m" in coloured, "the + of a create is green"
    assert "\x1b[2m" in coloured, "inputs are dim"
    assert ANSI.sub("", coloured) == synth.render_plan("dev", dev.plan)


def test_color_flag_forces_colours_even_when_piped(tmp_path: Path) -> None:
    forced = _synth_cli(FIXTURES, "dev", tmp_path, "--color", env=_cli_env(NO_COLOR="1"))
    assert forced.returncode == 0
    assert ANSI.search(forced.stdout)
    plain = _synth_cli(FIXTURES, "dev", tmp_path, "--no-color", env=_cli_env())
    assert ANSI.sub("", forced.stdout) == plain.stdout


def test_synth_writes_both_diagrams_beside_the_plan(dev: synth.Synthesis) -> None:
    assert dev.written[:3] == ["plan.json", "graph.mmd", "workflow.mmd"]
    assert (dev.target / "graph.mmd").read_text().startswith("%% acr-pipeline/dev: ")
    assert "flowchart LR" in (dev.target / "workflow.mmd").read_text()


# --- STACK=all --------------------------------------------------------------------------------


def test_synth_all_prints_every_stack_and_ends_with_the_summary_table(tmp_path: Path) -> None:
    result = _synth_cli(FIXTURES, "all", tmp_path, env=_cli_env())
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for stack in STACKS:
        assert f"Previewing acr-pipeline/{stack} " in out
    table = out.split("\nStacks (", 1)[1].splitlines()[1:]
    assert table[0].split() == [
        "Stack",
        "Registry",
        "endpoint",
        "Images",
        "GitHub",
        "scope",
        "Workflow",
        "Resources",
    ]
    assert [row.split()[0] for row in table[1:]] == STACKS
    for row in table[1:]:
        stack = row.split()[0]
        plan = json.loads((tmp_path / stack / "plan.json").read_text())
        count = sum(r["custom"] for r in plan["resources"])
        assert row.split()[-1] == str(count), f"{stack}: resource count"
        assert plan["outputs"]["registryEndpoint"] in row
        assert plan["outputs"]["workflowPath"] in row
        assert ", ".join(plan["outputs"]["images"]) in row


def _plan_with(settings_inputs: list[dict[str, str]]) -> dict[str, object]:
    resources = [
        {"type": "t", "name": f"r{i}", "custom": True, "inputs": inputs}
        for i, inputs in enumerate(settings_inputs)
    ]
    outputs = {
        "registryEndpoint": "r.example.com",
        "images": {"api": "x", "web": "y"},
        "workflowPath": "p.yml",
    }
    return {"resources": resources, "outputs": outputs}


def test_summary_scope_is_the_repository_or_its_environment() -> None:
    repo_level = _plan_with([{"repository": "shop", "variableName": "A"}])
    env_level = _plan_with([{"repository": "shop", "environment": "production", "secretName": "B"}])
    assert synth.summarize("dev", repo_level, "acme").scope == "acme/shop"
    assert synth.summarize("prod", env_level, "acme").scope == "acme/shop env:production"
    assert synth.summarize("dev", repo_level, "acme") == synth.Summary(
        "dev", "r.example.com", "api, web", "acme/shop", "p.yml", 1
    )


def test_synth_all_reports_each_bad_stack_and_exits_nonzero_at_the_end(tmp_path: Path) -> None:
    dev_text = (FIXTURES / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.alpha.yaml").write_text(
        dev_text.replace("namespace: acme-dev", "namespace: Acme_Dev")
    )
    (tmp_path / "Pulumi.good.yaml").write_text(dev_text)
    (tmp_path / "Pulumi.zulu.yaml").write_text("config: [not, a, map]\n")
    line = 1 + dev_text.splitlines().index("    namespace: acme-dev")
    result = _synth_cli(tmp_path, "all", tmp_path / "out", env=_cli_env())
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "error: invalid configuration of stack 'alpha' (1 problem):" in result.stderr
    assert f'Pulumi.alpha.yaml:{line}: acr-pipeline:registry.namespace = "Acme_Dev"' in result.stderr
    assert "Pulumi.zulu.yaml:1:1: a stack file is a map with a `config:` map of keys" in result.stderr
    assert "Previewing acr-pipeline/good " in result.stdout, "a good stack is still shown"
    table = result.stdout.split("\nStacks (3):\n", 1)[1]
    assert re.search(r"^ +alpha +error: invalid configuration", table, flags=re.M)
    assert re.search(r"^ +good +\S+", table, flags=re.M)


def test_with_adopt_synth_lists_what_the_real_preview_would_import_if_it_exists(tmp_path: Path) -> None:
    text = (FIXTURES / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(
        text.replace("  acr-pipeline:github:", "  acr-pipeline:adopt: true\n  acr-pipeline:github:")
    )
    result = _synth_cli(tmp_path, "dev", tmp_path / "out", env=_cli_env())
    assert result.returncode == 0, result.stderr
    section = result.stdout.split("Adoption (adopt: true):", 1)[1].split("\nOutputs:", 1)[0]
    assert "nothing is looked up" in section
    assert "`pulumi preview` imports each of these that already exists" in section
    for what, import_id in [
        ("variable API_IMAGE_NAME", "shop:API_IMAGE_NAME"),
        ("namespace acme-dev", "cri-8x2kd7sf1mqa3vno:acme-dev"),
        ("repository worker", "cri-8x2kd7sf1mqa3vno:acme-dev:worker"),
        ("workflow file .github/workflows/build-push.yml", "shop:.github/workflows/build-push.yml:main"),
    ]:
        assert re.search(rf"= {re.escape(what)} +{re.escape(import_id)}$", section, flags=re.M), what
    plan = json.loads((tmp_path / "out" / "dev" / "plan.json").read_text())
    assert {"what": "repository api", "importId": "cri-8x2kd7sf1mqa3vno:acme-dev:api"} in plan["adoption"]


def test_without_adopt_the_plan_has_no_adoption_section(dev: synth.Synthesis) -> None:
    assert "adoption" not in dev.plan
    assert "Adoption" not in synth.render_plan("dev", dev.plan)


def test_with_adopt_synth_says_what_the_real_preview_decides_from_what_it_finds(tmp_path: Path) -> None:
    text = (FIXTURES / "Pulumi.prod.yaml").read_text()
    text = text[: text.index("  acr-pipeline:registryUsername")] + "  acr-pipeline:auth:\n    mode: oidc\n"
    (tmp_path / "Pulumi.prod.yaml").write_text(
        text.replace("  acr-pipeline:github:", "  acr-pipeline:adopt: true\n  acr-pipeline:github:")
    )
    section = synth.synth("prod", tmp_path / "out", tmp_path)[0].split("Adoption (adopt: true):", 1)[1]
    kept = "workflow name: kept from the existing file at deploy (offline, none: 'build-push (prod)')"
    assert kept in section
    for command in (
        "gh secret delete ALIYUN_REGISTRY_PWD -R acme-platform/shop\n",
        "gh secret delete ALIYUN_REGISTRY_USER -R acme-platform/shop --env production\n",
    ):
        assert command in section
    assert "they work until deleted, and so does the RAM user's password" in section


def test_warnings_come_before_the_plan_at_the_line_they_are_about(tmp_path: Path) -> None:
    text = (FIXTURES / "Pulumi.dev.yaml").read_text()
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace("cn-shanghai", "xx-newland-1"))
    line = 1 + text.splitlines().index("  alicloud:region: cn-shanghai")
    plan = synth.synth("dev", tmp_path / "out", tmp_path)[0]
    warning = f"warning: {tmp_path / 'Pulumi.dev.yaml'}:{line}: alicloud:region 'xx-newland-1' is not"
    assert warning in plan
    assert plan.index(warning) < plan.index("pulumi:pulumi:Stack")


def test_looked_up_reviewer_ids_are_shown_as_placeholders_not_numbers(tmp_path: Path) -> None:
    text = (FIXTURES / "Pulumi.prod.yaml").read_text()
    (tmp_path / "Pulumi.prod.yaml").write_text(text.replace("teams: [4521987]", "teams: [4521987, platform]"))
    plan = synth.synth("prod", tmp_path / "out", tmp_path)[0]
    assert "<id of team 'platform', looked up at deploy>" in plan
    assert "4521987" in plan, "an id given as a number is shown as it is"

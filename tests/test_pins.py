"""The pin table: full SHAs at current majors, kept current by Renovate, checked by actionlint."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from components.pins import MINIMUM_MAJOR, PINS
from components.workflow_render import render
from tests.conftest import settings_for

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def renovate_patterns() -> list[re.Pattern[str]]:
    config = json.loads((ROOT / "renovate.json").read_text())
    (manager,) = config["customManagers"]
    # Renovate writes named groups as (?<name>...), Python as (?P<name>...).
    return [re.compile(p.replace("(?<", "(?P<")) for p in manager["matchStrings"]]


def test_every_pin_is_a_full_sha_at_or_above_the_node24_majors() -> None:
    for action, pin in PINS.items():
        assert re.fullmatch(r"[0-9a-f]{40}", pin.sha), action
        assert re.fullmatch(r"v\d+\.\d+\.\d+", pin.version), action
        assert int(pin.major[1:]) >= MINIMUM_MAJOR[action], (
            f"{action} {pin.version} runs on a retired runtime"
        )


def test_renovate_finds_every_row_of_the_pin_table() -> None:
    source = (ROOT / "components" / "pins.py").read_text()
    found = {
        m["depName"]: (m["currentValue"], m["currentDigest"])
        for p in renovate_patterns()
        for m in p.finditer(source)
    }
    assert found == {action: (pin.version, pin.sha) for action, pin in PINS.items()}


def test_renovate_config_is_valid() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.renovate", str(ROOT / "renovate.json")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _actionlint(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    (workflows / "build-push.yml").write_text(text)
    return subprocess.run(
        [
            str(BIN / "actionlint"),
            f"-shellcheck={BIN / 'shellcheck'}",
            "-no-color",
            str(workflows / "build-push.yml"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_actionlint_accepts_the_current_majors(tmp_path: Path) -> None:
    text = render(
        settings_for(
            workflow={"pinActions": "tag"},
            images=[{"name": "app", "platforms": ["linux/amd64", "linux/arm64"]}],
        )
    )
    result = _actionlint(text, tmp_path)
    assert result.returncode == 0, result.stdout


def test_actionlint_would_catch_a_node20_action(tmp_path: Path) -> None:
    # Proves the check above can fail: the seed's versions run on the retired node20 runtime.
    text = render(settings_for(workflow={"pinActions": "tag"})).replace(
        "actions/checkout@v7", "actions/checkout@v4"
    )
    result = _actionlint(text, tmp_path)
    assert result.returncode != 0
    assert "node20" in result.stdout


def test_a_tag_pin_names_the_exact_version_of_actions_whose_major_tag_lags() -> None:
    from components.pins import NOT_FLOATING, uses

    for action in PINS:
        ref, _ = uses(action, "tag")
        expected = PINS[action].version if action in NOT_FLOATING else PINS[action].major
        assert ref == f"{action}@{expected}"
    assert uses("aliyun/acr-login", "tag")[0] == "aliyun/acr-login@v2.0.1", "there is no v2 tag"

"""The workflow checkers, run once over many files: actionlint (with shellcheck on every `run:`
script), zizmor and GitHub's workflow schema (check-jsonschema). `make check` runs them on one
stack's rendered files; the tests run them on every rendering (tests/conftest.py imports them
from here, so both read the checkers' reports one way).

Not a command: the checkers are test tools (`make install`), which the program never needs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
TIMEOUT = 300.0
"""Seconds one checker may take."""


class MissingToolError(RuntimeError):
    """A checker that is not installed: `make install` installs them into .venv."""


def tool(name: str) -> str:
    """The command `name`, from .venv first, then PATH."""
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not path:
        raise MissingToolError(f"{name} is not installed (make install)")
    return path


@dataclass(frozen=True)
class Finding:
    """What a checker said about a file, or of a run that checked nothing (`path` None)."""

    checker: str
    """actionlint, zizmor or check-jsonschema."""
    text: str
    """What it said, after its name: the message, then any detail on lines of their own."""
    path: str | None = None
    """The file as the caller named it (for a file found in a given directory,
    `directory/its/path`); None: the checker failed, or the finding is about no one file."""
    line: int | None = None
    column: int | None = None
    pointer: str | None = None
    """check-jsonschema, which gives no line: where in the document (the deepest place it names),
    as `$.jobs['build'].steps[2]`."""

    def __str__(self) -> str:
        if self.path is None:
            return f"{self.checker}: {self.text}"
        where = f"{self.path}:{self.line}:{self.column}" if self.line is not None else self.path
        return f"{where}: {self.checker}: {self.text}"


Reader = Callable[[subprocess.CompletedProcess[str]], list[Finding]]
"""What reads a checker's JSON report."""


def lint_workflows(*targets: Path, shellcheck: bool = True) -> list[str]:
    """actionlint (with shellcheck on every `run:` script, unless `shellcheck` is false), zizmor
    and GitHub's workflow schema, each run once over every file of the targets (files, or
    directories: every file in the tree): the findings, [] when all is clean.

    A finding about one file starts with that file's path as given (for a file found in a given
    directory, `directory/its/path`) and a colon: `path:LINE:COL: actionlint: ...`, `...: zizmor:
    ...`, `path: check-jsonschema: $.jobs...: ...`; so a caller linting many files at once can tell
    which file each finding is about. One that starts with a checker's name instead
    (`zizmor: exit status 1: ...`) is about no one file: the checker failed."""
    return [str(finding) for finding in findings(*targets, shellcheck=shellcheck)]


def findings(*targets: Path, shellcheck: bool = True) -> list[Finding]:
    """What `lint_workflows` says, as data: each finding's file, line and column where the
    checker gives them."""
    if not targets:
        raise ValueError("lint_workflows needs a file or a directory")
    files = sorted({str(p) for t in targets for p in ([t] if t.is_file() else t.rglob("*")) if p.is_file()})
    cwd = Path(os.path.commonpath([t if t.is_dir() else t.parent for t in targets]))
    by_path = {Path(f).resolve(): f for f in files}

    def given(reported: str) -> str:
        """A file as the caller named it (actionlint shows it relative to the working directory)."""
        return by_path.get((cwd / reported).resolve(), reported)

    def actionlint(result: subprocess.CompletedProcess[str]) -> list[Finding]:
        return [
            Finding(
                "actionlint",
                f"{e['message']} [{e['kind']}]\n" + e.get("snippet", ""),
                given(e["filepath"]),
                e["line"],
                e["column"],
            )
            for e in json.loads(result.stdout)
        ]

    def zizmor(result: subprocess.CompletedProcess[str]) -> list[Finding]:
        out = []
        for finding in json.loads(result.stdout or "[]"):
            if finding.get("ignored"):
                continue
            said = f"{finding['determinations']['severity'].lower()}[{finding['ident']}]: {finding['desc']}"
            places = finding["locations"]
            primary = [w for w in places if w["symbolic"].get("kind") == "Primary"] or places[:1]
            out += [Finding("zizmor", f"{said}\n    {finding['url']}")] if not primary else []
            for where in primary:
                symbolic, concrete = where["symbolic"], where["concrete"]
                path = given(next(iter(symbolic["key"].get("Local", {}).values()), "?"))
                start = concrete["location"]["start_point"]
                detail = f"{symbolic['annotation']}\n    {concrete['feature']}\n    {finding['url']}"
                out.append(
                    Finding("zizmor", f"{said}: {detail}", path, start["row"] + 1, start["column"] + 1)
                )
        # A file it cannot read as a workflow zizmor skips with a warning naming it (and fails only
        # when it skipped every file): say which, as linting that file alone would have failed.
        lines = result.stderr.splitlines()
        skipped = {given(name): name for name in re.findall(r"file://(\S+)", result.stderr)}
        return out + [
            Finding(
                "zizmor",
                "not audited:\n" + "\n".join(line.strip() for line in lines if f"file://{name}" in line),
                path,
            )
            for path, name in skipped.items()
        ]

    def schema(result: subprocess.CompletedProcess[str]) -> list[Finding]:
        report = json.loads(result.stdout)
        out = []
        for e in report["errors"]:
            best = [
                f"\n    {key}: {match['path']}: {match['message']}"
                for key in ("best_match", "best_deep_match")
                if (match := e.get(key))
            ]
            text = f"{e['path']}: {e['message']}{''.join(best)}"
            deepest = (e.get("best_deep_match") or e)["path"]
            out.append(Finding("check-jsonschema", text, given(e["filename"]), pointer=deepest))
        return out + [
            Finding("check-jsonschema", str(e.get("message", e)), given(e.get("filename", "?")))
            for e in report["parse_errors"]
        ]

    # Each checker: its command (a JSON report), the exit statuses of a run that checked, its reader.
    checkers: dict[str, tuple[list[str], tuple[int, ...], Reader]] = {
        # With shellcheck named: without it on PATH, actionlint skips every `run:` script silently.
        "actionlint": (
            [
                tool("actionlint"),
                f"-shellcheck={tool('shellcheck') if shellcheck else ''}",
                "-no-color",
                "-format",
                "{{json .}}",
                *files,
            ],
            (0, 1),
            actionlint,
        ),
        # Directories as such: zizmor collects their workflows as it does a repository's.
        "zizmor": (
            [tool("zizmor"), "--offline", "--no-progress", "--format", "json", *map(str, targets)],
            (0, 3, *range(10, 15)),  # 3: it could read no file as a workflow; 10-14: findings
            zizmor,
        ),
        "check-jsonschema": (
            [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", "-o", "json", *files],
            (0, 1),
            schema,
        ),
    }

    def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False, timeout=TIMEOUT)

    with ThreadPoolExecutor(len(checkers)) as pool:  # side by side: check-jsonschema takes longest
        results = list(pool.map(run, (cmd for cmd, _, _ in checkers.values())))
    found: list[Finding] = []
    for (name, (_, checked, read)), result in zip(checkers.items(), results, strict=True):
        said: list[Finding]
        try:
            said = read(result) if result.returncode in checked else []
        except (ValueError, LookupError, TypeError, AttributeError):  # a report we cannot read
            said = []
        found += said
        if result.returncode != 0 and not said:
            # Failed without a finding it could say: a crash, a bad argument, output we cannot read.
            found.append(Finding(name, f"exit status {result.returncode}:\n{result.stdout}{result.stderr}"))
    return found

"""A fake `gh` for the workflow's scripts: the REST calls they make (a workflow's runs, a comparison
of two commits, a branch), answered from a real local git history and the runs a test lists
(tests/fakes.py), `--jq` applied by the real jq and printed as
gh prints it (pkg/jq in cli/cli): each result on a line, a string as it is, null as an empty
line, a number or boolean as JSON, anything else as compact JSON the way Go's encoding/json writes
it (keys sorted, `<`, `>` and `&` escaped as \\u003c, \\u003e and \\u0026). gh evaluates with gojq,
the fake with jq: the scripts' programs keep to what both read alike.
Usage: gh.py STATE LOG ARGS..."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def git(repo: str, *args: str) -> str:
    command = ["git", "-C", repo, *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def compare(repo: str, base: str, head: str) -> dict[str, Any]:
    """GitHub's "Compare two commits": the status, and what head changed since the merge base
    (the three-dot comparison), renames with their previous name, at most 300 files. Names as
    GitHub's API gives them, never quoted (`-z`: git quotes unusual ones otherwise)."""
    base, head = git(repo, "rev-parse", base), git(repo, "rev-parse", head)
    merge_base = git(repo, "merge-base", base, head)
    if base == head:
        status = "identical"
    elif merge_base == base:
        status = "ahead"
    elif merge_base == head:
        status = "behind"
    else:
        status = "diverged"
    fields = iter(git(repo, "diff", "--name-status", "-z", "-M", merge_base, head).split("\0"))
    files = []
    for kind in fields:
        if not kind:
            continue
        names = [next(fields), *([next(fields)] if kind[0] in "RC" else [])]
        entry = {"filename": names[-1], "status": kind[0]}
        if kind.startswith("R"):
            entry["previous_filename"] = names[0]
        files.append(entry)
    return {"status": status, "files": files[:300]}


def main(state_path: Path, log: Path, args: list[str]) -> int:
    state: dict[str, Any] = json.loads(state_path.read_text())
    with log.open("a") as out:
        out.write(json.dumps(["gh", *args]) + "\n")
    jq = args[args.index("--jq") + 1] if "--jq" in args else "."
    path = next(a for a in args[1:] if a.startswith("repos/"))
    if path.endswith("/runs"):
        if state.get("runs_fail"):
            sys.stderr.write("HTTP 502: Bad Gateway\n")
            return 1
        # "List workflow runs for a workflow": each query parameter given filters the runs
        # (newest first); `status=success` is a run's conclusion.
        given = [value for flag, value in itertools.pairwise(args) if flag in ("-f", "--raw-field")]
        params = dict(field.split("=", 1) for field in given)
        fields = {"branch": "head_branch", "event": "event", "status": "conclusion"}
        runs = [
            r
            for r in state.get("runs", [])
            if all(r.get(field, "") == params[key] for key, field in fields.items() if key in params)
        ]
        data: dict[str, Any] = {"total_count": len(runs), "workflow_runs": runs[:1]}
    elif "/branches/" in path:
        # "Get a branch": the branch and its head commit; 404 for a branch the repository lacks.
        if state.get("branches_fail"):
            sys.stderr.write("gh: Bad Gateway (HTTP 502)\n")
            return 1
        name = path.split("/branches/", 1)[1]
        tip = ["git", "-C", state.get("repo", "."), "rev-parse", "--verify", "--quiet", f"refs/heads/{name}"]
        sha = subprocess.run(tip, capture_output=True, text=True).stdout.strip() if "repo" in state else ""
        if not sha:
            sys.stderr.write("gh: Branch not found (HTTP 404)\n")
            return 1
        data = {"name": name, "commit": {"sha": sha, "url": f"https://api.github.com/{path}"}}
    elif "/compare/" in path:
        if state.get("compare_fails"):
            sys.stderr.write("HTTP 404: No common ancestor between the commits\n")
            return 1
        base, head = path.split("/compare/", 1)[1].split("...")
        data = compare(state["repo"], base, head)
    else:
        sys.stderr.write(f"fake gh: unexpected {args}\n")
        return 2
    answer = subprocess.run(["jq", "-c", jq], input=json.dumps(data), capture_output=True, text=True)
    if answer.returncode != 0:
        sys.stderr.write(f"failed to parse jq expression: {answer.stderr}")
        return 1
    for line in answer.stdout.splitlines():
        sys.stdout.write(printed(json.loads(line)) + "\n")
    return 0


def printed(value: Any) -> str:
    """One result of `--jq` as gh prints it."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))

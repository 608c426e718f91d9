"""A fake `gh` for the workflow's scripts: the REST calls they make, answered from a real local git
history and the runs a test lists (tests/fakes.py), `--jq` applied by the real jq.
Usage: gh.py STATE LOG ARGS..."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def git(repo: str, *args: str) -> str:
    # Names as GitHub's API gives them: never quoted (git quotes non-ASCII ones by default).
    command = ["git", "-C", repo, "-c", "core.quotePath=false", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def compare(repo: str, base: str, head: str) -> dict[str, Any]:
    """GitHub's "Compare two commits": the status, and what head changed since the merge base
    (the three-dot comparison), renames with their previous name, at most 300 files."""
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
    files = []
    for line in git(repo, "diff", "--name-status", "-M", merge_base, head).splitlines():
        kind, *names = line.split("\t")
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
        params = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("repos/"))
        fields = {"branch": "head_branch", "event": "event", "status": "conclusion"}
        runs = [
            r
            for r in state.get("runs", [])
            if all(r.get(field, "") == params[key] for key, field in fields.items() if key in params)
        ]
        data: dict[str, Any] = {"total_count": len(runs), "workflow_runs": runs[:1]}
    elif "/compare/" in path:
        if state.get("compare_fails"):
            sys.stderr.write("HTTP 404: No common ancestor between the commits\n")
            return 1
        base, head = path.split("/compare/", 1)[1].split("...")
        data = compare(state["repo"], base, head)
    else:
        sys.stderr.write(f"fake gh: unexpected {args}\n")
        return 2
    answer = subprocess.run(
        ["jq", "-r", jq], input=json.dumps(data), capture_output=True, text=True, check=True
    )
    sys.stdout.write(answer.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))

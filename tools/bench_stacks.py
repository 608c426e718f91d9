"""What `make test` costs per stack: a benchmark, not a test.

    .venv/bin/python -m tools.bench_stacks [N ...] [--repeat R] [--full] [--source DIR] [--keep DIR]

For 3 stacks and for each N (default 100), writes N stack files to a temporary directory and
times, with `ACR_PIPELINE_STACKS` pointed at it, the two parts of `make test` that grow with the
number of stacks:

- `pytest -q -p no:cacheprovider tests/test_user_stacks.py` (each stack synthesizes, its workflow
  passes actionlint, zizmor and GitHub's workflow schema, its file validates against the stack
  schema), and
- `python -m tools.check_stacks` (`make check-stacks`: no clash, no plaintext secret).

`--full` also times the whole suite (`pytest -q -p no:cacheprovider -n auto --dist loadfile`,
the first line of `make test`) on those stacks; it takes minutes. Ruff and mypy do not read
stack files and are left out.

The stacks are copies of the `Pulumi.*.yaml` in `--source` (default stacks/), taken in turn and
made distinct so that check-stacks finds no clash: stack `<source>-<iii>` (000, 001, ...) writes
to the GitHub repository `<repository>-<i>` (so its variables, secrets, environment and workflow
file are its own) and to the ACR namespace `<namespace>-<i>` (so its repositories too); a later
copy of a stack that creates an OIDC provider names the first copy's instead (one per account),
and only the first copy of a stack keeps its internet ACL entries. The stack schema of the
source directory is copied next to them (the examples name it on their first line). The
generated set must pass check-stacks before anything is timed.

Each measurement is the best of `--repeat` runs (default 1); the table shows the wall time of
each part, their total (what `make test` spends on them: test_user_stacks, or with `--full` the
whole suite, plus check-stacks), the total's ratio to the 3-stack run and its cost per stack
beyond 3. A run that fails (exit status other than 0) is marked `FAIL` and its output's tail
shown: its time says little. `--keep DIR` writes the largest set to DIR (which must not hold
stack files) and leaves it there, for running things by hand. Other processes on the machine
make the figures noisy (the load average is printed): compare runs made back to back, and use
`--repeat`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from components.stackfile import shown, stack_names, stack_path
from tools.check_stacks import check
from tools.mock_engine import ROOT_DIR

BASELINE = 3
PARTS = {
    "test_user_stacks": ["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_user_stacks.py"],
    "check-stacks": ["-m", "tools.check_stacks"],
}
FULL = {"full pytest": ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "auto", "--dist", "loadfile"]}


def _distinct(config: Any, index: int, first_copy: bool) -> None:
    """Make a copy's claims its own (see the module docstring): edits `config` in place."""
    suffix = f"-{index}"
    registry = config.get("acr-pipeline:registry")
    if isinstance(registry, dict):
        if isinstance(registry.get("namespace"), str):
            registry["namespace"] += suffix
        if not first_copy and "publicAccess" in registry:
            del registry["publicAccess"]
    github = config.get("acr-pipeline:github")
    if isinstance(github, dict) and isinstance(github.get("repository"), str):
        github["repository"] += suffix
    auth = config.get("acr-pipeline:auth")
    creates = isinstance(auth, dict) and auth.get("oidcProvider", "create") == "create"
    if creates and auth.get("mode") == "oidc" and not first_copy:
        # One stack of an account creates GitHub's provider; the other copies name it.
        auth["oidcProvider"] = auth.pop("providerName", "github-actions")


def write_stacks(count: int, source: Path, target: Path) -> list[str]:
    """`count` distinct copies of the stacks in `source`, in `target`; their names."""
    originals = stack_names(source)
    if not originals:
        raise SystemExit(f"no Pulumi.<stack>.yaml in {shown(source)} to copy")
    target.mkdir(parents=True, exist_ok=True)
    for extra in source.glob("*.json"):
        shutil.copy(extra, target / extra.name)
    yaml = YAML(typ="rt")
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    names = []
    for index in range(count):
        original = originals[index % len(originals)]
        data = yaml.load(stack_path(original, source).read_text())
        _distinct(data.get("config") or {}, index, first_copy=index < len(originals))
        name = f"{original}-{index:03d}"
        with (target / f"Pulumi.{name}.yaml").open("w") as out:
            yaml.dump(data, out)
        names.append(name)
    problems, _, _ = check(target)
    if problems:
        raise SystemExit("the generated stacks do not pass check-stacks:\n" + "\n".join(problems))
    return names


@dataclass
class Timing:
    seconds: float
    ok: bool


def timed(args: list[str], stacks_dir: Path, repeat: int) -> Timing:
    env = {**os.environ, "ACR_PIPELINE_STACKS": str(stacks_dir)}
    best, ok = float("inf"), True
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, *args], cwd=ROOT_DIR, env=env, capture_output=True, text=True, check=False
        )
        best = min(best, time.perf_counter() - start)
        if result.returncode != 0:
            ok = False
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
            print(f"  {' '.join(args)} failed ({result.returncode}):\n{tail}", file=sys.stderr)
    return Timing(best, ok)


def table(counts: list[int], results: dict[int, dict[str, Timing]], counted: list[str]) -> str:
    """One row per stack count; `total` adds up the `counted` parts."""
    parts = list(results[counts[0]])
    header = ["stacks", *(f"{p} s" for p in parts), "total s", f"x {BASELINE} stacks", "per stack ms"]
    base = sum(results[BASELINE][p].seconds for p in counted)
    rows = [header]
    for n in counts:
        cells = [f"{t.seconds:.2f}" + ("" if t.ok else " FAIL") for t in results[n].values()]
        total = sum(results[n][p].seconds for p in counted)
        extra = f"{1000 * (total - base) / (n - BASELINE):.0f}" if n != BASELINE else "-"
        rows.append([str(n), *cells, f"{total:.2f}", f"{total / base:.2f}", extra])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench_stacks", description=__doc__.split("\n")[0])
    parser.add_argument("counts", nargs="*", type=int, default=[100], metavar="N", help="stack counts (100)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the best counts (1)")
    parser.add_argument("--full", action="store_true", help="also time the whole pytest suite")
    parser.add_argument("--source", type=Path, default=ROOT_DIR / "stacks", help="stacks to copy (stacks/)")
    parser.add_argument("--keep", type=Path, help="write the largest set here and keep it")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.counts) or args.repeat < 1:
        parser.error("N and --repeat must be at least 1")
    counts = sorted({BASELINE, *args.counts})
    parts = {**PARTS, **(FULL if args.full else {})}
    results: dict[int, dict[str, Timing]] = {}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-stacks-") as tmp:
        for n in counts:
            keep = args.keep is not None and n == counts[-1]
            if keep and stack_names(args.keep):
                parser.error(f"{args.keep} already holds stack files")
            stacks_dir = args.keep if keep else Path(tmp) / str(n)
            write_stacks(n, args.source, stacks_dir)
            print(f"{n} stacks in {stacks_dir}: timing {', '.join(parts)}", file=sys.stderr, flush=True)
            results[n] = {name: timed(cmd, stacks_dir, args.repeat) for name, cmd in parts.items()}
    # `make test` less ruff and mypy (which read no stack file): the suite, then check-stacks.
    counted = ["full pytest" if args.full else "test_user_stacks", "check-stacks"]
    print(
        f"Wall times, best of {args.repeat}; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after, "
        f"on {os.cpu_count()} cores. total = {' + '.join(counted)}"
    )
    print(table(counts, results, counted))
    return 0 if all(t.ok for r in results.values() for t in r.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`make mutate`: mutation testing of the rule modules and of the workflow's shell scripts.

Not part of `make test`: everything takes hours on two cores, one test process at a time (the
Makefile runs it under `nice -n 19`; `--jobs 2` runs two); name mutants (`'components.oidc.*'`)
to do a part. Two parts, each also on its own (`--python`, `--shell`):

1. Python, by mutmut (configured in pyproject.toml, `[tool.mutmut]`). mutmut copies the program
   into mutants/, writes every mutant of each function of the rule modules into that copy behind
   a switch, runs the selected tests once to learn which of them reach which function, then runs
   each mutant against only the tests that reached its function, stopping at the first failure:
   first the files that judge its module (JUDGES below), then the others, each part fastest first.
   mutants/ is rebuilt on every run (mutmut keeps the copies it made, so a changed script or test
   data would otherwise go stale); `--resume` continues an interrupted run instead.

   The tests are the rule-level files named in `[tool.mutmut]`: rules, settings, bad and empty config,
   the renderer (its golden files pin every byte of seven renderings), OIDC, pull requests,
   preflight, the world and the program's resources (whose tests run the program on the mock
   engine, so they also reach what the other files test one rule at a time), the scripts run with
   bash on fakes, the job-graph table on GitHub's own evaluator (these two are what guards the
   renderings no golden file pins: a promotion, a notification, a tags-only stack), and the
   stack-file schema (the only judge of the settings' schema hooks).
   Each mutant costs the tests that reach its function up to the first that fails, a survivor
   all of them, so these are left out: the tests that shell out to actionlint, shellcheck and
   zizmor (`-k`), and the files that test whole stacks, the repository's own files or tools
   (test_stacks, test_user_stacks, test_synth, test_graph, test_jobgraph, test_docs,
   test_project, test_pins, test_repo_workflows, test_verify). Hypothesis replays
   its fixed `ci` profile.
   Mutants that strict mypy rejects (`type_check_command`) are not run: `make test` would fail
   on them, so they count as caught.

   Pulumi's mock engine keeps one event loop whose worker threads do not survive a fork, and
   mutmut forks a process per mutant: loaded into pytest by mutmut (`-p tools.mutate`), this
   module gives every forked process a new event loop, or each mutant would hang until killed
   and count as a timeout. It also makes the functions the program calls while it is imported
   (rules.pattern builds most checks that way) count: mutmut switches mutants on inside an
   already imported program, so such a mutant would never act and always survive. Their mutants
   import the program anew and run every selected test. Likewise for what tests share: a
   module-wide fixture (the program run once for a file) counts for every test that uses it,
   not only the first, and the functools caches (the renderings of test_workflow_render) are
   emptied after each test of the stats run and in each mutant's process, which would otherwise
   inherit them filled by the unmutated program. A mutant's process may use 6 GB at most (a
   mutant that loops appending would take the machine's memory before mutmut's timeout).

2. Shell: mutmut cannot mutate components/workflow_render/scripts/*.sh, so this script does, in a
   copy under build/mutation/shell/: one classic mutation at a time (`==`/`!=`, `-z`/`-n` in a
   test, `true`/`false` as a value, a removed `exit`, `return 1` to `return 0`, `>=` to `>` and
   `<` to `<=` in arithmetic), each judged by tests/test_scripts.py (which runs every script
   with bash on fakes), stopping at the first failure.

It prints the score per module (killed / total) and every survivor, and writes them with their
diffs to build/mutation/report.md. A survivor is a mutant that no selected test noticed: either
an equivalent change or a rule without a test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import difflib
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Generator
from pathlib import Path

import pytest

ROOT = Path.cwd()
OUT = ROOT / "build" / "mutation"
MUTANTS = ROOT / "mutants"
SCRIPTS = Path("components") / "workflow_render" / "scripts"
SHELL_TESTS = "tests/test_scripts.py"
# What the shell part's copy of the program needs to run SHELL_TESTS.
SHELL_COPY = ("__main__.py", "Pulumi.yaml", "pyproject.toml", "components", "tests", "tools", "stacks")
PROGRESS_EVERY_S = 60.0

# --- the pytest plugin (`-p tools.mutate` in [tool.mutmut] pytest_add_cli_args) --------------------
# It runs in mutmut's processes, in mutants/; it relies on mutmut 3.8's internals (its state()).

IMPORT_TIME = Path("mutmut-import-time.txt")
"""In mutants/: the functions the program calls while it is imported, one a line."""
_PROJECT_PACKAGES = ("components", "tests", "tools")
MEMORY_LIMIT = 6 << 30
"""Of a mutant's process (its address space; the tests use under 2 GB)."""
_fork_hook_registered = False
_import_time_seen = False
_collection_errors = 0


def _new_event_loop_after_fork() -> None:
    asyncio.set_event_loop(asyncio.new_event_loop())


def _mutant() -> str:
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else ""


def pytest_configure() -> None:
    """In mutmut's main process: every process it forks for a mutant starts a new event loop, and
    no property test has a deadline (a slow example on a busy machine is no kill)."""
    from hypothesis import settings

    settings.register_profile("mutate", settings(settings.default, deadline=None))
    settings.load_profile("mutate")
    global _fork_hook_registered
    if not _fork_hook_registered:
        os.register_at_fork(after_in_child=_new_event_loop_after_fork)
        _fork_hook_registered = True


def _clear_caches() -> None:
    """Empty the functools caches of the program and the tests, so that what they hold is computed
    again: by the mutant (in a mutant's process, which inherited them filled unmutated), or
    within the test that uses it (in the stats run, so the test is counted as reaching it)."""
    for name, module in list(sys.modules.items()):
        if module is None or name.split(".")[0] not in _PROJECT_PACKAGES:
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and hasattr(value, "cache_info"):
                clear()


def pytest_load_initial_conftests() -> None:
    """In a mutant's process, before anything is collected: a mutant of a function the program
    calls while it is imported (rules.pattern, say) only acts if the program is imported anew,
    mutant on; the process inherited the modules imported unmutated, so forget them."""
    mutant = _mutant()
    if not mutant:
        return
    # A mutant that loops appending (`i -= 3` in a glob parser) would eat the machine's memory
    # before mutmut's timeout: a MemoryError kills it first.
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, hard))
    _clear_caches()
    if not IMPORT_TIME.is_file() or mutant.partition("__mutmut_")[0] not in IMPORT_TIME.read_text().split():
        return
    for name in [n for n in sys.modules if n.split(".")[0] in _PROJECT_PACKAGES and n != __name__]:
        del sys.modules[name]


def _stats_run() -> bool:
    return os.environ.get("MUTANT_UNDER_TEST") == "stats"


JUDGES = {
    "components.workflow_render.": (
        "tests/test_workflow_render.py",
        "tests/test_limits.py",
        "tests/test_job_graph.py",
        "tests/test_scripts.py",
        "tests/test_pull_requests.py",
        "tests/test_oidc.py",
    ),
    "components.oidc.": ("tests/test_oidc.py",),
    "components.preflight.": ("tests/test_preflight.py",),
    "components.adoption.": ("tests/test_world.py", "tests/test_stacks_together.py"),
    "components.github_settings.": ("tests/test_program.py",),
    "components.": (
        "tests/test_rules.py",
        "tests/test_settings.py",
        "tests/test_empty_values.py",
        "tests/test_bad_config.py",
        "tests/test_schema.py",
    ),
}
"""By the mutated module (the first prefix that matches): the test files that check its output
one rule at a time. A mutant's process runs them first."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """In a mutant's process: its module's judges run first, each part fastest first as mutmut
    ordered them. mutmut orders by duration alone, and the fastest tests are often the ones that
    share a module-wide fixture (the program run once for a file): a renderer mutant would run
    the program a dozen times before a golden file looked at what it renders."""
    mutant = _mutant()
    if not mutant:
        return
    judges = next((files for prefix, files in JUDGES.items() if mutant.startswith(prefix)), ())
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in judges)


def pytest_runtest_logstart() -> None:
    """In mutmut's stats run, at the first test: what was called so far was called on import."""
    global _import_time_seen
    if _import_time_seen or not _stats_run():
        return
    _import_time_seen = True
    from mutmut.state import state

    IMPORT_TIME.write_text("".join(f"{name}\n" for name in sorted(state()._stats)))


def pytest_runtest_logfinish() -> None:
    if _stats_run():
        _clear_caches()


_shared_fixture_hits: dict[int, set[str]] = {}


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef[object]) -> Generator[None, object, object]:
    """In the stats run: what a module- or class-wide fixture calls, it calls for every test that
    uses it, not only for the first one (which mutmut would count alone)."""
    if not _stats_run() or fixturedef.scope == "function":
        return (yield)
    from mutmut.state import state

    before = set(state()._stats)
    state()._stats.clear()
    try:
        return (yield)
    finally:
        _shared_fixture_hits.setdefault(id(fixturedef), set()).update(state()._stats)
        state()._stats.update(before)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    global _collection_errors
    if report.failed:
        _collection_errors += 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _stats_run():
        from mutmut.state import state

        tests = state().tests_by_mangled_function_name
        for item in session.items:
            for defs in item._fixtureinfo.name2fixturedefs.values():  # type: ignore[attr-defined]
                for name in _shared_fixture_hits.get(id(defs[-1]), ()):
                    tests[name].add(item.nodeid)
        if IMPORT_TIME.is_file():
            # Nothing says which tests use what the import made: every test is to run for them.
            every_test = set(state().duration_by_test)
            for name in IMPORT_TIME.read_text().split():
                tests[name] |= every_test
    elif _mutant() and _collection_errors and session.exitstatus == pytest.ExitCode.INTERRUPTED:
        # The mutant broke the import itself (mutmut would take exit 2 for a Ctrl-C).
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- results ----------------------------------------------------------------------------------------

DETECTED = ("killed", "timeout", "segfault", "caught by type check")
"""mutmut's words: a timeout or a crash (`segfault`, also a process killed for its memory) is
the mutant's doing, as is a type error (`make test` runs strict mypy)."""


@dataclasses.dataclass
class Mutant:
    module: str
    function: str
    name: str
    status: str
    diff: str = ""


def _env() -> dict[str, str]:
    # mutmut runs `mypy` (type_check_command) from PATH: this interpreter's.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "HYPOTHESIS_PROFILE": "ci", "PYTHONHASHSEED": "0", "PATH": path}


def _run_streaming(cmd: list[str], log: Path) -> int:
    """Run cmd with its output in log, printing its latest progress line once a minute."""
    last_print = time.monotonic()
    latest = ""
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env())
        stdout = proc.stdout
        if stdout is None:
            raise RuntimeError("no output pipe")
        while chunk := stdout.read1(65536):  # type: ignore[attr-defined]
            sink.write(chunk)
            lines = [x for x in re.split(r"[\r\n]", chunk.decode(errors="replace")) if x.strip()]
            progress = [x for x in lines if re.search(r"\d+/\d+", x)]
            latest = (progress or lines or [latest])[-1]
            if time.monotonic() - last_print > PROGRESS_EVERY_S:
                print(f"    {latest.strip()}", flush=True)
                last_print = time.monotonic()
        return proc.wait()


def _function_of(name: str, module: str) -> str:
    """`components.rules.x_acr_name__mutmut_3` -> `acr_name`; methods as `Class.method`."""
    local = name.removeprefix(module + ".").rsplit("__mutmut_", 1)[0]
    if local.startswith("xǁ"):
        return ".".join(part for part in local[2:].split("ǁ") if part)
    return local.removeprefix("x_")


def python_part(resume: bool, patterns: list[str], run: bool = True, jobs: int = 1) -> list[Mutant]:
    mutmut = [sys.executable, "-m", "mutmut"]
    if not resume and run:
        shutil.rmtree(MUTANTS, ignore_errors=True)
    if run:
        print("mutmut: generating the mutants, then learning which tests reach which function", flush=True)
        command = [*mutmut, "run", "--max-children", str(jobs), *patterns]
        code = _run_streaming(command, OUT / "mutmut-run.log")
        if code != 0:
            sys.exit(f"mutmut run failed (exit {code}): see {OUT / 'mutmut-run.log'}")
    listing = subprocess.run(
        [*mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True, env=_env()
    ).stdout
    modules = sorted(
        (
            str(p.relative_to(MUTANTS).with_suffix("").with_suffix("")).replace("/", ".")
            for p in MUTANTS.rglob("*.py.meta")
        ),
        key=len,
        reverse=True,
    )
    found: list[Mutant] = []
    for line in listing.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name or (patterns and status == "not checked"):
            continue
        module = next((m for m in modules if name.startswith(m + ".")), name.rsplit(".", 1)[0])
        found.append(Mutant(module.removesuffix(".__init__"), _function_of(name, module), name, status))
    for m in found:
        if m.status not in DETECTED:
            m.diff = subprocess.run(
                [*mutmut, "show", m.name], capture_output=True, text=True, check=False, env=_env()
            ).stdout.split("\n", 1)[-1]
    return found


# --- shell mutations ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Rule:
    what: str
    pattern: re.Pattern[str]
    replacement: str
    only_in: str = ""
    """A substring the line must contain (e.g. `((` for arithmetic)."""


RULES = (
    Rule("== to !=", re.compile(r"(?<= )==(?= )"), "!="),
    Rule("!= to ==", re.compile(r"(?<= )!=(?= )"), "=="),
    Rule("-z to -n", re.compile(r"(\[\[ |\[ |&& |\|\| |! )-z(?= )"), r"\1-n"),
    Rule("-n to -z", re.compile(r"(\[\[ |\[ |&& |\|\| |! )-n(?= )"), r"\1-z"),
    Rule("true to false", re.compile(r"(=|== |!= |:-)true\b"), r"\1false"),
    Rule("false to true", re.compile(r"(=|== |!= |:-)false\b"), r"\1true"),
    Rule("exit removed", re.compile(r"\bexit [0-9]+"), ":"),
    Rule("return 1 to return 0", re.compile(r"\breturn 1\b"), "return 0"),
    Rule(">= to >", re.compile(r"(?<= )>=(?= )"), ">", only_in="(("),
    Rule("< to <=", re.compile(r"(?<= )<(?= )"), "<=", only_in="(("),
)


@dataclasses.dataclass(frozen=True)
class ShellMutant:
    script: str
    line: int
    column: int
    what: str
    before: str
    after: str

    @property
    def name(self) -> str:
        return f"{self.script}:{self.line}:{self.column} ({self.what})"


def shell_mutants(scripts: Path) -> list[ShellMutant]:
    found = []
    for path in sorted(scripts.glob("*.sh")):
        for number, text in enumerate(path.read_text().splitlines(), start=1):
            if text.lstrip().startswith("#") or text.startswith("set -"):
                continue
            for rule in RULES:
                if rule.only_in not in text:
                    continue
                for match in rule.pattern.finditer(text):
                    after = text[: match.start()] + match.expand(rule.replacement) + text[match.end() :]
                    found.append(ShellMutant(path.name, number, match.start() + 1, rule.what, text, after))
    return found


def _pytest(cwd: Path, timeout_s: float) -> tuple[int, float]:
    """Exit code of SHELL_TESTS in cwd (-1 for a timeout) and its duration."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", SHELL_TESTS]
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        code = proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        code = -1
    return code, time.monotonic() - start


def shell_part() -> list[Mutant]:
    copy = OUT / "shell"
    shutil.rmtree(copy, ignore_errors=True)
    copy.mkdir(parents=True)
    for name in SHELL_COPY:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, copy / name, ignore=shutil.ignore_patterns("__pycache__", ".hypothesis"))
        elif source.exists():
            shutil.copy2(source, copy / name)
    mutants = shell_mutants(copy / SCRIPTS)
    code, baseline = _pytest(copy, timeout_s=3600)
    if code != 0:
        sys.exit(f"{SHELL_TESTS} fails on the unmutated scripts (exit {code}): fix that first")
    print(f"shell: {len(mutants)} mutants, {SHELL_TESTS} takes {baseline:.0f}s unmutated", flush=True)
    found = []
    for i, m in enumerate(mutants, start=1):
        path = copy / SCRIPTS / m.script
        original = path.read_text()
        lines = original.splitlines(keepends=True)
        lines[m.line - 1] = m.after + "\n"
        path.write_text("".join(lines))
        try:
            code, _ = _pytest(copy, timeout_s=max(120.0, 5 * baseline))
        finally:
            path.write_text(original)
        status = {0: "survived", 1: "killed", -1: "timeout"}.get(code, f"suspicious (pytest exit {code})")
        diff = "".join(
            difflib.unified_diff([m.before + "\n"], [m.after + "\n"], f"{m.script}:{m.line}", "mutant")
        )
        found.append(Mutant(f"scripts/{m.script}", f"line {m.line}", m.name, status, diff))
        if status not in DETECTED:
            print(f"    survived: {m.name}", flush=True)
        elif i % 10 == 0:
            print(f"    {i}/{len(mutants)}", flush=True)
    return found


# --- the report ---------------------------------------------------------------------------------------


def report(mutants: list[Mutant]) -> str:
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for m in mutants:
        by_module[m.module][m.status] += 1
    rows = [
        "| module | killed / total | % | by mypy | by a timeout or crash | survived | no test reached it |",
        "|---|---|---|---|---|---|---|",
    ]

    def row(name: str, c: Counter[str]) -> str:
        total = sum(c.values()) - c["skipped"]
        killed = sum(c[status] for status in DETECTED)
        pct = 100 * killed / total if total else 100.0
        typed, crashed = c["caught by type check"], c["timeout"] + c["segfault"]
        counts = f"{typed} | {crashed} | {c['survived']} | {c['no tests']}"
        return f"| {name} | {killed} / {total} | {pct:.1f} | {counts} |"

    everything: Counter[str] = Counter()
    for module in sorted(by_module):
        rows.append(row(module, by_module[module]))
        everything.update(by_module[module])
    rows.append(row("**all**", everything))
    survivors = [m for m in mutants if m.status not in DETECTED and m.status != "skipped"]
    lines = ["# Mutation testing", "", *rows, "", f"## Survivors ({len(survivors)})", ""]
    for m in sorted(survivors, key=lambda m: (m.module, m.name)):
        lines += [
            f"### {m.module} `{m.function}`: {m.status}",
            "",
            f"`{m.name}`",
            "",
            "```diff",
            m.diff.strip(),
            "```",
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    part = parser.add_mutually_exclusive_group()
    part.add_argument("--python", action="store_true", help="only the Python part (mutmut)")
    part.add_argument("--shell", action="store_true", help="only the shell scripts")
    parser.add_argument("--resume", action="store_true", help="continue mutmut's last run in mutants/")
    parser.add_argument("--report", action="store_true", help="only report mutmut's last run")
    parser.add_argument(
        "--jobs", type=int, default=1, help="mutants tested at once (default 1: the machine stays usable)"
    )
    parser.add_argument("patterns", nargs="*", help="only these mutants, e.g. 'components.rules.*'")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    git = shutil.which("git") or "git"
    commit = subprocess.run(
        [git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run([git, "status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    start = time.monotonic()
    mutants = []
    if not args.shell:
        mutants += python_part(args.resume, args.patterns, run=not args.report, jobs=args.jobs)
    if not args.python and not args.report:
        mutants += shell_part()
    text = report(mutants)
    took = (time.monotonic() - start) / 60
    state = f"{commit or 'this tree'}{' with uncommitted changes' if dirty else ''}"
    when = "the last run's results" if args.report else f"in {took:.0f} minutes"
    text = text.replace("# Mutation testing\n", f"# Mutation testing\n\nOf {state}, {when}.\n", 1)
    (OUT / "report.md").write_text(text + "\n")
    print(text)
    print(f"\nwritten to {(OUT / 'report.md').relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""`make verify STACK=<stack>`: run the stack's workflow with `verify: true`, and report it.

A verify run of the committed workflow logs in to the registry the way the builds do and asks
each image's repository for a tag, pushing nothing; its job summary holds a table of what was
checked. This dispatches that run from the user's machine with the GitHub CLI (`gh`), on a ref
the stack's environment admits and whose runs its login trusts (`github.branch`, or for a stack
that builds only from release tags, the tag of its last successful release run; `--ref`
overrides), finds
the run it started, waits for it (saying so when the environment's reviewers must approve it)
and exits 0 only if it succeeded. `--no-wait` stops once the run is found. Inside GitHub Actions
(GITHUB_STEP_SUMMARY set), one line about the run goes into the job summary too.

Needs `gh` (logged in, or GH_TOKEN) and the stack file; not the Pulumi CLI, nor any cloud SDK.
Exit codes: 0 the run succeeded (or, with --no-wait, was found); 1 it failed, was cancelled, did
not finish or could not be dispatched or found; 2 a mistake to fix first (the stack file, `gh`
missing or not logged in; no tag to run on yet, or the workflow still in its pull request: 0
with --not-yet-ok).
"""

from __future__ import annotations

import argparse
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from components import rules
from components.config import ConfigError, parse
from components.contract import GITHUB_ISSUER
from components.settings import Settings
from components.stackfile import STACKS_DIR, StackFileError, describe, stack_config, stack_names
from components.workflow_render.push import identity
from tools.check import default_stack

GH_TIMEOUT = 60.0
"""Seconds any one `gh` command may take."""
FIND_INTERVAL = 3.0
"""Seconds between looks for the dispatched run (never more than --interval)."""
SKEW = 10.0
"""Seconds by which GitHub's clock may lag this machine's: a run created that long before the
dispatch may still be the one it started."""
RUN_FIELDS = "databaseId,url,createdAt,headBranch,status,conclusion"
NO_GH = (
    "this needs the GitHub CLI, `gh`, which is not on PATH: install it (https://cli.github.com), "
    "then run `gh auth login`"
)
NOT_LOGGED_IN = (
    "gh is not logged in to GitHub: run `gh auth login`, or set GH_TOKEN to a token that may run "
    "workflows (actions: write) in {repo}"
)
# What gh says when a dispatch is refused, and what to do about it.
DISPATCH_HINTS = (
    (
        ("unexpected inputs", "workflow_dispatch"),
        "the workflow at {ref} has no `verify` input: commit the current workflow with "
        "`pulumi up --stack {stack}` (for a tag, verify on one made after that, with --ref)",
    ),
    (
        ("could not find any workflow",),
        "{repo} has no workflow {file} on its default branch: commit it with `pulumi up --stack {stack}`",
    ),
    (
        ("no ref found", "no commit found", "ref not found"),
        "{repo} has no branch or tag {ref}",
    ),
    (
        ("resource not accessible", "http 403", "must have admin rights"),
        "the token may not run workflows in {repo}: it needs actions: write",
    ),
)
# What gh says when the workflow on the ref is not yet the committed one (no verify input, or
# no such file yet).
PENDING_PULL_REQUEST = ("unexpected inputs", "could not find any workflow")
_TOKEN = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9_]{10,}|github_pat_[A-Za-z0-9_]{10,})")


class VerifyError(Exception):
    """Why the verification stops, for the terminal (no traceback), and the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class NotYetError(VerifyError):
    """Nothing to verify yet, though nothing is wrong: a tags-only stack before its first
    release tag, a workflow still waiting in its pull request (`--not-yet-ok`: a notice)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 2)


class GhError(VerifyError):
    """A `gh` command that failed: the command, and what gh said (tokens masked)."""

    def __init__(self, argv: Sequence[str], said: str) -> None:
        self.said = said
        what = said.strip().splitlines()[-1] if said.strip() else "no message"
        super().__init__(f"`{shlex.join(['gh', *argv])}` failed: {what}")


# --- the one way out to a process -------------------------------------------------------------


def gh(*args: str, timeout: float = GH_TIMEOUT) -> str:
    """Run `gh <args>` (an argument list, no shell) and return what it printed; raise GhError
    with its message when it fails. Every process this module starts is started here."""
    path = shutil.which("gh")
    if path is None:
        raise VerifyError(NO_GH, 2)
    env = {**os.environ, "GH_PROMPT_DISABLED": "1", "GH_NO_UPDATE_NOTIFIER": "1", "NO_COLOR": "1"}
    try:
        done = subprocess.run(
            [path, *args], capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        raise VerifyError(f"`{shlex.join(['gh', *args])}` did not answer within {timeout:g} s") from None
    except OSError as err:
        raise VerifyError(f"could not run gh ({path}): {err.strerror or err}") from None
    if done.returncode != 0:
        raise GhError(args, _TOKEN.sub("[token]", done.stderr or done.stdout))
    return done.stdout


def gh_json(*args: str) -> Any:
    out = gh(*args)
    try:
        return json.loads(out)
    except json.JSONDecodeError:
        raise VerifyError(f"`{shlex.join(['gh', *args])}` printed something other than JSON") from None


# --- which ref ------------------------------------------------------------------------------------


def admits_tag(settings: Settings, tag: str) -> bool:
    """Whether a push of `tag` builds (workflow.tags) and the environment lets it in
    (github.deploymentTags, GitHub's deployment-policy patterns), so its login is trusted."""
    deployment = settings.github.deployment_tags
    return rules.filter_matches(settings.workflow.tags, tag) and (
        not deployment or any(rules.github_glob(p).match(tag) for p in deployment)
    )


def choose_ref(settings: Settings, repo: str, given: str | None) -> tuple[str, str]:
    """(the ref to run on, why that one)."""
    if given:
        return given, "--ref"
    if settings.workflow.branch_builds:
        return settings.github.branch, "github.branch, whose pushes build"
    return last_release(settings, repo)


def last_release(settings: Settings, repo: str) -> tuple[str, str]:
    """The tag of the newest successful release run of the stack's workflow: the release that
    was built (and, in a reviewed environment, approved), never a tag only because it sorts
    highest (anyone who may push a tag can push `v999.0.0`). GitHub lists a workflow's runs
    newest first; a tag push's run has the tag as its `head_branch`."""
    file = posixpath.basename(settings.workflow_path)
    listed = gh(
        *("api", "--method", "GET", f"repos/{repo}/actions/workflows/{file}/runs"),
        *("-f", "event=push", "-f", "status=success", "-f", "per_page=100"),
        *("--jq", r".workflow_runs[] | [.head_branch, .id, .html_url] | @tsv"),
    )
    for line in listed.splitlines():
        tag, run_id, url = [*line.split("\t"), "", "", ""][:3]
        if admits_tag(settings, tag):
            return tag, f"the tag of the last successful release run, {run_id}: {url}"
    raise NotYetError(
        f"stack '{settings.stack}' builds from release tags, and {file} of {repo} has no successful run "
        f"of a tag matching its patterns yet ({_patterns(settings)}). Push one (`git tag <tag> && git push "
        "origin <tag>`: that starts the release build), or name a ref with --ref"
    )


def _patterns(settings: Settings) -> str:
    text = "workflow.tags " + ", ".join(settings.workflow.tags)
    if settings.github.deployment_tags:
        text += "; github.deploymentTags " + ", ".join(settings.github.deployment_tags)
    return text


def short_ref(ref: str) -> str:
    """What `gh run list` calls a run's ref (`headBranch`): `main`, `v1.4.0`."""
    return re.sub(r"^refs/(heads|tags)/", "", ref)


# --- the run ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    interval: float = 10.0
    """Seconds between looks at the run's status."""
    find_timeout: float = 120.0
    """Seconds to wait for the dispatched run to show up."""
    timeout: float = 1800.0
    """Seconds to wait for the run to complete."""


def _runs(repo: str, file: str) -> list[dict[str, Any]]:
    found = gh_json(
        *("run", "list", "-R", repo, "--workflow", file, "--event", "workflow_dispatch"),
        *("--limit", "20", "--json", RUN_FIELDS),
    )
    if not isinstance(found, list):
        raise VerifyError("`gh run list` printed something other than a list of runs")
    return [r for r in found if isinstance(r, dict)]


def _created(run: dict[str, Any]) -> datetime:
    try:
        created = datetime.fromisoformat(str(run.get("createdAt", "")))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return created if created.tzinfo else created.replace(tzinfo=UTC)


def find_run(
    repo: str, file: str, ref: str, since: datetime, seen: set[object], timing: Timing
) -> dict[str, Any]:
    """The run the dispatch started: on `ref`, created at or after `since` (less the clock skew),
    and not among the runs `seen` before it."""
    deadline = time.monotonic() + timing.find_timeout
    earliest = since - timedelta(seconds=SKEW)
    while True:
        fresh = [
            r
            for r in _runs(repo, file)
            if r.get("headBranch") == short_ref(ref)
            and r.get("databaseId") not in seen
            and _created(r) >= earliest
        ]
        if fresh:
            return min(fresh, key=_created)
        if time.monotonic() >= deadline:
            raise VerifyError(
                f"dispatched, but no run of {file} on {short_ref(ref)} showed up within "
                f"{timing.find_timeout:g} s; look for it at https://github.com/{repo}/actions/workflows/{file}"
            )
        time.sleep(min(FIND_INTERVAL, timing.interval))


def describe_status(status: str, settings: Settings, url: str) -> str:
    env = settings.github.environment
    if status == "waiting" and settings.reviewed:
        return f"waiting: a reviewer of environment '{env}' must approve it (Review deployments at {url})"
    if status == "waiting" and settings.github.wait_timer:
        return f"waiting: environment '{env}' holds each job {settings.github.wait_timer} minutes"
    if status == "waiting":
        return f"waiting for the protection rules of environment '{env}'" if env else "waiting"
    if status == "queued":
        return "queued: waiting for a runner"
    if status == "in_progress":
        return "in progress: logging in and asking each repository"
    return status


def wait_for(repo: str, run: dict[str, Any], settings: Settings, timing: Timing) -> dict[str, Any]:
    """Look at the run every `interval` until it completes; a line each time its status changes."""
    deadline = time.monotonic() + timing.timeout
    url = str(run.get("url", ""))
    last, failures = None, 0
    while True:
        try:
            view = gh_json(
                "run", "view", str(run["databaseId"]), "-R", repo, "--json", "status,conclusion,url"
            )
            failures = 0
        except GhError:
            failures += 1  # a passing network blip; three in a row is not
            if failures >= 3:
                raise
            view = {"status": last}
        status = str(view.get("status") or "unknown")
        url = str(view.get("url") or url)
        if status != last and status != "completed":
            print(f"  {describe_status(status, settings, url)}", flush=True)
        last = status
        if status == "completed":
            return {**run, **view}
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise VerifyError(
                f"the run has not completed after {_duration(timing.timeout)} (status: {status}); "
                f"it goes on: {url}"
            )
        time.sleep(min(timing.interval, remaining))


CONCLUSIONS = {
    "success": "the registry login works and every image's repository answers; nothing was pushed",
    "failure": "something did not check out: the run's summary and log say what",
    "cancelled": "the run was cancelled (a newer verify run of the same ref cancels an older one)",
    "timed_out": "the run hit its timeout-minutes",
}


def summary_line(stack: str, ref: str, run: dict[str, Any], outcome: str) -> str:
    link = f"[run {run.get('databaseId')}]({run.get('url')})"
    return f"- acr-pipeline verify: stack `{stack}`, ref `{short_ref(ref)}`, {link}: **{outcome}**\n"


def write_summary(line: str) -> None:
    """Inside GitHub Actions: the line into the job's summary as well."""
    if path := os.environ.get("GITHUB_STEP_SUMMARY"):
        with Path(path).open("a") as summary:
            summary.write(line)


def verify(settings: Settings, ref: str | None, wait: bool, timing: Timing) -> int:
    repo = f"{settings.owner}/{settings.github.repository}"
    file = posixpath.basename(settings.workflow_path)
    try:
        gh("auth", "status")
    except GhError:
        raise VerifyError(NOT_LOGGED_IN.format(repo=repo), 2) from None
    ref, why = choose_ref(settings, repo, ref)
    try:
        seen: set[object] = {r.get("databaseId") for r in _runs(repo, file)}
    except GhError:
        seen = set()  # the dispatch says what is wrong, with a hint
    since = datetime.now(UTC)
    try:
        gh("workflow", "run", file, "-R", repo, "--ref", ref, "-f", "verify=true")
    except GhError as err:
        said = err.said.lower()
        if settings.workflow.via_pull_request and any(w in said for w in PENDING_PULL_REQUEST):
            raise NotYetError(
                f"the workflow at {ref} is not yet the one stack '{settings.stack}' commits: it waits in a "
                "pull request (workflow.viaPullRequest). Merge it, then "
                f"`make verify STACK={settings.stack}`"
            ) from None
        hints = [h for words, h in DISPATCH_HINTS if any(w in said for w in words)]
        hint = hints[0].format(ref=ref, repo=repo, file=file, stack=settings.stack) if hints else ""
        raise VerifyError(f"{err}" + (f"\n  {hint}" if hint else "")) from None
    print(f"Dispatched a verify run of stack '{settings.stack}'")
    print(f"  repository: {repo}\n  workflow  : {file}\n  ref       : {ref} ({why})", flush=True)
    run = find_run(repo, file, ref, since, seen, timing)
    url = str(run.get("url", ""))
    print(f"Run: {url}", flush=True)
    if not wait:
        pending = "dispatched; waiting for approval" if settings.reviewed else "dispatched; not waited for"
        write_summary(summary_line(settings.stack, ref, run, pending))
        print(f"Not waiting for it (--no-wait): {pending.partition('; ')[2]}")
        return 0
    if settings.reviewed:
        env = settings.github.environment
        print(f"Waiting for it: a reviewer of environment '{env}' must approve it first", flush=True)
    else:
        print("Waiting for it", flush=True)
    try:
        done = wait_for(repo, run, settings, timing)
    except VerifyError:
        write_summary(summary_line(settings.stack, ref, run, "not completed"))
        raise
    conclusion = str(done.get("conclusion") or "unknown")
    write_summary(summary_line(settings.stack, ref, done, conclusion))
    print(f"Conclusion: {conclusion}: {CONCLUSIONS.get(conclusion, 'see the run')}")
    print(f"The run's summary has the table of what was checked: {done.get('url') or url}")
    if settings.workflow.sign:
        print(consumer_check(settings, short_ref(ref)))
    return 0 if conclusion == "success" else 1


def consumer_check(settings: Settings, tag: str) -> str:
    """What anyone who pulls an image runs to check it was built by this workflow: `cosign
    verify` with GitHub's issuer and the workflow's identity (by tag here; by digest in an
    admission policy, docs/signing.md)."""
    lines = ["Anyone pulling an image checks it was built by this workflow with cosign:"]
    for image in settings.images:
        lines.append(
            f"  cosign verify --certificate-oidc-issuer {GITHUB_ISSUER} "
            f"--certificate-identity-regexp {shlex.quote(identity(settings))} "
            f"{settings.image_reference(image)}:{tag}"
        )
    return "\n".join(lines)


# --- the command ------------------------------------------------------------------------------------


def duration(text: str) -> float:
    """`90`, `90s`, `30m`, `1h`: seconds (a bare number is seconds)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 90s, 30m or 1h")
    return float(match[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[match[2]]


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "stack",
        nargs="?",
        help="stack name (stacks/Pulumi.<stack>.yaml); default: dev, or the one stack there is",
    )
    parser.add_argument(
        "--ref",
        help="the branch or tag to run on; default: github.branch, or for a stack that builds only "
        "from tags, the tag of its last successful release run (one its patterns and the "
        "environment's deployment tags admit)",
    )
    parser.add_argument(
        "--no-wait",
        dest="wait",
        action="store_false",
        help="stop once the run is found (print its URL, exit 0): for CI, where a reviewer may approve later",
    )
    parser.add_argument(
        "--no-wait-for-reviewers",
        action="store_true",
        help="wait, unless a reviewer must approve the run (the stack's environment has reviewers): "
        "then stop once it is found, as --no-wait (this repository's deploy CI)",
    )
    parser.add_argument(
        "--not-yet-ok",
        action="store_true",
        help="exit 0 with a notice when there is nothing to verify yet (a tags-only stack with no "
        "release tag, a workflow still waiting in its pull request): this repository's deploy CI",
    )
    parser.add_argument(
        "--timeout",
        type=duration,
        default=1800.0,
        metavar="DURATION",
        help="how long to wait for the run to complete (30m)",
    )
    parser.add_argument(
        "--find-timeout",
        type=duration,
        default=120.0,
        metavar="DURATION",
        help="how long to wait for the dispatched run to show up (120s)",
    )
    parser.add_argument(
        "--interval",
        type=duration,
        default=10.0,
        metavar="DURATION",
        help="time between looks at the run's status (10s)",
    )
    parser.add_argument("--stacks-dir", type=Path, default=STACKS_DIR, help="where the stack files are")
    parser.epilog = "A DURATION is seconds (90), or with a unit: 90s, 30m, 1h."
    args = parser.parse_args(argv)
    if args.stack is None:
        # As `make synth` without STACK: dev, or the only stack; else one must be named.
        args.stack = default_stack(args.stacks_dir)
        if args.stack is None:
            listed = ", ".join(stack_names(args.stacks_dir)) or f"none in {args.stacks_dir}"
            print(
                f"error: name the stack to verify: make verify STACK=<stack> (stacks: {listed})",
                file=sys.stderr,
            )
            return 2
    try:
        settings = parse(*stack_config(args.stack, args.stacks_dir), args.stack)
    except (ConfigError, StackFileError) as err:
        # A user's mistake: the same message as `make synth`, no stack trace.
        print(f"error: {describe(err, args.stack, args.stacks_dir)}", file=sys.stderr)
        return 2
    timing = Timing(interval=args.interval, find_timeout=args.find_timeout, timeout=args.timeout)
    try:
        wait = args.wait and not (args.no_wait_for_reviewers and settings.reviewed)
        return verify(settings, args.ref, wait, timing)
    except NotYetError as err:
        if not args.not_yet_ok:
            print(f"error: {err}", file=sys.stderr)
            return err.code
        print(f"Nothing to verify yet: {err}")
        write_summary(f"- acr-pipeline verify: stack `{args.stack}`: nothing to verify yet: {err}\n")
        return 0
    except VerifyError as err:
        sys.stdout.flush()
        print(f"error: {err}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print("\ninterrupted: a run already dispatched goes on without you", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""`make check-stacks`: no two stacks may write the same thing.

Every stack file in stacks/ is validated, then each stack's claims are collected: the GitHub
variables and secrets it writes (repository, scope, name), the environment it creates, the
workflow file it commits (repository, branch, path), and the ACR namespace, repositories and
instance-wide settings it manages. Two stacks claiming the same thing would overwrite each
other on every `pulumi up`; the check names both stacks and the clash. And no registry login
is shared by stacks of different trust (`shared_logins`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

from components.contract import GITHUB_ISSUER
from components.settings import Settings
from components.stackfile import (
    STACKS_DIR,
    creates_provider,
    load_stacks,
    secure_problems,
    shown,
    stack_names,
)

Claim = tuple[str, ...]
USAGE = """usage: python -m tools.check_stacks [STACKS_DIR]      no two stacks clash (make check-stacks)
       python -m tools.check_stacks order [STACKS_DIR]    stacks=[...] in deploy order (deploy CI)
       python -m tools.check_stacks previews [STACKS_DIR] stacks=[...] and offline=[...] (preview CI)"""


def claims(s: Settings) -> list[Claim]:
    """What one stack writes, each as a tuple whose first item says what kind of thing it is."""
    repo = f"{s.owner}/{s.github.repository}"
    scope = s.scope
    out: list[Claim] = [("GitHub variable", repo, scope, name.upper()) for name in s.variable_names]
    out += [("GitHub secret", repo, scope, name.upper()) for name in s.secrets]
    out += [("GitHub secret", repo, "repository", name.upper()) for name in s.repository_secrets]
    if s.github.environment:
        out.append(("GitHub environment", repo, s.github.environment))
    if creates_provider(s):
        # An account needs one OIDC provider for GitHub's issuer: one stack creates it, the others
        # name it. Two creators clash whatever their providerName: with one name RAM refuses the
        # second (EntityAlreadyExists), with two the account would hold two providers of one
        # issuer, each trusted by some roles. (Stacks on one instance share an account; on
        # different ones they may not.)
        out.append(("RAM OIDC provider", s.registry.instance_id or "", GITHUB_ISSUER))
    if s.workflow.name:
        # Two workflows of one name share a concurrency group: they would cancel each other.
        out.append(("workflow name", repo, s.github.branch, s.workflow.name))
    # A pull-request stack commits to a branch of its own, but the file lands on the same path.
    out += [("workflow file", repo, s.github.branch, path) for path in s.workflow_paths]
    if s.workflow.pull_requests:
        # Every pull request to the branch is built once, by the stack that owns the workflow.
        out.append(("pull-request workflow", repo, s.github.branch))
    reg = s.registry
    if reg.edition != "external":
        where = reg.instance_id or s.endpoint
        if reg.create_namespace:
            out.append(("ACR namespace", where, reg.namespace))
        out += [("ACR repository", where, f"{reg.namespace}/{image.name}") for image in s.images]
        out += [("internet ACL entry", where, entry.cidr) for entry in reg.public_access or ()]
    return out


def describe_claim(claim: Claim) -> str:
    kind, *rest = claim
    if kind in ("GitHub variable", "GitHub secret"):
        repo, scope, name = rest
        return f"{kind} {name} at {scope.replace(':', ' ')} scope of {repo}"
    if kind in ("workflow file", "workflow name"):
        repo, branch, path = rest
        return f"{kind} {path} on {repo}@{branch}"
    if kind == "pull-request workflow":
        repo, branch = rest
        return (
            f"pull-request workflow of {repo}@{branch} (one builds every pull request: "
            "set workflow.pullRequests on one stack only)"
        )
    if kind == "RAM OIDC provider":
        instance, _ = rest
        return (
            f"RAM OIDC provider for GitHub's tokens of the account of instance {instance} (one stack "
            "creates it with auth.oidcProvider: create; the others name it: auth.oidcProvider: <its name>)"
        )
    if kind == "internet ACL entry":
        where, cidr = rest
        return f"internet ACL entry {cidr} of instance {where}"
    return f"{kind} {' '.join(reversed(rest))}"


def clashes(stacks: Iterable[tuple[str, Settings]]) -> list[str]:
    owner: dict[Claim, str] = {}
    found: list[str] = []
    for stack, settings in stacks:
        for claim in claims(settings):
            if claim in owner and owner[claim] != stack:
                found.append(f"stacks {owner[claim]} and {stack} both write the {describe_claim(claim)}")
            owner.setdefault(claim, stack)
    return found


def shared_logins(stacks: Iterable[tuple[str, Settings]]) -> list[str]:
    """Two stacks of one registry that store the same login at different trust: the login of the
    one that any branch can read also pushes to the other's namespace, around its reviewers and
    deployment rules. (A username stored as a secret cannot be compared here.)"""
    by_login: dict[tuple[str, str], list[tuple[str, Settings]]] = {}
    for name, s in stacks:
        if s.auth.mode == "password" and isinstance(s.registry_username, str):
            by_login.setdefault((s.registry_key, s.registry_username), []).append((name, s))
    found = []
    for (registry, username), users in by_login.items():
        protected = [(n, s) for n, s in users if s.protected]
        open_ = [(n, s) for n, s in users if not s.protected]
        for (strict, s), (loose, t) in ((a, b) for a in protected for b in open_):
            found.append(
                f"stacks {loose} and {strict} store one registry login, {username}, for {registry}: {loose} "
                f"{t.trust}, {strict} {s.trust}; anyone who can push a branch could push to "
                f"{s.registry.namespace} with it. Give each trust level its own RAM user whose policy "
                "reaches only its namespace (docs/registry.md#one-login-per-trust-level), or set auth.mode: "
                f"oidc on {strict} (its role reaches only {s.registry.namespace})"
            )
    return found


def unprovable_sources(stacks: Iterable[tuple[str, Settings]]) -> list[str]:
    """A signing stack releases only images whose signature proves who built them: one of this
    repository's workflows (the renderer's push.identity). A stack that promotes from another
    stack's namespace could never promote (it would build, or with promote.build: false fail, on
    every release) when that stack does not sign, or signs from another repository."""
    stacks = list(stacks)
    found = []
    for name, s in stacks:
        promote = s.workflow.promote
        if not (s.workflow.sign and promote):
            continue
        for namespace in promote.from_namespaces:
            for other, t in stacks:
                if other == name or (t.registry_key, t.registry.namespace) != (s.registry_key, namespace):
                    continue
                fix = f"or remove {namespace} from {name}'s workflow.promote.fromNamespaces"
                if not t.workflow.sign:
                    found.append(
                        f"stack {name} signs and promotes from {namespace}, whose stack {other} does not "
                        "sign: no image there carries the signature a promotion checks. Set "
                        f"workflow.sign: true on {other}, {fix}"
                    )
                elif (t.owner, t.github.repository) != (s.owner, s.github.repository):
                    found.append(
                        f"stack {name} promotes from {namespace}, whose stack {other} signs from "
                        f"{t.owner}/{t.github.repository}, not {s.owner}/{s.github.repository}: a "
                        f"promotion takes only this repository's signatures. Build both from one "
                        f"repository, {fix}"
                    )
    return found


def provider_notices(stacks: Iterable[tuple[str, Settings]]) -> list[str]:
    """A stack that names an OIDC provider no stack here creates: it must exist already (made by
    hand, or by a stack kept elsewhere), or its preview fails naming it."""
    stacks = list(stacks)
    created = {s.auth.provider_name for _, s in stacks if creates_provider(s)}
    return [
        f"stack {name} names the OIDC provider {s.auth.named_provider!r}, which no stack here creates: "
        "it must exist in the account before `pulumi up`"
        for name, s in stacks
        if s.auth.named_provider and s.auth.named_provider not in created
    ]


def deploy_order(stacks: Iterable[tuple[str, Settings]]) -> tuple[list[str], list[str]]:
    """(the stacks that create an OIDC provider, then the others): the order deploy CI runs them
    in, so a stack that names a provider never deploys before the stack that creates it."""
    stacks = list(stacks)
    first = [name for name, s in stacks if creates_provider(s)]
    return first, [name for name, _ in stacks if name not in first]


def check(stacks_dir: Path = STACKS_DIR) -> tuple[list[str], list[str], list[str]]:
    """(problems, notices, the stacks that validate) for every stack file in `stacks_dir`."""
    if not stack_names(stacks_dir):
        where = shown(stacks_dir)
        return [f"no stack files (Pulumi.<stack>.yaml) in {where}: see README, 'Make it yours'"], [], []
    loaded, problems = load_stacks(stacks_dir)
    notices = provider_notices(loaded)
    for name, _ in loaded:
        found, said = secure_problems(name, stacks_dir)
        problems += found
        notices += said
    found = clashes(loaded) + shared_logins(loaded) + unprovable_sources(loaded)
    return problems + found, notices, [name for name, _ in loaded]


def previews(stacks: Iterable[tuple[str, Settings]]) -> tuple[list[str], list[str]]:
    """(the stacks a pull request may preview with their secrets, the protected ones): a
    protected stack's secrets (its passphrase, hence its `secure:` values) never reach a pull
    request's code; its plan on a pull request is the offline one (`make synth`)."""
    stacks = list(stacks)
    return [n for n, s in stacks if not s.protected], [n for n, s in stacks if s.protected]


def _loaded(argv: list[str]) -> list[tuple[str, Settings]] | None:
    """The stacks of the directory argv names (default: stacks/), or None once their errors are
    printed."""
    loaded, errors = load_stacks(Path(argv[0]) if argv else STACKS_DIR)
    if errors:
        print("\n".join(f"error: {e}" for e in errors), file=sys.stderr)
        return None
    return loaded


def main(argv: list[str] | None = None) -> int:
    argv = list(argv or [])
    if argv[:1] in (["--help"], ["-h"]):
        print(USAGE)
        return 0
    if argv[:1] == ["previews"]:
        # For preview CI, step outputs: `stacks=[...]` previewed with their secrets in environment
        # preview-<stack>, `offline=[...]` (protected stacks) planned offline, without any.
        loaded = _loaded(argv[1:])
        if loaded is None:
            return 1
        online, offline = previews(loaded)
        print(f"stacks={json.dumps(online, separators=(',', ':'))}")
        print(f"offline={json.dumps(offline, separators=(',', ':'))}")
        return 0
    if argv[:1] == ["order"]:
        # For deploy CI, a step output: `stacks=["prod","dev",...]`, the stacks in deploy order.
        loaded = _loaded(argv[1:])
        if loaded is None:
            return 1
        first, then = deploy_order(loaded)
        print(f"stacks={json.dumps(first + then, separators=(',', ':'))}")
        return 0
    problems, notices, names = check(Path(argv[0]) if argv else STACKS_DIR)
    for notice in notices:
        print(f"notice: {notice}")
    if problems:
        print("\n".join(f"error: {p}" for p in problems), file=sys.stderr)
        return 1
    print(f"{len(names)} stack{'s' if len(names) != 1 else ''}, no clashes: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

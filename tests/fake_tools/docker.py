"""A fake `docker` for the workflow's scripts: `buildx imagetools inspect` and `create` against a
registry kept in a JSON state file (tests/fakes.py). Usage: docker.py STATE LOG ARGS...

The registry: `images` (a tag reference -> its digest) and `manifests` (`<repository>@<digest>` ->
the digests of the platform images it holds: [] for a single-platform manifest, the children of
an index). It refuses what buildx refuses that the scripts rely on: a malformed reference (a
digest is `sha256:` and 64 hex digits), a source that the registry does not hold, a create
without a tag or without a source, an unknown option or `--format` template, and, in an
immutable repository (ACR EE's "immutable tags"), a tag that exists.

`imagetools create` as buildx makes it (util/imagetools/create.go, `Combine`): one source that
is an index is copied as it is (the same digest); one single-platform manifest is wrapped in a
new index (`--prefer-index`, true by default), so the new image's digest is not the source's;
several sources make an index of their platform images. The manifests a new image refers to are
copied into the tag's repository (a release from another namespace can be pulled by digest)."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# distribution/reference's grammar: [domain/]path[:tag][@digest]
REFERENCE = re.compile(
    rf"(?P<name>(?:{_LABEL}(?:\.{_LABEL})*(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
DIGEST_FORMAT = "{{.Manifest.Digest}}"


def index_digest(children: list[str]) -> str:
    """The digest of an index of `children` (any fixed function of them: the same sources make
    the same image)."""
    return "sha256:" + hashlib.sha256(json.dumps(children).encode()).hexdigest()


class RefusedError(Exception):
    """What buildx would print on stderr before exiting 1."""


def parse(ref: str) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of a reference; a reference without either is `:latest`."""
    match = REFERENCE.fullmatch(ref)
    if not match:
        raise RefusedError(f"ERROR: invalid reference format: {ref!r}")
    tag, digest = match["tag"], match["digest"]
    return match["name"], tag if tag or digest else "latest", digest


def resolve(state: dict[str, Any], ref: str) -> tuple[str, str, list[str]]:
    """(repository, digest, platform images) of what a reference names in the registry."""
    repository, tag, digest = parse(ref)
    if digest is None:
        digest = state["images"].get(f"{repository}:{tag}")
    key = f"{repository}@{digest}"
    if digest is None or key not in state["manifests"]:
        raise RefusedError(f"ERROR: {ref}: not found")
    return repository, digest, state["manifests"][key]


def options(args: list[str], flags: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """The values of each option in `flags` (each takes one value), and the other arguments;
    any other option is refused."""
    found: dict[str, list[str]] = {flag: [] for flag in flags}
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in flags:
            if i + 1 == len(args):
                raise RefusedError(f"ERROR: flag needs an argument: {arg}")
            found[arg].append(args[i + 1])
            i += 2
            continue
        if arg.startswith("-"):
            raise RefusedError(f"fake docker: unknown flag {arg}")
        rest.append(arg)
        i += 1
    return found, rest


def inspect(state: dict[str, Any], args: list[str]) -> str:
    found, refs = options(args, {"--format"})
    if len(refs) != 1:
        raise RefusedError(
            f'ERROR: "docker buildx imagetools inspect" requires exactly 1 argument, got {refs}'
        )
    formats = found["--format"]
    if formats not in ([], [DIGEST_FORMAT]):
        raise RefusedError(f"fake docker: unsupported --format {formats}")
    (ref,) = refs
    for pattern, message in state.get("errors", {}).items():
        if pattern in ref:
            raise RefusedError(message)
    _, digest, children = resolve(state, ref)
    if formats:
        return digest
    kind = (
        "application/vnd.oci.image.index.v1+json"
        if children
        else "application/vnd.oci.image.manifest.v1+json"
    )
    return f"Name:      {ref}\nMediaType: {kind}\nDigest:    {digest}"


def create(state: dict[str, Any], args: list[str]) -> None:
    found, sources = options(args, {"-t", "--tag"})
    tags = found["-t"] + found["--tag"]
    if not sources:
        raise RefusedError("ERROR: no sources specified")
    if not tags:
        raise RefusedError("ERROR: can't push with no tags specified, please set --tag or --dry-run")
    targets = [parse(tag) for tag in tags]
    if any(digest for _, _, digest in targets):
        raise RefusedError(f"ERROR: a tag to create is a digest: {tags}")
    if state.get("fail_create", 0) > 0:
        state["fail_create"] -= 1
        raise RefusedError("ERROR: failed to push: 502 Bad Gateway")
    resolved = [resolve(state, source) for source in sources]
    if len(resolved) == 1 and resolved[0][2]:
        _, digest, children = resolved[0]  # one index: copied as it is
    else:
        children = [child for _, d, platforms in resolved for child in (platforms or [d])]
        digest = index_digest(children)
    for (repository, tag, _), ref in zip(targets, tags, strict=True):
        # An immutable repository refuses a push to a tag it has (whether the very same digest
        # is let through is not documented: the stricter answer).
        if state.get("immutable") and f"{repository}:{tag}" in state["images"]:
            raise RefusedError(f"ERROR: {ref}: tag already exists (immutable)")
    for repository, tag, _ in targets:
        for child in children:
            state["manifests"][f"{repository}@{child}"] = []
        state["manifests"][f"{repository}@{digest}"] = children
        state["images"][f"{repository}:{tag}"] = digest


def main(state_path: Path, log: Path, args: list[str]) -> int:
    state: dict[str, Any] = json.loads(state_path.read_text())
    with log.open("a") as out:
        out.write(json.dumps(["docker", *args]) + "\n")
    state.setdefault("images", {})
    state.setdefault("manifests", {})
    try:
        if args[:3] == ["buildx", "imagetools", "inspect"]:
            print(inspect(state, args[3:]))
            return 0
        if args[:3] == ["buildx", "imagetools", "create"]:
            try:
                create(state, args[3:])
            finally:
                state_path.write_text(json.dumps(state))  # a failure counted down
            return 0
    except RefusedError as refused:
        sys.stderr.write(f"{refused}\n")
        return 2 if str(refused).startswith("fake docker") else 1
    sys.stderr.write(f"fake docker: unexpected {args}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))

"""A fake `docker` for the workflow's scripts: `buildx imagetools inspect` and `create` against a
registry kept in a JSON state file (tests/fakes.py). Usage: docker.py STATE LOG ARGS...

The registry: `images` (a tag reference -> its digest), `manifests` (`<repository>@<digest>` ->
the digests of the platform images it holds: [] for a single-platform manifest, the children of
an index) and `configs` (a platform image's digest -> its image config, the OCI image-spec's
`Image`: platform, `config.Labels`, ...; content-addressed, so the same in every repository).
It refuses what buildx refuses that the scripts rely on: a malformed reference (a digest is
`sha256:` and 64 hex digits), a source that the registry does not hold, a create without a tag
or without a source, an unknown option or `--format` template, and, in an immutable repository
(ACR EE's "immutable tags"), a tag that exists. `errors` (a text -> buildx's message) fails any
inspect of a reference containing that text, as a registry that answers otherwise would;
`fail_create` fails that many creates; `cut_after` fails one create after that many of its tags
are pushed (buildx pushes tag by tag: a release can be left partly pushed).

`inspect --format '{{.Manifest.Digest}}'` prints the digest; `--format '{{json .Image}}'` the
image config as buildx prints it (util/imagetools/printers.go, loader.go): the platform images
are keyed by platform (`linux/arm64`); an image of more than one platform gets a map platform ->
config (Go's encoding/json: keys sorted, indented by two spaces), one of at most one platform
that one config (`null` when it has none).

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
IMAGE_FORMAT = "{{json .Image}}"


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
    if formats not in ([], [DIGEST_FORMAT], [IMAGE_FORMAT]):
        raise RefusedError(f"fake docker: unsupported --format {formats}")
    (ref,) = refs
    for pattern, message in state.get("errors", {}).items():
        if pattern in ref:
            raise RefusedError(message)
    _, digest, children = resolve(state, ref)
    if formats == [DIGEST_FORMAT]:
        return digest
    if formats == [IMAGE_FORMAT]:
        return go_json(image_configs(state, children or [digest]))
    kind = (
        "application/vnd.oci.image.index.v1+json"
        if children
        else "application/vnd.oci.image.manifest.v1+json"
    )
    return f"Name:      {ref}\nMediaType: {kind}\nDigest:    {digest}"


def image_configs(state: dict[str, Any], platform_images: list[str]) -> Any:
    """`.Image`: the configs of the platform images by platform (a later image of a platform
    replaces an earlier one, as in buildx's map); one config when there is at most one platform."""
    by_platform: dict[str, Any] = {}
    for child in platform_images:
        config = state.get("configs", {}).get(child)
        if config is None:
            raise RefusedError(f"ERROR: {child}: config not found")
        platform = "/".join(
            part for part in (config["os"], config["architecture"], config.get("variant")) if part
        )
        by_platform[platform] = config
    if len(by_platform) > 1:
        return dict(sorted(by_platform.items()))
    return next(iter(by_platform.values()), None)


def go_json(value: Any) -> str:
    """json.MarshalIndent(value, "", "  ") as Go writes it (map keys sorted by the caller; `<`,
    `>` and `&` escaped)."""
    text = json.dumps(value, indent=2, ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text


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
    # `cut_after`: the registry fails once after that many tags are pushed (buildx pushes
    # tag by tag: a failure can leave some of them there).
    cut = state.pop("cut_after", None)
    for n, (repository, tag, _) in enumerate(targets):
        if n == cut:
            raise RefusedError("ERROR: failed to push: 502 Bad Gateway")
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

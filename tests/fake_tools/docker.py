"""A fake `docker` for the workflow's scripts: `buildx imagetools inspect` and `create` against a
registry kept in a JSON state file (tests/fakes.py). Usage: docker.py STATE LOG ARGS..."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any


def main(state_path: Path, log: Path, args: list[str]) -> int:
    state: dict[str, Any] = json.loads(state_path.read_text())
    with log.open("a") as out:
        out.write(json.dumps(["docker", *args]) + "\n")
    images: dict[str, str] = state.setdefault("images", {})
    if args[:3] == ["buildx", "imagetools", "inspect"]:
        ref = args[3]
        for pattern, message in state.get("errors", {}).items():
            if pattern in ref:
                sys.stderr.write(message + "\n")
                return 1
        if ref not in images:
            sys.stderr.write(f"ERROR: {ref}: not found\n")
            return 1
        print(images[ref] if "--format" in args else json.dumps({"digest": images[ref]}))
        return 0
    if args[:3] == ["buildx", "imagetools", "create"]:
        if state.get("fail_create", 0) > 0:
            state["fail_create"] -= 1
            state_path.write_text(json.dumps(state))
            sys.stderr.write("ERROR: failed to push: 502 Bad Gateway\n")
            return 1
        tags = [args[i + 1] for i, a in enumerate(args) if a == "-t"]
        sources = [a for i, a in enumerate(args[3:], 3) if a != "-t" and args[i - 1] != "-t"]
        digest = "sha256:" + hashlib.sha256(" ".join(sources).encode()).hexdigest()
        for tag in tags:
            # An immutable repository refuses a push to a tag it has (ACR EE's "immutable tags";
            # whether the very same digest is let through is not documented: the stricter answer).
            if tag in images and state.get("immutable"):
                sys.stderr.write(f"ERROR: {tag}: tag already exists (immutable)\n")
                return 1
        images.update(dict.fromkeys(tags, digest))
        state_path.write_text(json.dumps(state))
        return 0
    sys.stderr.write(f"fake docker: unexpected {args}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]))

"""`python -m tools.stackfile target <stack>`: the repository a stack writes to, for CI (the
reading of stack files is components/stackfile.py's)."""

from __future__ import annotations

import sys

from components.config import ConfigError, parse
from components.stackfile import StackFileError, describe, stack_config


def main(argv: list[str]) -> int:
    """`python -m tools.stackfile target <stack>`: the repository a stack writes to, as GitHub
    step outputs (`owner=...`, `repository=...`), for a token scoped to that one repository."""
    if len(argv) != 2 or argv[0] != "target":
        helped = argv[:1] in (["-h"], ["--help"])
        print("usage: python -m tools.stackfile target <stack>", file=sys.stdout if helped else sys.stderr)
        return 0 if helped else 2
    try:
        settings = parse(*stack_config(argv[1]), argv[1])
    except (ConfigError, StackFileError) as err:
        print(f"error: {describe(err, argv[1])}", file=sys.stderr)
        return 2
    print(f"owner={settings.owner}\nrepository={settings.github.repository}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Stack files (`stacks/Pulumi.<stack>.yaml`) read the way Pulumi hands them to a program.

Offline tools (synth, check-stacks, verify, the tests) read the files themselves, so this is
where a file that does not parse is reported as `path:LINE:COL: what is wrong`, where a
`secure:` value that is not ciphertext is caught, and where a configuration problem is pointed
at its line. The program reads them for one thing only: which stack creates the account's OIDC
provider another stack names (`provider_creators`, a hint in its error), the answer
`make check-stacks` gives too.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from components.config import ConfigError, parse
from components.settings import Settings

ROOT_DIR = Path(__file__).resolve().parent.parent

STACKS_DIR = Path(os.environ.get("ACR_PIPELINE_STACKS", ROOT_DIR / "stacks"))
"""The stacks the tools and `make test` check: ./stacks, or ACR_PIPELINE_STACKS."""
PLACEHOLDER = "REPLACE-ME"
"""Our examples' `secure:` values start with this: not ciphertext, and known not to be."""


class StackFileError(Exception):
    """A stack file that cannot be used, with where and why; never a traceback."""


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT_DIR)) if path.is_relative_to(ROOT_DIR) else str(path)


def stack_names(stacks_dir: Path = STACKS_DIR) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))


def stack_path(stack: str, stacks_dir: Path = STACKS_DIR) -> Path:
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(stack_names(stacks_dir)) or "none"
        raise StackFileError(f"no stack file {shown(path)} (stacks: {known})")
    return path


def read(path: Path) -> CommentedMap:
    """The file's YAML, keeping line numbers. A file that does not parse, or parses into what
    was not meant (`repository:shop`, a list item one space off), is one `path:LINE:COL:` error
    in words, with the line shown (`slips`); the parser's own words follow where it failed."""
    text = path.read_text()
    found = slips(text)
    try:
        data = YAML(typ="rt").load(text)
    except MarkedYAMLError as err:
        raise StackFileError(_parse_error(path, text, err, found)) from None
    if found:
        raise StackFileError(_slip_error(path, text, found[0]))
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap) or not isinstance(
        data.get("config", {}), (CommentedMap, type(None))
    ):
        raise StackFileError(
            f"{shown(path)}:1:1: a stack file is a map with a `config:` map of keys to values"
        )
    return data


Slip = tuple[int, int, str]
"""A mistake in a stack file's text: its line and column (from 1) and what is wrong, in words."""

_KEY_SLIP = re.compile(r"((?:[A-Za-z0-9_-]+:)?[A-Za-z_][A-Za-z0-9_.-]*):(?=[^\s:/])")
_BLOCK_SCALAR = re.compile(r":\s*[|>][-+0-9]*\s*(#.*)?$")


def slips(text: str) -> list[Slip]:
    """The slips YAML lets through or reports only in its own terms: a tab that indents, a key
    and its value with no space after the colon (`repository:shop`, read as one string), a
    list item not lined up with the items above it (read as part of the item above, or an
    error about "block ends"). Lines of a block scalar (`|`, `>`) are text and not looked at."""
    found: list[Slip] = []
    lines = text.splitlines()
    items: list[tuple[int, int, bool]] = []  # content lines before: (line, indent, a list item)
    block = -1  # the indentation a block scalar's lines exceed, while in one
    for number, line in enumerate(lines, start=1):
        content = line.lstrip(" \t")
        if not content or content.startswith("#"):
            continue
        indent = len(line) - len(content)
        if block >= 0 and indent > block:
            continue
        block = indent if _BLOCK_SCALAR.search(line) else -1
        if "\t" in line[:indent]:
            found.append(
                (number, line.index("\t") + 1, "a tab indents this line, and YAML indents with spaces only")
            )
            continue
        item = content.startswith("- ") or content == "-"
        body = content[2:].lstrip() if item else content
        code = body.split(" #")[0].rstrip()
        if (slip := _KEY_SLIP.match(code)) and ": " not in code and not code.endswith(":"):
            key, column = slip[1], indent + (len(content) - len(body)) + len(slip[1]) + 1
            rest = code[len(key) + 1 :]
            found.append((number, column, f"no space after the colon of `{key}`: write `{key}: {rest}`"))
        if item and items and items[-1][2] and items[-1][1] != indent:
            # The item above is of another list only if a line before it at this indentation is
            # an item too (an outer list, resumed).
            above = next((i for i in reversed(items) if i[1] <= indent), None)
            if above is None or not (above[2] and above[1] == indent):
                line_above, indent_above, _ = items[-1]
                found.append(
                    (
                        number,
                        indent + 1,
                        f"this list item is indented {indent} spaces and the one above it (line "
                        f"{line_above}) {indent_above}: the items of one list start in one column",
                    )
                )
        items.append((number, indent, item))
    return found


def _shown_line(text: str, line: int, column: int) -> str:
    """The line, numbered, and a caret under the column."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    gutter = f"{line:>5} | "
    return f"\n{gutter}{lines[line - 1]}\n{' ' * (len(gutter) - 2)}| {' ' * (column - 1)}^"


def _slip_error(path: Path, text: str, slip: Slip) -> str:
    line, column, words = slip
    return f"{shown(path)}:{line}:{column}: {words}{_shown_line(text, line, column)}"


def _parse_error(path: Path, text: str, err: MarkedYAMLError, found: list[Slip]) -> str:
    """A parse error in words: the slip on or before the line the parser stopped at; else an
    unclosed bracket or quote, at where it opened; else where the parser stopped. Then the
    parser's own words."""
    mark = err.problem_mark or err.context_mark
    said = "; ".join(str(part) for part in (err.context, err.problem) if part)
    stop = mark.line + 1 if mark else len(text.splitlines())
    near = [slip for slip in found if slip[0] <= stop]
    if near:
        return f"{_slip_error(path, text, near[-1])}\n(the YAML parser: {said})"
    opened = err.context_mark
    if opened and err.context in ("while parsing a flow sequence", "while parsing a flow mapping"):
        bracket = "]" if "sequence" in err.context else "}"
        line, column = opened.line + 1, opened.column + 1
        words = f"this `{'[' if bracket == ']' else '{'}` is never closed: a `{bracket}` is missing"
    elif opened and err.context == "while scanning a quoted scalar":
        line, column = opened.line + 1, opened.column + 1
        quote = text.splitlines()[opened.line][opened.column]
        words = f"this {quote} is never closed: the string runs on to the end of the file"
    elif mark is None:
        return f"{shown(path)}: {said}"
    else:
        line, column, words = mark.line + 1, mark.column + 1, str(err.problem or err.context)
        said = ""
    where = f"{shown(path)}:{line}:{column}: {words}{_shown_line(text, line, column)}"
    return where + (f"\n(the YAML parser: {said})" if said else "")


def stack_config(stack: str, stacks_dir: Path = STACKS_DIR) -> tuple[dict[str, str], set[str]]:
    """A stack's config as Pulumi hands it to a program: `ns:key` -> string, plus the secret
    keys. Each `secure:` value becomes a placeholder (offline tools never decrypt)."""
    raw = read(stack_path(stack, stacks_dir)).get("config") or {}
    values: dict[str, str] = {}
    secrets: set[str] = set()
    for key, value in raw.items():
        if value is None:
            continue  # `key:` with nothing after it is unset
        if isinstance(value, dict) and set(value) == {"secure"}:
            values[key] = f"synth-placeholder-for-{key}"
            secrets.add(key)
        elif isinstance(value, bool):
            values[key] = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            values[key] = json.dumps(value)
        else:
            values[key] = str(value)
    return values, secrets


def _ciphertext(value: str) -> bool:
    """What `pulumi config set --secret` writes: `v1:<nonce>:<ciphertext>` in base64 for the
    passphrase and cloud-KMS secrets providers (pkg/resource/config/crypt.go,
    symmetricCrypter.EncryptValue: a 12-byte AES-GCM nonce and at least the 16-byte tag), or
    plain base64 of the ciphertext for Pulumi Cloud's."""

    def decoded(text: str) -> int:
        try:
            return len(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError):
            return -1

    parts = value.split(":")
    if len(parts) == 3 and parts[0] == "v1":
        return decoded(parts[1]) == 12 and decoded(parts[2]) >= 16
    return len(parts) == 1 and decoded(value) >= 16


def secure_problems(stack: str, stacks_dir: Path = STACKS_DIR) -> tuple[list[str], list[str]]:
    """(problems, notices) about the `secure:` values of a stack file."""
    path = stack_path(stack, stacks_dir)
    raw = read(path).get("config") or CommentedMap()
    problems, notices = [], []
    for key, value in raw.items():
        if not (isinstance(value, dict) and "secure" in value):
            continue
        line = f"{shown(path)}:{raw.lc.key(key)[0] + 1}"
        name = key.partition(":")[2] if key.startswith("acr-pipeline:") else key
        fix = f"pulumi config set --secret {name} --stack {stack}"
        secure = value["secure"]
        if isinstance(secure, str) and secure.startswith(PLACEHOLDER):
            notices.append(f"{line}: {key} is a placeholder; before `pulumi up`, run `{fix}`")
        elif not isinstance(secure, str) or not _ciphertext(secure):
            # Never echo it: a hand-typed value here is most likely the plaintext secret.
            problems.append(f"{line}: {key}: `secure:` holds something that is not ciphertext; run `{fix}`")
    return problems, notices


def line_of(path: Path, key: str) -> int | None:
    """The line of the deepest part of `acr-pipeline:images[1].name` that the file holds."""
    return line_in(read(path).get("config"), key)


def line_in(config: Any, key: str) -> int | None:
    """`line_of` in a stack file's `config:` as `read` gives it (read once for many keys)."""
    top, rest = re.match(r"([^.\[]+)(.*)", key).groups()  # type: ignore[union-attr]
    parts = [(None, top), *re.findall(r"\[(\d+)\]|\.([^.\[]+)", rest)]
    node = config
    line = None
    for index, name in parts:
        if isinstance(node, CommentedMap) and name in node:
            line, node = node.lc.key(name)[0] + 1, node[name]
        elif isinstance(node, CommentedSeq) and index and int(index) < len(node):
            line, node = node.lc.item(int(index))[0] + 1, node[int(index)]
        else:
            break
    return line


def located(path: Path, keys: list[str], problems: list[str]) -> list[str]:
    """Each problem prefixed with `path:LINE:` where its key is written (or just `path:`)."""
    out = []
    config = read(path).get("config")
    for key, problem in zip(keys, problems, strict=True):
        line = line_in(config, key)
        out.append(f"{shown(path)}:{line}: {problem}" if line else f"{shown(path)}: {problem}")
    return out


def describe(err: ConfigError | StackFileError, stack: str, stacks_dir: Path = STACKS_DIR) -> str:
    """A user's mistake in a stack file, for the terminal: each problem at its line, no trace."""
    if isinstance(err, StackFileError):
        return str(err)
    count = f"{len(err.problems)} problem{'s' if len(err.problems) != 1 else ''}"
    lines = located(stack_path(stack, stacks_dir), err.keys, err.problems)
    return f"invalid configuration of stack '{stack}' ({count}):\n" + "\n".join(
        f"  - {line}" for line in lines
    )


def load_stacks(stacks_dir: Path = STACKS_DIR) -> tuple[list[tuple[str, Settings]], list[str]]:
    """Every stack that validates, and a description of each that does not."""
    loaded: list[tuple[str, Settings]] = []
    errors: list[str] = []
    for name in stack_names(stacks_dir):
        try:
            loaded.append((name, parse(*stack_config(name, stacks_dir), name)))
        except (ConfigError, StackFileError) as err:
            errors.append(describe(err, name, stacks_dir))
    return loaded, errors


def creates_provider(s: Settings) -> bool:
    return s.auth.mode == "oidc" and s.auth.oidc_provider == "create"


def provider_creators(name: str, instance_id: str | None, stacks_dir: Path | None = None) -> list[str]:
    """The stacks in `stacks_dir` (default: stacks/) that create an OIDC provider of this name,
    those on the same instance (so the same account) first."""
    loaded, _ = load_stacks(stacks_dir or STACKS_DIR)
    creators = [(n, s) for n, s in loaded if creates_provider(s) and s.auth.provider_name == name]
    creators.sort(key=lambda creator: creator[1].registry.instance_id != instance_id)
    return [n for n, _ in creators]

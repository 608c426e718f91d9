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
    """The file's YAML, keeping line numbers; a syntax error is one `path:LINE:COL:` line."""
    try:
        data = YAML(typ="rt").load(path.read_text())
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise StackFileError(f"{shown(path)}{where}: {err.problem or err.context}") from None
    if data is None:
        return CommentedMap()
    if not isinstance(data, CommentedMap) or not isinstance(
        data.get("config", {}), (CommentedMap, type(None))
    ):
        raise StackFileError(
            f"{shown(path)}:1:1: a stack file is a map with a `config:` map of keys to values"
        )
    return data


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
    top, rest = re.match(r"([^.\[]+)(.*)", key).groups()  # type: ignore[union-attr]
    parts = [(None, top), *re.findall(r"\[(\d+)\]|\.([^.\[]+)", rest)]
    node: Any = read(path).get("config")
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
    for key, problem in zip(keys, problems, strict=True):
        line = line_of(path, key)
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

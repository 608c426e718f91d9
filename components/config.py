"""Pulumi's flat stack config -> the settings model, and every problem -> one clear message.

Pulumi hands a program its config as `namespace:key` -> text (objects and lists as JSON),
plus which keys are secrets. This module accounts for every key (unknown `acr-pipeline:` keys
and near misses of our namespaces are refused with a did-you-mean), refuses secrets kept in
plaintext and secrets where none belong, validates the rest with the model, and translates
pydantic's error objects into our wording: the full key (`acr-pipeline:images[1].name`), the
value (never a secret's), and the rule. A user never sees a pydantic message or a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any, Literal, get_args, get_origin

import pulumi
from pydantic import BaseModel, ValidationError

from components import rules
from components.combinations import across_sections
from components.contract import PROJECT
from components.fields import MISSING, Secret
from components.settings import Settings
from components.workflow_render.limits import limit_problems

PROVIDERS = ("alicloud", "github")
NAMESPACES = (PROJECT, *PROVIDERS)
"""The config namespaces this program reads; a near miss of one is refused."""
FIELDS = {f.alias or n: f for n, f in Settings.model_fields.items() if n != "stack"}
"""Every key a stack's config may hold for this program, by its full name."""
SECRET_KEYS = frozenset(k for k, f in FIELDS.items() if Secret in get_args(f.annotation))
MAY_BE_SECRET = SECRET_KEYS | {f"{PROJECT}:registryUsername"}


class ConfigError(pulumi.RunError):
    """Every problem in a stack's configuration, one per line.

    A ``pulumi.RunError`` so that `pulumi up` prints the message without a stack trace.
    """

    def __init__(self, problems: list[str], stack: str, keys: list[str]) -> None:
        self.problems = problems
        self.keys = keys
        """The full key of each problem, for tools that point at the line in a stack file."""
        lines = "\n".join(f"  - {p}" for p in problems)
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"Invalid configuration of stack '{stack}' ({count}):\n{lines}")


Problem = tuple[str, str]
"""(full key, message): one problem of a stack's configuration."""


def parse(values: Mapping[str, str], secret_keys: Collection[str], stack: str) -> Settings:
    """Validate raw stack config (``namespace:key`` -> string) into :class:`Settings`.

    Raises :class:`ConfigError` listing every problem found.
    """
    found: list[Problem] = []
    data: dict[str, Any] = {"stack": stack}
    for key, raw in values.items():
        if rule := _unknown(key):
            found.append((key, f"{key}: {rule}"))  # never the value: it may be a credential misplaced
        elif key not in FIELDS or raw == "":
            continue  # another namespace's key (users may keep their own), or unset
        elif key in secret_keys and key not in MAY_BE_SECRET:
            found.append(_misplaced_secret(key))
        else:
            if key in SECRET_KEYS and key not in secret_keys:
                found.append(_plaintext_secret(key))
            data[key], problem = _decoded(key, raw, secret_keys)
            found += [problem] if problem else []
    settings, model_problems = _validated(data, secret_keys)
    if settings is not None:
        # The rules between sections, once each section is valid on its own.
        model_problems += [
            _message(loc, value, rule, secret_keys) for loc, value, rule in across_sections(settings)
        ]
        settings = None if model_problems else settings
    # One problem per key: nothing that follows from a refusal already reported.
    found += [(key, message) for key, message in model_problems if not _under(key, [k for k, _ in found])]
    if settings is not None and not found:
        # GitHub's limits on the committed workflows, once the settings are otherwise right.
        found += limit_problems(settings)
    if found or settings is None:
        raise ConfigError([m for _, m in found], stack, [k for k, _ in found])
    return settings


def _misplaced_secret(key: str) -> Problem:
    may = ", ".join(k.partition(":")[2] for k in sorted(MAY_BE_SECRET) if k.startswith(PROJECT))
    return key, f"{key}: is stored as a secret, but only {may} may be; its value is not shown"


def _plaintext_secret(key: str) -> Problem:
    name = key.partition(":")[2] if key.startswith(PROJECT) else key
    tail = (
        "or leave it unset and export GITHUB_TOKEN"
        if key == "github:token"
        else "the value is not shown here"
    )
    return key, f"{key}: is stored in plaintext; encrypt it with `pulumi config set --secret {name}` ({tail})"


def _decoded(key: str, raw: str, secret_keys: Collection[str]) -> tuple[Any, Problem | None]:
    """Pulumi hands objects and lists over as JSON text; anything else is the text itself."""
    if not raw.lstrip().startswith(("{", "[")) or key in MAY_BE_SECRET:
        return raw, None
    try:
        return json.loads(raw), None
    except json.JSONDecodeError:
        return raw, _message((key,), raw, "is not valid JSON/YAML", secret_keys)


def _validated(data: dict[str, Any], secret_keys: Collection[str]) -> tuple[Settings | None, list[Problem]]:
    # Each rule quotes the stack's own edition (a Personal Edition repository name: 2-30
    # characters, no tiers), so the fields that depend on it learn it first.
    registry = data.get(f"{PROJECT}:registry")
    edition = registry.get("edition") if isinstance(registry, dict) else None
    context = {
        "edition": edition if isinstance(edition, str) and edition in rules.ACR_LIMITS else "enterprise"
    }
    try:
        return Settings.model_validate(data, context=context), []
    except ValidationError as err:
        return None, _translate(err, secret_keys)


def _under(key: str, reported: list[str]) -> bool:
    """Whether `key` is one of `reported`, or inside one of them."""
    return any(key == k or key.startswith((f"{k}.", f"{k}[")) for k in reported)


def load() -> Settings:
    """Settings from the running Pulumi program's configuration."""
    from pulumi.runtime.config import CONFIG, is_config_secret

    values: dict[str, str] = dict(CONFIG.get())
    settings = parse(values, {k for k in values if is_config_secret(k)}, pulumi.get_stack())
    for _, warning in settings.warnings:
        pulumi.log.warn(warning)
    return settings


def _unknown(key: str) -> str | None:
    """Why a top-level key is refused: unknown in our namespace, or a near miss of one."""
    namespace, _, name = key.partition(":")
    if namespace == PROJECT and key not in FIELDS:
        known = [k.partition(":")[2] for k in FIELDS if k.startswith(f"{PROJECT}:")]
        return f"unknown key{rules.did_you_mean(name, known)}; known keys: {', '.join(known)}"
    # Our own namespace is corrected from further away; the providers' from one edit only, so
    # other providers' namespaces (`gitlab:` is two from `github:`) are left alone.
    near = rules.suggest(namespace, [PROJECT]) or rules.suggest(namespace, PROVIDERS, limit=1)
    if namespace not in NAMESPACES and near:
        meant = rules.suggest(f"{near}:{name}", FIELDS) or f"{near}:{name}"
        return f"unknown namespace '{namespace}' (did you mean '{meant}'?)"
    return None


# --- pydantic's errors, in our words ------------------------------------------------------------

Loc = tuple[str | int, ...]
WORDS = {
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "dict_type": "must be an object (a YAML map)",
    "model_type": "must be an object (a YAML map)",
    "model_attributes_type": "must be an object (a YAML map)",
}


def _translate(err: ValidationError, hidden: Collection[str]) -> list[tuple[str, str]]:
    """(full key, message) for each problem."""
    out = []
    for e in err.errors():
        if e["type"] == "default_factory_not_called":
            continue  # a default derived from a field that was refused: a follow-on
        ctx = e.get("ctx", {})
        if e["type"] == "rules":  # our cross-field rules, each naming its own key
            found = ctx["problems"]
        else:
            # An unknown key's value is never shown: it may be a credential in the wrong place.
            value = MISSING if e["type"] in ("missing", "extra_forbidden") else e["input"]
            found = [((), value, _wording(e["loc"], e["type"], ctx, e["input"]))]
        out += [_message((*e["loc"], *where), value, rule, hidden) for where, value, rule in found]
    return out


def _wording(loc: Loc, kind: str, ctx: Mapping[str, Any], value: Any) -> str:
    if kind == "rule":
        return str(ctx["rule"])
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        return f"unknown key{rules.did_you_mean(str(loc[-1]), known)}; known keys: {', '.join(known)}"
    field = _annotation_at(loc)
    choices = [str(c) for c in get_args(field)] if get_origin(field) is Literal else []
    if kind == "missing":
        return "is required" + (f": one of {', '.join(choices)}" if choices else "")
    if kind == "literal_error":
        return f"must be one of {', '.join(choices)}{rules.did_you_mean(str(value), choices)}"
    return WORDS.get(kind, "is not a value this key accepts")


def _message(loc: Loc, value: Any, rule: str, hidden: Collection[str]) -> tuple[str, str]:
    key = ""
    for part in loc:
        key += (
            f"[{part}]" if isinstance(part, int) else "" if part == "[key]" else f".{part}" if key else part
        )
    if value is MISSING:
        return key, f"{key}: {rule}"
    if any(key == h or key.startswith((f"{h}.", f"{h}[")) for h in hidden) or isinstance(value, Secret):
        return key, f"{key}: {rule} (the value is not shown)"
    shown = json.dumps(value, ensure_ascii=False, default=str)
    return key, f"{key} = {shown if len(shown) <= 80 else shown[:77] + '...'}: {rule}"


def _annotation_at(loc: Loc) -> Any:
    """The type declared at `loc`, found by walking the model from the root."""
    node: Any = Settings
    for part in loc:
        node = _unwrap(node)
        if isinstance(part, int):
            node = next((a for a in reversed(get_args(node)) if a is not Ellipsis), Any)
        elif isinstance(node, type) and issubclass(node, BaseModel):
            fields = {f.alias or n: f for n, f in node.model_fields.items()}
            node = fields[part].annotation if part in fields else Any
    return _unwrap(node)


def _unwrap(node: Any) -> Any:
    """`X | None` down to X (a field's annotation comes without its `Annotated`: pydantic keeps
    that part in the field's metadata; no list of ours holds an annotated model or choice)."""
    while type(None) in get_args(node):
        node = next(a for a in get_args(node) if a is not type(None))
    return node


def _known_keys(loc: Loc) -> list[str]:
    model = _annotation_at(loc)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []

"""An empty value never switches a protection off: every optional list or object key of the
settings model, written empty (`null`, `[]`, `{}`), is either refused naming the key, or means
what its `Empty` marker says, which the reference states beside the key: the same as leaving
the key out, or (TURNS_ON) a check switched on.

The keys are found by walking the model, so a key added later is held to the same rule."""

from __future__ import annotations

import copy
from typing import Annotated, Any, get_args, get_origin

import pytest
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from components.config import ConfigError, parse
from components.contract import PROJECT
from components.fields import empty_meaning
from components.settings import Settings
from tests.conftest import SECRET_KEYS, config, encode, settings_for
from tools import schema

Path = tuple[str, ...]
"""A key as a path of names, "[]" for a list's first item: ("acr-pipeline:images", "[]", "paths")."""

# What a key's parent needs to be valid at all (protections need an environment, promotion
# needs release tags), so that a refusal is about the empty value, not about its parent.
NEEDS: dict[Path, dict[str, Any]] = {
    ("acr-pipeline:github",): {"github": {"environment": "production"}},
    ("acr-pipeline:workflow", "promote"): {"workflow": {"tags": ["v*"], "promote": {}}},
}
# What a list or object needs to hold to be valid, when a key inside it is set.
MINIMAL: dict[str, Any] = {
    "acr-pipeline:images": {"name": "api"},
    "notify": {"kind": "slack"},
    "retention": {"keepLastTags": 5},
    "publicAccess": {"cidr": "10.0.0.0/8"},
    "reviewers": {"teams": [1]},
}


def _unwrap(annotation: Any) -> Any:
    """The type under Annotated and Optional."""
    while get_origin(annotation) is Annotated or type(None) in get_args(annotation):
        args = get_args(annotation)
        annotation = (
            args[0] if get_origin(annotation) is Annotated else next(a for a in args if a is not None)
        )
        if annotation is type(None):
            annotation = next(a for a in args if a is not type(None))
    return annotation


def _model_of(kind: Any) -> type[BaseModel] | None:
    if get_origin(kind) is tuple:
        kind = _unwrap(get_args(kind)[0])
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def optional_containers() -> list[tuple[Path, FieldInfo, list[Any]]]:
    """(path, field, its empty forms) of every optional list or object key, at every depth.
    A top-level key written with nothing is unset (Pulumi hands it over as ""), so only its
    `[]` or `{}` is an empty value there."""
    found: list[tuple[Path, FieldInfo, list[Any]]] = []

    def walk(model: type[BaseModel], prefix: Path) -> None:
        for name, field in model.model_fields.items():
            if name == "stack":
                continue
            path = (*prefix, field.alias or name)
            kind = _unwrap(field.annotation)
            child = _model_of(kind)
            if not field.is_required() and (get_origin(kind) in (tuple, dict) or child):
                form: Any = [] if get_origin(kind) is tuple else {}
                found.append((path, field, [None, form] if prefix else [form]))
            if child is not None:
                walk(child, (*path, "[]") if get_origin(kind) is tuple else path)

    walk(Settings, ())
    return found


def _written(path: Path) -> str:
    """As the reference writes the key: `github.reviewers`, `images[].paths`."""
    text = ".".join(path).replace(".[]", "[]")
    return text.partition(":")[2] if text.startswith(f"{PROJECT}:") else text


def _config_with(path: Path, value: Any) -> dict[str, Any]:
    cfg = config()
    for needed_at, overrides in NEEDS.items():
        if path[: len(needed_at)] == needed_at and path != needed_at:
            cfg = config(**overrides)
    node: Any = cfg
    for i, part in enumerate(path[:-1]):
        if part == "[]":
            node = node[0]
            continue
        if not isinstance(node.get(part), (dict, list)):
            minimal = copy.deepcopy(MINIMAL.get(part, {}))
            node[part] = [minimal] if path[i + 1] == "[]" else minimal
        node = node[part]
    node[path[-1]] = value
    return cfg


def _without(path: Path, value: Any) -> dict[str, Any]:
    """The same configuration with the key left out."""
    cfg = _config_with(path, value)
    node: Any = cfg
    for part in path[:-1]:
        node = node[0] if part == "[]" else node[part]
    del node[path[-1]]
    return cfg


TURNS_ON: dict[tuple[str, str], str] = {("registry.scan", "{}"): "scanning on, with its defaults"}
"""Empty values that switch a check on (never off), and what they do."""

KEYS = optional_containers()
CASES = [(path, field, form) for path, field, forms in KEYS for form in forms]
REFERENCE = schema.reference().splitlines()


def test_the_walk_finds_the_keys_that_protect_something() -> None:
    keys = {_written(path) for path, _, _ in KEYS}
    for key in (
        "github.reviewers",
        "github.deploymentBranches",
        "github.deploymentTags",
        "registry.publicAccess",
        "workflow.promote",
        "images[].paths",
        "workflow",
    ):
        assert key in keys


@pytest.mark.parametrize(("path", "field", "form"), CASES, ids=[f"{_written(p)}={f!r}" for p, _, f in CASES])
def test_an_empty_value_is_refused_naming_the_key_or_means_what_the_reference_states(
    path: Path, field: FieldInfo, form: Any
) -> None:
    key = ".".join(path).replace(".[]", "[0]")
    try:
        parse(encode(_config_with(path, form)), SECRET_KEYS, "dev")
    except ConfigError as err:
        refused: ConfigError | None = err
    else:
        refused = None
    if refused is not None:
        # The key, a key inside it, or its object as a whole (`reviewers` naming no one at all).
        parent = key.rpartition(".")[0]
        named = [k for k in refused.keys if k in (key, parent) or k.startswith((f"{key}.", f"{key}["))]
        assert named, f"{key} = {form!r} is refused, but not by naming it:\n{refused}"
        return
    meaning = empty_meaning(field.metadata)
    assert meaning, f"{key} = {form!r} is accepted, but the model does not say what it means (Empty)"
    row = next(line for line in REFERENCE if line.startswith(f"| `{_written(path)}` |"))
    assert meaning in row, f"the reference does not state what {key} = {form!r} means:\n{row}"
    # What it does: the same as leaving the key out, but where turning a check on is the point.
    empty = parse(encode(_config_with(path, form)), SECRET_KEYS, "dev").model_dump()
    left_out = parse(encode(_without(path, form)), SECRET_KEYS, "dev").model_dump()
    turns_on = TURNS_ON.get((_written(path), repr(form)))
    if turns_on:
        assert empty != left_out, f"{key} = {form!r}: {turns_on}"
    else:
        assert empty == left_out, f"{key} = {form!r} is accepted but means something else than leaving it out"


@pytest.mark.parametrize("reviewers", [None, {}, {"users": []}, {"users": [], "teams": []}])
def test_reviewers_written_empty_are_refused_saying_what_it_would_leave_open(reviewers: Any) -> None:
    cfg = config(github={"environment": "production"})
    cfg["acr-pipeline:github"]["reviewers"] = reviewers  # (config() drops a None)
    with pytest.raises(ConfigError) as err:
        parse(encode(cfg), SECRET_KEYS, "dev")
    assert "acr-pipeline:github.reviewers" in str(err.value)
    assert "names no reviewer" in str(err.value)
    assert "admins could bypass it" in str(err.value)
    assert len(err.value.problems) == 1


def test_a_reviewer_in_either_list_is_enough() -> None:
    assert settings_for(github={"environment": "p", "reviewers": {"users": [], "teams": ["platform"]}})

"""Field types for the settings model: each runs its rule and reports it in our words.

A failed rule raises a pydantic error whose context carries our wording (components/config.py
shows it as is); rules that span fields call :func:`problems`, which names each key. The
naming rules themselves are pure functions in components/rules.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Strict, WithJsonSchema
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError, core_schema

from components import rules

SECURE: dict[str, Any] = {
    "type": "object",
    "properties": {"secure": {"type": "string", "description": "what `pulumi config set --secret` wrote"}},
    "required": ["secure"],
    "additionalProperties": False,
}


class Secret:
    """A value that must never be printed: its str, repr and dump are ``[secret]``. In a stack
    file it is `{secure: <ciphertext>}`, which is what the schema says."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "[secret]"

    __str__ = __repr__

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        def validate(value: Any) -> Secret:
            if isinstance(value, (Secret, str)):
                return value if isinstance(value, Secret) else Secret(value)
            raise fail("must be a secret string")

        serialize = core_schema.plain_serializer_function_ser_schema(repr)
        return core_schema.no_info_plain_validator_function(validate, serialization=serialize)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        return SECURE


def fail(rule: str) -> PydanticCustomError:
    return PydanticCustomError("rule", "{rule}", {"rule": rule})


def Rule(*checks: rules.Check) -> AfterValidator:  # noqa: N802 - reads as a type annotation
    """A string's rules: one printable line, no `${{`, then each of `checks`."""

    def run(value: str) -> str:
        for check in (rules.text, *checks):
            if found := check(value):
                raise fail(found)
        return value

    return AfterValidator(run)


@dataclass(frozen=True)
class Whole:
    """A whole number from lo to hi (Pulumi hands top-level numbers over as text)."""

    lo: int
    hi: int

    def _check(self, value: Any) -> Any:
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
            raise fail(f"must be a whole number from {self.lo} to {self.hi}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        return {**handler(schema), "minimum": self.lo, "maximum": self.hi}


def distinct(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if twice := sorted({str(v) for v in values if values.count(v) > 1}):
        raise fail(f"lists {', '.join(twice)} twice")
    return values


def NonEmpty(what: str, hint: str = "") -> AfterValidator:  # noqa: N802 - reads as a type annotation
    """A list that, once written, lists something (unset, the key keeps its default)."""

    def check(values: tuple[Any, ...]) -> tuple[Any, ...]:
        if not values:
            raise fail(f"must list at least one {what}{hint}")
        return values

    return AfterValidator(check)


def _login_or_id(value: Any) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and not rules.login(value):
        return int(value) if value.isdigit() else value
    if isinstance(value, str) and (hint := rules.login_hint(value)):
        raise fail(hint)
    raise fail("must be a GitHub login/team slug or a numeric id")


def _plain_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise fail("must be a string (build arguments are plain text, never secrets)")
    return str(value)


def _bool_word(value: Any) -> Any:
    # Pulumi hands top-level values over as text; YAML 1.1's yes/no/on/off are not booleans.
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


Text = Annotated[str, Rule()]
Bool = Annotated[bool, BeforeValidator(_bool_word), Strict()]
RelPath = Annotated[str, Rule(rules.relative_path)]
Regex = Annotated[str, Rule(rules.regex)]
LoginOrId = Annotated[
    int | str, BeforeValidator(_login_or_id), WithJsonSchema({"type": ["integer", "string"]})
]
BuildArg = Annotated[
    str, BeforeValidator(_plain_text), Rule(), WithJsonSchema({"type": ["string", "number"]})
]
Platforms = Annotated[
    tuple[Annotated[str, Rule(rules.platform)], ...], NonEmpty("platform"), AfterValidator(distinct)
]

MISSING: Any = object()
"""The value of a problem about a key that is absent."""


@dataclass(frozen=True)
class Empty:
    """What an optional list or object key means when it is given empty (`null`, `[]` or `{}`).

    An empty value never switches a protection off by accident: every optional list or object
    key of the model either carries this marker, whose meaning the reference states beside the
    key, or refuses its empty forms (tests/test_empty_values.py walks the model to keep it so).
    """

    meaning: str

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        # tools/schema.py moves it into the key's description, for editors and the reference.
        return {**handler(schema), EMPTY_KEY: self.meaning}


EMPTY_KEY = "x-empty"


def empty_meaning(metadata: list[Any]) -> str | None:
    """The :class:`Empty` meaning among a field's metadata, if it has one."""
    return next((m.meaning for m in metadata if isinstance(m, Empty)), None)


def Given(rule: str) -> BeforeValidator:  # noqa: N802 - reads as a type annotation
    """An optional key that, once written, must hold something: `null` is refused with `rule`
    (unset, the key keeps its default)."""

    def check(value: Any) -> Any:
        if value is None:
            raise fail(rule)
        return value

    return BeforeValidator(check)


def problems(*found: tuple[tuple[str | int, ...], Any, str]) -> None:
    """Report rules that span fields: (where, relative to the model; value; rule) each."""
    if found:
        raise PydanticCustomError("rules", "rules across fields", {"problems": list(found)})


class Model(BaseModel):
    """Frozen, no unknown keys, camelCase keys; each field's docstring is its description."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=False,
        use_attribute_docstrings=True,
    )

"""A stack file's slips (components/stackfile.py `read`): what YAML refuses in its own terms, or
takes as something else, is one `path:LINE:COL:` error in words, with the line shown and a caret
under the column; where the parser failed, its words follow, never alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.stackfile import STACKS_DIR, StackFileError, read, slips
from tests.conftest import FIXTURES

HEAD = "config:\n  acr-pipeline:github:\n    repository: shop\n"


@pytest.mark.parametrize(
    ("text", "where", "words", "parser"),
    [
        pytest.param(
            HEAD + "  acr-pipeline:workflow:\n    tags:\n      - v*\n       - x\n",
            "7:8",
            "this list item is indented 7 spaces and the one above it (line 6) 6: the items of one list "
            "start in one column",
            False,  # YAML reads `v* - x` as one tag
            id="a list item one space further in",
        ),
        pytest.param(
            HEAD + '  acr-pipeline:workflow:\n    tags:\n      - "v*"\n       - "x"\n',
            "7:8",
            "this list item is indented 7 spaces and the one above it (line 6) 6",
            True,
            id="a quoted list item one space further in",
        ),
        pytest.param(
            HEAD + '  acr-pipeline:workflow:\n    tags:\n      - "v*"\n     - "x"\n',
            "7:6",
            "this list item is indented 5 spaces and the one above it (line 6) 6",
            True,
            id="a list item one space further out",
        ),
        pytest.param(
            "config:\n  acr-pipeline:images:\n    - name: api\n      paths:\n"
            "        - api/**\n     - name: web\n",
            "6:6",
            "this list item is indented 5 spaces and the one above it (line 5) 8",
            True,
            id="an image one space off after a nested list",
        ),
        pytest.param(
            "config:\n  acr-pipeline:github:\n\trepository: shop\n",
            "3:1",
            "a tab indents this line, and YAML indents with spaces only",
            True,
            id="a tab",
        ),
        pytest.param(
            HEAD + '  acr-pipeline:workflow:\n    tags: ["v*", "x"\n  acr-pipeline:branchBuilds: true\n',
            "5:11",
            "this `[` is never closed: a `]` is missing",
            True,
            id="an unclosed bracket",
        ),
        pytest.param(
            HEAD + '  acr-pipeline:workflow:\n    tags: ["v*]\n',
            "5:12",
            'this " is never closed: the string runs on to the end of the file',
            True,
            id="an unclosed quote",
        ),
        pytest.param(
            "config:\n  acr-pipeline:github:\n    repository:shop\n    branch: main\n",
            "3:15",
            "no space after the colon of `repository`: write `repository: shop`",
            True,
            id="key:value before another key",
        ),
        pytest.param(
            "config:\n  acr-pipeline:github:\n    repository:shop\n",
            "3:15",
            "no space after the colon of `repository`: write `repository: shop`",
            False,  # YAML reads github as the string "repository:shop"
            id="key:value alone",
        ),
        pytest.param(
            "config:\n  acr-pipeline:registryUsername:acr-pusher@1234   # the push user\n",
            "2:32",
            "no space after the colon of `acr-pipeline:registryUsername`: write "
            "`acr-pipeline:registryUsername: acr-pusher@1234`",
            False,
            id="a namespaced key:value",
        ),
    ],
)
def test_a_slip_is_said_in_words_at_its_line_with_the_line_shown(
    tmp_path: Path, text: str, where: str, words: str, parser: bool
) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    with pytest.raises(StackFileError) as raised:
        read(path)
    message = str(raised.value)
    first, shown, caret, *rest = message.splitlines()
    assert first.startswith(f"{path}:{where}: {words}")
    line, column = map(int, where.split(":"))
    assert shown == f"{line:>5} | {text.splitlines()[line - 1]}"
    assert caret.index("^") == len(f"{line:>5} | ") + column - 1
    assert bool(rest) is parser, "the parser's words follow where it failed, and only there"
    if parser:
        assert rest[0].startswith("(the YAML parser: ")


@pytest.mark.parametrize(
    "text",
    [
        "config:\n  acr-pipeline:images:\n    - name: api\n      paths:\n        - api/**\n    - name: web\n",
        "config:\n  acr-pipeline:notify:\n    url: https://hooks.example/a:b   # a colon in a value\n",
        "config:\n  acr-pipeline:x: |\n    a:b\n     - c\n  acr-pipeline:y: 1\n",  # a block scalar is text
        "config:\n  aws:region: cn-hangzhou\n  acr-pipeline:github:\n    repository: shop\n",
    ],
    ids=["an outer list resumed", "a colon in a value", "a block scalar", "namespaced keys"],
)
def test_what_is_meant_is_no_slip(tmp_path: Path, text: str) -> None:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text)
    assert slips(text) == []
    read(path)


@pytest.mark.parametrize(
    "path", sorted([*STACKS_DIR.glob("Pulumi.*.yaml"), *FIXTURES.glob("Pulumi.*.yaml")]), ids=lambda p: p.name
)
def test_our_stack_files_have_no_slip(path: Path) -> None:
    assert slips(path.read_text()) == []

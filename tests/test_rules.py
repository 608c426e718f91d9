"""The rules of components/rules.py one at a time (tests/test_bad_config.py shows each in a whole
stack's message): where a naming rule's boundary lies and the exact words it answers with, what
GitHub's path glob and its workflow filter patterns match, and the role subject a tag filter
becomes.

Many cases were found by `make mutate`: a change to rules.py that every other test let through
(a limit off by one, an IPv6 block, a backslash path, `**/`, `?` and `[...]` in a pattern)."""

from __future__ import annotations

import fnmatch

import pytest

from components import rules

BRACES = (
    "braces are not part of GitHub's path patterns (the change detection would read them literally): "
    "list each path"
)
REFUSED = [
    # (check, value, its answer: the rule in words, as the user reads it after key and value)
    (rules.environment, "e" * 256, "an environment name is at most 255 printable characters"),
    (rules.cidr, "10.0.0.1/8", "must be an IPv4 CIDR block such as 203.0.113.0/24 (host bits zero)"),
    (rules.cidr, "2001:db8::/32", "must be an IPv4 CIDR block (ACR ACLs take IPv4)"),
    (rules.relative_path, "/srv/api", "must be a path relative to the repository root"),
    (rules.relative_path, "\\srv\\api", "must be a path relative to the repository root"),
    (rules.relative_path, "api/../../etc", "must stay inside the repository (no '..')"),
    (rules.relative_path, "api\\..\\..\\etc", "must stay inside the repository (no '..')"),
    (rules.path_pattern, "api/{a,b}/**", BRACES),
    (rules.path_pattern, "api/{a/**", BRACES),
    (rules.path_pattern, "api/a}/**", BRACES),
    (
        rules.github_name,
        "9LIVES",
        "a GitHub variable name may contain only letters, digits and '_', and must not start with a digit",
    ),
    (rules.github_name, "github_token", "the GITHUB_ prefix is reserved by GitHub"),
    (
        rules.workflow_path,
        ".github/workflows/build push.yml",
        "must be a .yml or .yaml file name of letters, digits, '.', '-' and '_'",
    ),
]

ACCEPTED = [
    (rules.environment, "e" * 255),
    (rules.cidr, "10.0.0.0/8"),
    (rules.cidr, "203.0.113.7/32"),
    (rules.relative_path, "services/api"),
    (rules.relative_path, "api/..dots/x"),
    (rules.path_pattern, "api/**"),
    (rules.github_name, "_PRIVATE_1"),
    (rules.workflow_path, ".github/workflows/build-push.yaml"),
]


@pytest.mark.parametrize(("check", "value", "words"), REFUSED)
def test_each_rule_refuses_past_its_edge_and_says_which_rule(
    check: rules.Check, value: str, words: str
) -> None:
    assert check(value) == words


@pytest.mark.parametrize(("check", "value"), ACCEPTED)
def test_each_rule_accepts_up_to_its_edge(check: rules.Check, value: str) -> None:
    assert check(value) is None


def test_did_you_mean_is_silent_when_nothing_is_near() -> None:
    assert rules.did_you_mean("registry", ["registry", "region"]) == " (did you mean 'registry'?)"
    assert rules.did_you_mean("zzzzzzzz", ["registry", "region"]) == ""


# GitHub's glob (path filters, deployment branch and tag policies; Ruby's File.fnmatch with
# FNM_PATHNAME): what matches and what does not, as GitHub documents it, not as our code answers.
GLOBS = [
    ("**/Dockerfile", ["Dockerfile", "api/Dockerfile", "a/b/Dockerfile"], ["Dockerfile.x", "a/xDockerfile"]),
    ("api/**/*.py", ["api/x.py", "api/a/b/x.py"], ["api.py", "web/api/x.py"]),
    ("a/**/b/**/c", ["a/b/c", "a/x/b/y/c"], ["a/bc", "a/x/y/c"]),
    ("v?.md", ["v1.md", "vx.md"], ["v.md", "v12.md", "v/.md"]),
    ("??", ["ab"], ["a", "abc", "a/"]),
    ("v[0-9].txt", ["v1.txt"], ["va.txt", "v10.txt"]),
    ("v[!0-9].txt", ["va.txt"], ["v1.txt"]),
    ("x]y[", ["x]y["], ["xy", "x]y"]),
    ("[ab][cd]", ["ac", "bd"], ["ab", "[ab][cd]"]),
]


@pytest.mark.parametrize(("glob", "matching", "not_matching"), GLOBS)
def test_a_path_pattern_means_what_it_means_on_github(
    glob: str, matching: list[str], not_matching: list[str]
) -> None:
    regex = rules.github_glob(glob)
    assert [p for p in matching if not regex.match(p)] == []
    assert [p for p in not_matching if regex.match(p)] == []


# A tags-only role trusts `repo:<o>/<r>:ref:refs/tags/<StringLike>`: every tag the workflow's
# filter admits must log in (RAM's StringLike: `*` any characters, `?` one).
FILTERS = ["v*", "v[0-9]+.[0-9]+.[0-9]+", "v*-rc*", "release-[0-9]?", "v1.+", "v[12].[0-9]*", "x\\*y"]
TAGS = ["v1", "v1.2.3", "v10.20.30", "v1.2.3-rc.1", "release-1", "release-", "v1..", "v1.", "v2.9x"]
TAGS += ["x*y", "xy", "release-12", "v1.2.3.4", "vv"]


@pytest.mark.parametrize("pattern", FILTERS)
def test_a_tag_filter_becomes_a_role_subject_that_admits_every_tag_it_admits(pattern: str) -> None:
    like = rules.filter_string_like(pattern)
    admitted = [tag for tag in TAGS if rules.filter_matches([pattern], tag)]
    assert admitted, f"the table meets {pattern}"
    assert [tag for tag in admitted if not fnmatch.fnmatchcase(tag, like)] == []
    assert "[" not in like
    assert "+" not in like


def test_a_release_filter_becomes_the_subject_pattern_a_reviewer_reads() -> None:
    assert rules.filter_string_like("v[0-9]+.[0-9]+.[0-9]+") == "v*.*.*"
    assert rules.filter_string_like("v*-rc*") == "v*-rc*"


# --- GitHub's workflow filter patterns ----------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("v[0-9]+.[0-9]+.[0-9]+", "v1.4.0", True),
        ("v[0-9]+.[0-9]+.[0-9]+", "v10.20.300", True),
        ("v[0-9]+.[0-9]+.[0-9]+", "v1.4.0-rc.1", False),
        ("v[0-9]+.[0-9]+.[0-9]+", "v1.4", False),
        ("v[0-9]+.[0-9]+.[0-9]+", "v1x4x0", False),  # `.` is a dot, not any character
        ("v[0-9]+.[0-9]+.[0-9]+", "vv1.4.0", False),  # anchored at both ends
        ("v*-rc*", "v1.4.0-rc.1", True),
        ("v*-rc*", "v1.4.0", False),
        ("v*", "v1.4.0", True),
        ("v*", "release/v1", False),
        ("v*", "v1/hotfix", False),  # `*` stops at `/`
        ("v**", "v1/hotfix", True),  # `**` does not
        ("release/**", "release/2024/q1", True),
        ("colou?r", "color", True),  # `?`: zero or one of the preceding character
        ("colou?r", "colour", True),
        ("colou?r", "colouur", False),
        ("v1+", "v111", True),  # `+`: one or more
        ("v1+", "v", False),
        ("v[12]", "v2", True),
        ("v[12]", "v3", False),
        ("v[a-c]?", "v", True),
        ("v\\*", "v*", True),  # `\` escapes
        ("v\\*", "v1", False),
        ("[v]1.0", "v1.0", True),
        ("a(b)|c", "a(b)|c", True),  # regex syntax is literal
    ],
)
def test_filter_pattern_matches_as_github_does(pattern: str, name: str, matches: bool) -> None:
    assert rules.filter_matches([pattern], name) is matches


@pytest.mark.parametrize(
    ("patterns", "name", "matches"),
    [
        (["v*", "!v*-rc*"], "v1.4.0", True),
        (["v*", "!v*-rc*"], "v1.4.0-rc.1", False),  # a later `!` excludes
        (["v*", "!v*-rc*", "v1.4.0-rc.1"], "v1.4.0-rc.1", True),  # and a later pattern includes again
        (["!v*-rc*", "v*"], "v1.4.0-rc.1", True),  # order matters
        (["!v*"], "v1.0.0", False),
        ([], "v1.0.0", False),
    ],
)
def test_later_filter_patterns_override_earlier_ones(patterns: list[str], name: str, matches: bool) -> None:
    assert rules.filter_matches(patterns, name) is matches

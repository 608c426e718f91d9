"""The naming rules at their edges, one check at a time (tests/test_bad_config.py shows each in a
whole stack's message): where a rule's boundary lies, and that the words it answers with name it.

Found by `make mutate`: each case below is a change to components/rules.py that every other test
let through (a limit off by one, an IPv6 block, a backslash path, `**/`, `?` and `[...]` in a
pattern)."""

from __future__ import annotations

import fnmatch

import pytest

from components import rules

REFUSED = [
    # (check, value, words of the answer)
    (rules.environment, "e" * 256, "at most 255 printable characters"),
    (rules.cidr, "10.0.0.1/8", "IPv4 CIDR block such as 203.0.113.0/24 (host bits zero)"),
    (rules.cidr, "2001:db8::/32", "IPv4 CIDR block (ACR ACLs take IPv4)"),
    (rules.relative_path, "/srv/api", "a path relative to the repository root"),
    (rules.relative_path, "\\srv\\api", "a path relative to the repository root"),
    (rules.relative_path, "api/../../etc", "must stay inside the repository (no '..')"),
    (rules.relative_path, "api\\..\\..\\etc", "must stay inside the repository (no '..')"),
    (rules.path_pattern, "api/{a,b}/**", "braces are not part of GitHub's path patterns"),
    (rules.path_pattern, "api/a}/**", "literally): list each path"),
    (rules.github_name, "9LIVES", "a GitHub variable name may contain only letters, digits and '_'"),
    (rules.github_name, "github_token", "the GITHUB_ prefix is reserved by GitHub"),
    (rules.workflow_path, ".github/workflows/build push.yml", "a .yml or .yaml file name of letters"),
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
    answer = check(value)
    assert answer is not None, f"{value!r} passed"
    assert words in answer


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

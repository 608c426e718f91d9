"""The rules of components/rules.py one at a time (tests/test_bad_config.py shows each in a whole
stack's message): where a naming rule's boundary lies and the exact words it answers with, what
GitHub's path glob and its workflow filter patterns match, and the role subject a tag filter
becomes.

Many cases were found by `make mutate`: a change to rules.py that every other test let through
(a limit off by one, an IPv6 block, a backslash path, `**/`, `?` and `[...]` in a pattern)."""

from __future__ import annotations

import fnmatch
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    ("[ab]x[!cd]", ["axe", "bxf"], ["axc", "cxe"]),  # each set ends at its own `]`
    ("x][", ["x]["], ["x", "x]"]),  # a `]` before a `[` opens no set
    ("a**b", ["ab", "a/x/b", "axb"], ["a/x/c", "a/b/"]),  # what follows `**` counts
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
        ("v[", "v[", True),  # a `[` with no `]` is itself
        ("v[^a]", "v^", True),  # `^` in a set is itself (GitHub documents no negation)
        ("v[^a]", "vb", False),
        ("v\\", "v\\", True),  # a last `\` is itself
        ("release\\*", "release*", True),  # an escape anywhere
        ("release\\*", "release1", False),
        ("v\\.+", "v...", True),  # an escaped character may repeat
        ("v**x", "v1/2x", True),
        ("v**x", "v1/2", False),
        ("1+", "111", True),  # a repeat of the first character
        ("vX?", "v", True),
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
        (["*", "!ab"], "b", True),  # `!` and nothing more is taken off
        ([], "v1.0.0", False),
    ],
)
def test_later_filter_patterns_override_earlier_ones(patterns: list[str], name: str, matches: bool) -> None:
    assert rules.filter_matches(patterns, name) is matches


# --- a release tag the environment lets in ---------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "deployment", "common"),
    [
        ("v*", "v*", "v"),
        ("v*", "release-*", None),
        ("v[0-9]+.[0-9]+.[0-9]+", "v*", "v0.0.0"),
        ("v[0-9]+.[0-9]+.[0-9]+", "v*.*.*", "v0.0.0"),
        ("v[0-9]+.[0-9]+.[0-9]+", "v+.*", None),  # `+` is itself in a deployment rule
        ("v1+", "v111", "v111"),
        ("release-*", "*-2026*", "release-2026"),
        ("v[0-9]+.[0-9]+", "*.*-rc", None),
        ("v*", "v[0-9]*.[0-9]*", "v0.0"),
        ("v*", "v/*", None),  # the filter's `*` stops at `/`
        ("v**", "v/*", "v/"),
        ("x", "**/x", "x"),  # `**/` may be nothing
        ("v?1", "v1", "v1"),
    ],
)
def test_a_release_filter_and_a_deployment_rule_share_a_tag_exactly_when_one_exists(
    tags: str, deployment: str, common: str | None
) -> None:
    assert rules.common_name(rules.filter_regex(tags), rules.github_glob(deployment)) == common


FILTER_ATOMS = ["v", "1", ".", "-", "/", "*", "**", "?", "+", "[0-9]", "[a-c]", "\\*"]
GLOB_ATOMS = ["v", "1", ".", "-", "/", "*", "**", "**/", "?", "+", "[0-9]", "[!v]"]
NAMES = ["".join(chars) for n in range(5) for chars in itertools.product("v1.-/a0*x", repeat=n)]


@given(
    st.lists(st.sampled_from(FILTER_ATOMS), max_size=4).map("".join),
    st.lists(st.sampled_from(GLOB_ATOMS), max_size=4).map("".join),
)
def test_the_common_tag_found_is_admitted_by_both_and_no_shorter_one_exists(
    tags: str, deployment: str
) -> None:
    """Against every name of up to four of the characters the patterns use (and one they don't):
    the name found passes both, and is never longer than the shortest such name."""
    one, other = rules.filter_regex(tags), rules.github_glob(deployment)
    found = rules.common_name(one, other)
    shortest = next((n for n in NAMES if one.match(n) and other.match(n)), None)
    if found is not None:
        assert one.match(found), found
        assert other.match(found), found
    if shortest is not None:
        assert found is not None, shortest
        assert len(found) <= len(shortest), (found, shortest)


# --- did-you-mean ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "edits"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("registry", "registry", 0),
        ("Registry", "registry", 0),  # case is no edit
        ("regsitry", "registry", 1),  # two neighbours swapped: one edit
        ("registyr", "registry", 1),
        ("rgistry", "registry", 1),  # one deleted
        ("reggistry", "registry", 1),  # one inserted
        ("regustry", "registry", 1),  # one replaced
        ("rgeistyr", "registry", 2),
        ("ab", "ba", 1),
        ("abc", "ca", 3),  # a swap counts only for neighbours that stay neighbours
        ("kitten", "sitting", 3),
        ("aaa", "a", 2),  # no swap with a character before the first
    ],
)
def test_distance_counts_inserts_deletes_replacements_and_swaps(a: str, b: str, edits: int) -> None:
    assert rules.distance(a, b) == edits
    assert rules.distance(b, a) == edits


def test_a_suggestion_is_the_nearest_choice_within_a_limit_that_grows_with_the_word() -> None:
    keys = ["namespace", "instanceId", "instanceName", "edition", "endpoint"]
    assert rules.suggest("namespase", keys) == "namespace"
    assert rules.suggest("instanceNme", keys) == "instanceName", "the nearest, not the first"
    assert rules.suggest("edtion", keys) == "edition"
    assert rules.suggest("xyz", keys) is None
    # The limit: one edit up to 4 letters, two up to 10, three beyond.
    assert rules.suggest("abce", ["abcd"]) == "abcd"
    assert rules.suggest("abee", ["abcd"]) is None
    assert rules.suggest("abcde", ["abczz"]) == "abczz", "five letters: two edits"
    assert rules.suggest("abcdefghij", ["abcdefghzz"]) == "abcdefghzz"
    assert rules.suggest("abcdefghij", ["abcdefgzzz"]) is None, "ten letters: two edits, not three"
    assert rules.suggest("abcdefgh", ["abcdefzz"]) == "abcdefzz"
    assert rules.suggest("abcdefgh", ["abcdezzz"]) is None
    assert rules.suggest("abcdefghijk", ["abcdefghzzz"]) == "abcdefghzzz"
    assert rules.suggest("abcdefghijk", ["abcdefgzzzz"]) is None
    assert rules.suggest("abc", ["xyz"], limit=3) == "xyz"
    assert rules.suggest("abc", [], limit=3) is None


@pytest.mark.parametrize(
    ("region", "typo_of"),
    [
        ("cn-hangzhou", None),  # known
        ("cn-hangzou", "cn-hangzhou"),
        ("cn-shangai", "cn-shanghai"),
        ("ap-southeast-8", None),  # a new member of a numbered family, not a typo
        ("ap-southeast-l", "ap-southeast-1"),
        ("us-east-9", None),
        ("mars-north-1", None),  # far from every region: maybe new
    ],
)
def test_a_region_one_edit_off_is_a_typo_unless_it_is_a_new_number(region: str, typo_of: str | None) -> None:
    assert rules.region_typo(region) == typo_of


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "edition", "name", "ok"),
    [
        ("namespace", "enterprise", "acme-dev", True),
        ("namespace", "enterprise", "a.b_c-d", True),
        ("namespace", "enterprise", "a", False),  # 2 at least
        ("namespace", "enterprise", "a" * 120, True),
        ("namespace", "enterprise", "a" * 121, False),
        ("namespace", "enterprise", "-acme", False),
        ("namespace", "enterprise", "acme-", False),
        ("namespace", "enterprise", "Acme", False),
        ("namespace", "enterprise", "a/b", False),  # namespaces have no tiers
        ("repository", "enterprise", "agent/client", True),  # repositories may
        ("repository", "enterprise", "agent//client", False),
        ("repository", "enterprise", "agent/-client", False),
        ("namespace", "personal", "acme_dev-1", True),
        ("namespace", "personal", "acme.dev", False),  # no dots on Personal
        ("namespace", "personal", "a" * 30, True),
        ("namespace", "personal", "a" * 31, False),
        ("namespace", "personal", "_acme", False),
        ("repository", "personal", "agent/client", False),  # single-tier
        ("repository", "personal", "api.v2", True),
    ],
)
def test_acr_names_follow_each_editions_rule(kind: str, edition: str, name: str, ok: bool) -> None:
    answer = rules.acr_name(kind, edition)(name)
    assert (answer is None) is ok, answer
    if not ok:
        assert answer is not None
        assert answer.startswith(
            f"an ACR {edition} {kind} name must be 2-{rules.ACR_LIMITS[edition]} characters of "
        )


def test_acr_names_say_each_editions_characters() -> None:
    personal = rules.acr_name("namespace", "personal")("A")
    assert personal == (
        "an ACR personal namespace name must be 2-30 characters of lowercase letters, digits, '_' and '-', "
        "starting with one of the first two"
    )
    tiers = rules.acr_name("repository", "enterprise")("A")
    assert tiers is not None
    assert tiers.endswith("(tiers separated by '/', each following that rule)")


REPOSITORY_RULE = "a GitHub repository name is 1-100 letters, digits, '.', '-' and '_', not ending in .git"


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("shop", None),
        ("Shop_2.0-x", None),
        ("a" * 100, None),
        (
            "a" * 101,
            REPOSITORY_RULE,
        ),
        (
            "shop.git",
            REPOSITORY_RULE,
        ),
        (
            "shop.GIT",
            REPOSITORY_RULE,
        ),
        (".", REPOSITORY_RULE),
        ("..", REPOSITORY_RULE),
        (
            "my shop",
            REPOSITORY_RULE,
        ),
        (
            "acme/shop",
            "give the repository name only; the owner comes from github:owner (e.g. repository: 'shop')",
        ),
        (
            "acme/team/shop",
            "give the repository name only; the owner comes from github:owner (e.g. repository: 'shop')",
        ),
    ],
)
def test_a_repository_is_a_name_alone(name: str, answer: str | None) -> None:
    assert rules.repository(name) == answer


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        ("Build and push", None),
        ("  ", "must not be empty"),
        ("", "must not be empty"),
        ("two\nlines", "must be a single line of printable characters"),
        ("tab\there", "must be a single line of printable characters"),
        ("${{ secrets.X }}", "must not contain '${{' (GitHub would evaluate it as an expression)"),
        ("$ {{ fine }}", None),
    ],
)
def test_text_is_one_printable_line_and_never_an_expression(value: str, answer: str | None) -> None:
    assert rules.text(value) == answer


def test_a_pattern_rule_matches_the_whole_value_or_says_its_rule() -> None:
    check = rules.pattern(r"[a-z]+", "lowercase letters")
    assert check("abc") is None
    assert check("abc1") == "lowercase letters"
    assert check("1abc") == "lowercase letters"
    assert check("abc\n") == "lowercase letters", "anchored with \\Z, not $"

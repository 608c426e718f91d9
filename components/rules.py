"""The naming rules of ACR and GitHub, the list of regions, and did-you-mean, as pure functions.

Each check takes a value and returns None when it is fine, or the rule in plain words. The
settings model (components/settings.py) attaches them to its fields; tests call them directly.
Every pattern ends in \\Z, not $: Python's $ also matches before a trailing newline.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence

Check = Callable[[str], "str | None"]

# --- Container Registry --------------------------------------------------------------------
# Alibaba's docs and the terraform provider's validation:
# - Enterprise Edition namespaces and repositories: 2-120 characters of lowercase letters,
#   digits and the delimiters "_", "-", ".", not starting or ending with a delimiter.
#   Repositories may be multi-tier ("agent/client"), each tier following the same rule.
# - Personal Edition: namespaces 2-30 of lowercase letters, digits, "_" and "-", starting
#   with a letter or digit (no "."); repositories single-tier, 2-30 (the provider's limit).
_SEGMENT = r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?"
_SINGLE = re.compile(rf"{_SEGMENT}\Z")
_MULTI_TIER = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*\Z")
_PERSONAL_NAMESPACE = re.compile(r"[a-z0-9][a-z0-9_-]*\Z")
ACR_LIMITS = {"enterprise": 120, "personal": 30, "external": 120}
_ACR_CHARS = "lowercase letters, digits, '_', '-' and '.', starting and ending with a letter or digit"


def acr_name(kind: str, edition: str) -> Check:
    """The rule for a namespace or repository name on an edition."""
    limit = ACR_LIMITS[edition]
    if edition == "personal" and kind == "namespace":
        pattern, chars = (
            _PERSONAL_NAMESPACE,
            "lowercase letters, digits, '_' and '-', starting with one of the first two",
        )
    elif edition != "personal" and kind == "repository":
        pattern, chars = _MULTI_TIER, f"{_ACR_CHARS} (tiers separated by '/', each following that rule)"
    else:
        pattern, chars = _SINGLE, _ACR_CHARS

    def check(value: str) -> str | None:
        if pattern.match(value) and 2 <= len(value) <= limit:
            return None
        return f"an ACR {edition} {kind} name must be 2-{limit} characters of {chars}"

    return check


def pattern(regex: str, rule: str) -> Check:
    compiled = re.compile(regex + r"\Z")
    return lambda value: None if compiled.match(value) else rule


instance_id = pattern(r"cri-[a-z0-9]+", "must be an instance id of the form cri-xxxxxxxx")
instance_name = pattern(
    r"[a-z0-9][a-z0-9-]{1,28}[a-z0-9]", "an instance name is 3-30 lowercase letters, digits and '-'"
)
host = pattern(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+(?::[0-9]{1,5})?",
    "must be a registry host name such as registry.cn-hangzhou.aliyuncs.com (no scheme, no path)",
)
platform = pattern(
    r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?",
    "a platform is os/arch[/variant], e.g. linux/amd64 or linux/arm/v7",
)
build_stage = pattern(
    r"[A-Za-z0-9][A-Za-z0-9._-]*", "a build stage name is letters, digits, '.', '_' and '-'"
)
label = pattern(
    r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?", "an OCI label key is lowercase letters, digits, '.' and '-'"
)
build_arg = pattern(
    r"[A-Za-z_][A-Za-z0-9_]*", "a build argument name is letters, digits and '_', not starting with a digit"
)
runner_label = pattern(r"[A-Za-z0-9][A-Za-z0-9._-]*", "a runner label is letters, digits, '.', '_' and '-'")


# RAM (Alibaba's docs for CreateOIDCProvider and for ARNs): a provider name is 1-128 letters,
# digits, '.', '_' and '-'; a fingerprint is a certificate's SHA-1, 40 hex digits.
oidc_provider = pattern(
    r"(?:acs:ram::[0-9]+:oidc-provider/)?[A-Za-z0-9._-]{1,128}",
    "is `create`, the name of an existing provider (e.g. github-actions), or its ARN "
    "acs:ram::<account-id>:oidc-provider/<name>",
)
ram_name = pattern(r"[A-Za-z0-9._-]{1,128}", "a RAM name is 1-128 letters, digits, '.', '_' and '-'")
fingerprint = pattern(r"[0-9a-fA-F]{40}", "a fingerprint is a certificate's SHA-1: 40 hexadecimal digits")


def cidr(value: str) -> str | None:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return "must be an IPv4 CIDR block such as 203.0.113.0/24 (host bits zero)"
    return None if ":" not in value else "must be an IPv4 CIDR block (ACR ACLs take IPv4)"


def regex(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as err:
        return f"must be a regular expression ({err})"
    return None


# Regions with Container Registry. Sources: "Supported regions" (alibabacloud.com/help/doc-
# detail/215426) and "Container Registry: Endpoints" (alibabacloud.com/help/en/acr/developer-
# reference/api-cr-2018-12-01-endpoint, updated 2025-12-16); checked 2026-12-01. A region close
# to one of these is a typo (an error with a did-you-mean); one far from all of them may be new
# (a warning, so that nobody is blocked).
ACR_REGIONS = (
    "cn-qingdao", "cn-beijing", "cn-zhangjiakou", "cn-huhehaote", "cn-wulanchabu", "cn-hangzhou",
    "cn-shanghai", "cn-nanjing", "cn-fuzhou", "cn-shenzhen", "cn-heyuan", "cn-guangzhou",
    "cn-wuhan-lr", "cn-chengdu", "cn-hongkong", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ap-south-1", "ap-northeast-1",
    "ap-northeast-2", "us-west-1", "us-east-1", "eu-central-1", "eu-west-1", "me-east-1",
    "me-central-1",
)  # fmt: skip


def region_typo(value: str) -> str | None:
    """The known region `value` is a typo of: one edit away, and not a new member of a known
    numbered family (`ap-southeast-8` may well be new; `cn-hangzou` is not)."""
    hint = suggest(value, ACR_REGIONS, limit=1) if value not in ACR_REGIONS else None
    family = re.compile(r"-?[0-9]+\Z")
    return None if hint is None or family.sub("", hint) == family.sub("", value) else hint


region_id = pattern(r"[a-z]{2}(?:-[a-z0-9]+)+", "must be an Alibaba Cloud region id such as cn-hangzhou")


# --- GitHub ----------------------------------------------------------------------------------


def github_name(value: str) -> str | None:
    """Actions variables and secrets: letters, digits, "_", not starting with a digit; the
    GITHUB_ prefix is reserved. GitHub compares these names case-insensitively."""
    if not re.match(r"[A-Za-z_][A-Za-z0-9_]*\Z", value):
        return (
            "a GitHub variable name may contain only letters, digits and '_', and must not start with a digit"
        )
    if value.upper().startswith("GITHUB_"):
        return "the GITHUB_ prefix is reserved by GitHub"
    return None


def taken(value: str, names: Iterable[str]) -> str | None:
    """A GitHub variable or secret name another setting already uses (compared case-insensitively)."""
    if value.upper() in {n.upper() for n in names}:
        return "is reserved for another setting; choose another name (names are case-insensitive)"
    return None


github_owner = pattern(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", "must be a GitHub user or organization login")
login = pattern(r"[A-Za-z0-9][A-Za-z0-9._-]*", "must be a GitHub login/team slug or a numeric id")


def login_hint(value: str) -> str | None:
    """What a user or team written as GitHub shows it in a mention (`@octocat`,
    `@acme/platform`) should be written as here: the login, or the team's slug alone."""
    if not value.startswith("@"):
        return None
    owner, _, slug = value[1:].partition("/")
    if slug and not login(slug):
        return (
            f"is a mention: write the team's slug alone, {slug!r} (drop '@{owner}/': the organization "
            "is github:owner)"
        )
    if not slug and not login(owner):
        return f"is a mention: write the login alone, {owner!r} (drop the '@')"
    return None


def repository(value: str) -> str | None:
    if "/" in value:
        return (
            "give the repository name only; the owner comes from github:owner "
            f"(e.g. repository: {value.rsplit('/', 1)[-1]!r})"
        )
    if (
        not re.match(r"[A-Za-z0-9._-]{1,100}\Z", value)
        or value in (".", "..")
        or value.lower().endswith(".git")
    ):
        return "a GitHub repository name is 1-100 letters, digits, '.', '-' and '_', not ending in .git"
    return None


def environment(value: str) -> str | None:
    return None if len(value) <= 255 else "an environment name is at most 255 printable characters"


WORKFLOWS_DIR = ".github/workflows/"


def workflow_path(value: str) -> str | None:
    if not value.startswith(WORKFLOWS_DIR):
        return f"must lie under {WORKFLOWS_DIR} (GitHub runs workflows only from there)"
    rest = value[len(WORKFLOWS_DIR) :]
    if "/" in rest:
        return f"must be a file directly in {WORKFLOWS_DIR} (GitHub ignores subdirectories)"
    if not re.match(r"[A-Za-z0-9._-]+\.ya?ml\Z", rest):
        return "must be a .yml or .yaml file name of letters, digits, '.', '-' and '_'"
    return None


def relative_path(value: str) -> str | None:
    if value.startswith(("/", "\\")):
        return "must be a path relative to the repository root"
    if ".." in value.replace("\\", "/").split("/"):
        return "must stay inside the repository (no '..')"
    return None


def path_pattern(value: str) -> str | None:
    """An image's path filter: GitHub's glob syntax, which has no braces."""
    if "{" in value or "}" in value:
        return (
            "braces are not part of GitHub's path patterns (the change detection would read them "
            "literally): list each path"
        )
    return None


def text(value: str) -> str | None:
    """Every string a user writes: one printable line, and never a GitHub expression."""
    if value.strip() == "":
        return "must not be empty"
    if not value.isprintable():
        return "must be a single line of printable characters"
    if "${{" in value:
        return "must not contain '${{' (GitHub would evaluate it as an expression)"
    return None


def _glob_parts(glob: str) -> list[tuple[str, str]]:
    """A GitHub pattern as (Python regex, POSIX ERE) pieces: `*` stops at `/`, `**` crosses it,
    `?` is one character other than `/`, `**/` is any number of directories, none included,
    `[...]` a set (`[!...]` negated) (GitHub's path filter and deployment-policy semantics,
    Ruby's File.fnmatch; Python's fnmatch lets `*` cross `/`)."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append(("(?:.*/)?", "(.*/)?"))
            i += 3
        elif glob.startswith("**", i):
            out.append((".*", ".*"))
            i += 2
        elif glob[i] == "*":
            out.append(("[^/]*", "[^/]*"))
            i += 1
        elif glob[i] == "?":
            out.append(("[^/]", "[^/]"))
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 1 :]:
            end = glob.index("]", i + 1)
            inside = glob[i + 1 : end]
            inside = "^" + inside[1:] if inside.startswith("!") else inside
            out.append((f"[{inside}]", f"[{inside}]"))
            i = end + 1
        else:
            char = glob[i]
            out.append((re.escape(char), f"\\{char}" if char in ".[]{}()*+?|^$\\" else char))
            i += 1
    return out


def github_glob(glob: str) -> re.Pattern[str]:
    """A GitHub branch, tag or path pattern as a Python regex (see `_glob_parts`)."""
    return re.compile("".join(python for python, _ in _glob_parts(glob)) + r"\Z")


def github_glob_ere(glob: str) -> str:
    """The same pattern as a POSIX extended regular expression, anchored, for the workflow's
    shell (`[[ $file =~ $pattern ]]` in bash): the committed change detection and the tests
    read the same rule."""
    return "^" + "".join(ere for _, ere in _glob_parts(glob)) + "$"


# GitHub's workflow filter patterns (`on.push.tags`, `on.push.branches`), which are not the glob
# above: `?` and `+` repeat what precedes them (GitHub's "Filter pattern cheat sheet").


def filter_regex(pattern: str) -> re.Pattern[str]:
    """One of GitHub's workflow filter patterns (`on.push.tags`, `branches`), without its leading
    `!`, as an anchored regex: `*` any characters but `/`, `**` any characters, `?` zero or one
    and `+` one or more of the preceding character (or `[...]` set), `[...]` one character of the
    set or range, `\\` escapes the next character; anything else is itself."""
    atoms: list[str] = []
    repeatable: list[bool] = []  # whether `?` or `+` may follow the atom

    def add(atom: str, repeat: bool) -> None:
        atoms.append(atom)
        repeatable.append(repeat)

    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            add(re.escape(pattern[i + 1]), True)
            i += 2
            continue
        if pattern.startswith("**", i):
            add(".*", False)
            i += 2
            continue
        if char == "*":
            add("[^/]*", False)
        elif char in "?+" and repeatable and repeatable[-1]:
            atoms[-1] += char
            repeatable[-1] = False
        elif char == "[" and (end := pattern.find("]", i + 2)) != -1:
            inside = pattern[i + 1 : end]
            add("[" + "".join(c if c == "-" else re.escape(c) for c in inside) + "]", True)
            i = end + 1
            continue
        else:
            add(re.escape(char), True)
        i += 1
    return re.compile("".join(atoms) + r"\Z")


def filter_string_like(pattern: str) -> str:
    """A workflow filter pattern as a RAM `StringLike` pattern (`*` any characters) that admits at
    least the names it admits: each run of sets, repeats, wildcards and escaped characters
    becomes one `*` (`v[0-9]+.[0-9]+.[0-9]+` -> `v*.*.*`; StringLike has no escape)."""
    return re.sub(r"(\[[^\]]*\][+*?]?|\\.[+?]?|[+?*])+", "*", pattern)


def filter_matches(patterns: Sequence[str], name: str) -> bool:
    """Whether GitHub's filter `patterns` admit `name`: each pattern that matches includes it,
    or with a leading `!` excludes it, and a later pattern overrides an earlier one."""
    admitted = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        if filter_regex(pattern[1:] if negated else pattern).match(name):
            admitted = not negated
    return admitted


# --- did you mean ----------------------------------------------------------------------------


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap two neighbours) from a to b, ignoring case."""
    a, b = a.lower(), b.lower()
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        prev2, prev = prev, row
    return prev[-1]


def suggest(word: str, choices: Iterable[str], limit: int | None = None) -> str | None:
    """The nearest choice, if it is near enough to be what was meant (by default, more edits
    for longer words)."""
    if limit is None:
        limit = 1 if len(word) <= 4 else 2 if len(word) <= 10 else 3
    best = min(choices, key=lambda c: distance(word, c), default=None)
    return best if best is not None and distance(word, best) <= limit else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    hint = suggest(word, choices)
    return f" (did you mean '{hint}'?)" if hint else ""


# --- patterns written as regular expressions, names git refuses ---------------------------------

_REGEX_CLASS = {"d": "[0-9]", "w": "[a-zA-Z0-9_]", "s": " "}


def regex_hint(value: str, paths: bool = False) -> str | None:
    """A filter pattern written as a regular expression (GitHub's filter patterns are globs:
    `^` and `$`, `\\d`, groups and alternatives mean nothing there), with the pattern meant as
    GitHub's filter syntax where one can be said (`^v\\d+\\.\\d+\\.\\d+$` -> `v[0-9]+.[0-9]+.[0-9]+`).
    `paths`: a file path may hold parentheses (`app/(shop)/page.tsx`), so groups are not signs."""
    body = value[1:] if value.startswith("!") else value
    signs = []
    if body.startswith("^") or (body.endswith("$") and not body.endswith("\\$")):
        signs.append("anchors (^, $)")
    if re.search(r"\\[dDwWsSbB]", body):
        signs.append("classes such as \\d")
    if not paths and re.search(r"(?<!\\)[(|)]", body):
        signs.append("groups or alternatives ((a|b))")
    if re.search(r"(?<!\\)\{[0-9,]+\}", body):
        signs.append("counts ({2})")
    if not signs:
        return None
    meant = body.removeprefix("^")
    meant = meant[:-1] if meant.endswith("$") and not meant.endswith("\\$") else meant
    meant = re.sub(r"\\([dws])", lambda m: _REGEX_CLASS[m[1]], meant)
    meant = re.sub(r"\\\.", ".", meant)
    meant = re.sub(r"\.\*", "**" if paths else "*", meant)
    suggestion = ""
    if not re.search(r"(?<!\\)[(|){}\\]", meant):
        suggestion = f": {('!' if value.startswith('!') else '') + meant!r}"
    elif "|" in meant:
        suggestion = ": one pattern per alternative"
    syntax = "`*`, `**`, `?`, `[0-9]`" if paths else "`*`, `**`, `?`, `+` after a character or set, `[0-9]`"
    return (
        f"is a regular expression ({', '.join(signs)}), and GitHub reads these patterns as globs "
        f"({syntax}): write the pattern meant{suggestion}"
    )


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:]|\.\.|@\{|//")


def branch(value: str) -> str | None:
    """A branch name git accepts (git check-ref-format --branch): no space or control character,
    no `~ ^ :`, no `..`, `@{` or `//`; not starting with `-` or `/`, not ending with `/`, `.` or
    `.lock`; and none of a filter's wildcards (`* ? [ \\`): one branch, not a pattern."""
    if re.search(r"[*?\[\\]", value):
        return "must be one branch, not a pattern (no * ? [ \\)"
    if _REF_FORBIDDEN.search(value):
        return "is not a branch name git accepts (no spaces, ~ ^ :, '..', '//' or '@{')"
    if value.startswith(("-", "/")) or value.endswith(("/", ".", ".lock")):
        return "is not a branch name git accepts (no '-' or '/' first, no '/', '.' or '.lock' last)"
    return None


def ref_pattern(value: str) -> str | None:
    """A branch or tag pattern (workflow.tags, deployment rules): a glob, not a regular
    expression, and nothing git refuses in a ref name but the patterns' own wildcards."""
    if hint := regex_hint(value):
        return hint
    if _REF_FORBIDDEN.search((value[1:] if value.startswith("!") else value).replace("**", "*")):
        return "holds what git refuses in a branch or tag name (spaces, ~ ^ :, '..', '//' or '@{')"
    return None


def paths_pattern(value: str) -> str | None:
    """An image's path filter: GitHub's glob, which has no braces and is not a regex."""
    return path_pattern(value) or regex_hint(value, paths=True)


# --- does a release tag reach the environment? -----------------------------------------------------
# A workflow filter (`filter_regex`) and a deployment rule (`github_glob`) are both regexes of a
# small kind: characters, sets, `.`, each at most once (`?`), any number of times (`*`) or at
# least once (`+`), and the glob's `(?:.*/)?`. Each is an automaton; a tag both admit is a path
# through both at once, found by a breadth-first search of their pairs of states. Characters
# that neither regex names behave alike in both, so one of them (`_OTHER`) stands for all; a
# set's range is met by another's at an end of one of them, which the regexes name.

_Edges = list[list[tuple[Callable[[str], object] | None, int]]]
_OTHER = "\ue000"


def _automaton(regex: str) -> tuple[_Edges, int]:
    """The states of `regex` (from `filter_regex` or `github_glob`) and their moves (None: a move
    that takes no character), and the state that accepts; state 0 starts."""
    edges: _Edges = [[]]

    def state() -> int:
        edges.append([])
        return len(edges) - 1

    here, i, body = 0, 0, regex.removesuffix("\\Z")
    while i < len(body):
        if body.startswith("(?:.*/)?", i):
            loop, end = state(), state()
            edges[here] += [(None, end), (None, loop)]
            edges[loop] += [(lambda c: True, loop), ("/".__eq__, end)]
            here, i = end, i + len("(?:.*/)?")
            continue
        if body[i] == "[":
            end = i + 1
            while body[end] != "]":
                end += 2 if body[end] == "\\" else 1
            accepts: Callable[[str], object] = re.compile(body[i : end + 1]).fullmatch
            i = end + 1
        elif body[i] == "\\":
            accepts, i = body[i + 1].__eq__, i + 2
        elif body[i] == ".":
            accepts, i = (lambda c: True), i + 1
        else:
            accepts, i = body[i].__eq__, i + 1
        times = body[i] if i < len(body) and body[i] in "?*+" else ""
        i += len(times)
        after = state()
        if times in ("", "?"):
            edges[here].append((accepts, after))
            if times == "?":
                edges[here].append((None, after))
        else:
            loop = state()
            edges[here].append((accepts if times == "+" else None, loop))
            edges[loop] += [(accepts, loop), (None, after)]
        here = after
    return edges, here


def common_name(one: re.Pattern[str], other: re.Pattern[str]) -> str | None:
    """A shortest name both `one` and `other` admit (each from `filter_regex` or `github_glob`),
    or None when there is none: the pairs of states reached by names of each length in turn."""
    (a, a_end), (b, b_end) = _automaton(one.pattern), _automaton(other.pattern)
    alphabet = sorted(set(one.pattern + other.pattern + "/" + _OTHER))
    seen: set[tuple[int, int]] = set()

    def closure(level: dict[tuple[int, int], str]) -> dict[tuple[int, int], str]:
        """`level` and every pair its moves that take no character reach, with the same name."""
        stack = list(level)
        while stack:
            x, y = stack.pop()
            for pair in [(to, y) for move, to in a[x] if move is None] + [
                (x, to) for move, to in b[y] if move is None
            ]:
                if pair not in level and pair not in seen:
                    level[pair] = level[(x, y)]
                    stack.append(pair)
        return level

    level = closure({(0, 0): ""})
    while level:
        if (a_end, b_end) in level:
            return level[(a_end, b_end)]
        seen.update(level)
        step: dict[tuple[int, int], str] = {}
        for (x, y), name in level.items():
            for char in alphabet:
                for ax, tx in a[x]:
                    if ax is None or not ax(char):
                        continue
                    for ay, ty in b[y]:
                        if ay is not None and ay(char) and (tx, ty) not in seen:
                            step.setdefault((tx, ty), name + char)
        level = closure(step)
    return None

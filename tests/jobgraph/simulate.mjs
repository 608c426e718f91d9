// Which jobs of a GitHub Actions workflow run for a given event: the node side of tests/jobgraph.py.
//
// Run as `node --import ./tests/jobgraph/register-json-hook.mjs tests/jobgraph/simulate.mjs` (the hook lets
// node 20 load @actions/workflow-parser, see register-json-hook.mjs). Reads one JSON document on stdin,
// `{"cases": [Case, ...]}` (fields as tests/jobgraph.py's Case), and writes `{"results": [...]}` on stdout,
// one entry per case, in order: `{"triggered": bool, "jobs": {job id: result}, "legs": {job id: {leg name:
// result}}, "matrix": {job id: [matrix context of each leg]}}` (legs and matrix only for the matrix jobs that
// ran), or `{"errors": [message]}` when the parser refuses the workflow. Anything else that goes wrong (a case
// naming a job or an input the workflow doesn't have, a status function we don't model, ...) ends the process
// with exit code 1 and the message on stderr: the harness must never answer a question it can't answer. With
// `"case_errors": true` in the request, a case the workflow doesn't fit answers `{"case_error": message}`
// instead and the other cases still run; a bug of the harness (anything but a case that doesn't fit) still
// ends the process.
//
// The workflow is read by GitHub's own parser (parseWorkflow + convertWorkflowTemplate, which also validates
// it against GitHub's workflow schema, checks `needs` for unknown jobs and cycles, and wraps an `if:` that has
// no status function as `success() && (...)`), and each job's `if:`, `strategy` and `name:` are evaluated by
// GitHub's own expression evaluator (@actions/expressions). What this file adds is the part GitHub runs
// server-side: the trigger filters, the order of jobs, the contexts, the status functions
// success()/failure()/cancelled()/always(), and the expansion of `strategy.matrix` into legs (see "Matrices").

import { Evaluator, Lexer, Parser, data } from "@actions/expressions";
import { falsy } from "@actions/expressions/result";
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } from "@actions/workflow-parser";
import { splitAllowedContext } from "@actions/workflow-parser/templates/allowed-context";
import { TokenType } from "@actions/workflow-parser/templates/tokens/types";
import { getWorkflowSchema } from "@actions/workflow-parser/workflows/workflow-schema";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const REPOSITORY = "acme/shop";
const OUTCOMES = new Set(["success", "failure", "cancelled"]);

class CaseError extends Error {}

// ---------------------------------------------------------------------------------------------------------
// Parsing, once per distinct workflow text of the batch.

const parsed = new Map();

async function parse(text) {
  let entry = parsed.get(text);
  if (entry === undefined) {
    const result = parseWorkflow({ name: "workflow.yml", content: text }, new NoOperationTraceWriter());
    const template =
      result.value === undefined ? undefined : await convertWorkflowTemplate(result.context, result.value);
    const errors =
      template === undefined
        ? result.context.errors.getErrors().map(e => e.message)
        : (template.errors ?? []).map(e => e.Message);
    if (errors.length === 0) {
      errors.push(...filterConflicts(template.events ?? {}));
    }
    if (errors.length === 0 && (template.events === undefined || template.jobs === undefined)) {
      errors.push("workflow.yml: the parser returned no `on:` or no `jobs:`");
    }
    if (errors.length === 0) {
      for (const job of template.jobs) errors.push(...earlyStrategyErrors(job));
    }
    entry = errors.length > 0 ? { errors } : { template, root: result.value };
    parsed.set(text, entry);
  }
  return entry;
}

// GitHub refuses a workflow that uses both `branches` and `branches-ignore` (or `tags` and `tags-ignore`,
// `paths` and `paths-ignore`) for one event; the parser's schema doesn't check that, so we report it as the
// parse error GitHub would show. https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#onpushpull_requestpull_request_targetpathspaths-ignore
function filterConflicts(events) {
  const errors = [];
  for (const [event, config] of Object.entries(events)) {
    for (const filter of ["branches", "tags", "paths"]) {
      if (config && config[filter] !== undefined && config[`${filter}-ignore`] !== undefined) {
        errors.push(`workflow.yml: on.${event} uses both '${filter}' and '${filter}-ignore'`);
      }
    }
  }
  return errors;
}

// The contexts and functions a job-level `if:` may use, as GitHub's workflow schema declares them
// (definition "job-if": github, inputs, vars, needs, always(0,0), failure(0,MAX), cancelled(0,0), success(0,MAX)).
const JOB_IF = splitAllowedContext(getWorkflowSchema().getDefinition("job-if").readerContext);
// What `strategy` may read (definition "strategy": github, inputs, vars, needs; no matrix, no status
// functions) and what a job's `name:` may read (definition "string-strategy-context", the type of a job's
// `name`: github, inputs, vars, needs, strategy, matrix).
const STRATEGY = splitAllowedContext(getWorkflowSchema().getDefinition("strategy").readerContext);
const JOB_NAME = splitAllowedContext(getWorkflowSchema().getDefinition("string-strategy-context").readerContext);

// ---------------------------------------------------------------------------------------------------------
// Triggers.

// GitHub's filter pattern syntax ("Filter pattern cheat sheet",
// https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#filter-pattern-cheat-sheet):
//   `*` zero or more characters but not `/`; `**` zero or more of any character; `?` zero or one of the
//   preceding character; `+` one or more of the preceding character; `[...]` one character listed or in a
//   range (ranges only a-z, A-Z, 0-9); `\` escapes the next character; `!` first negates (handled by callers).
function patternToRegExp(pattern) {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") {
      if (pattern[i + 1] === "*") {
        // `**/` also matches nothing at all, so `**/x` matches `x` (as in the cheat sheet's `**/README.md`).
        if (pattern[i + 2] === "/") {
          re += "(?:.*/)?";
          i += 2;
        } else {
          re += ".*";
          i += 1;
        }
      } else {
        re += "[^/]*";
      }
    } else if (c === "?" || c === "+") {
      if (i === 0) {
        throw new CaseError(`filter pattern '${pattern}': '${c}' has no preceding character`);
      }
      re += c;
    } else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      const body = end < 0 ? "" : pattern.slice(i + 1, end);
      if (!/^(?:[a-z]-[a-z]|[A-Z]-[A-Z]|[0-9]-[0-9]|[A-Za-z0-9])+$/.test(body)) {
        throw new CaseError(`filter pattern '${pattern}': bad character class at ${i}`);
      }
      re += `[${body}]`;
      i = end;
    } else if (c === "\\") {
      if (i + 1 >= pattern.length) {
        throw new CaseError(`filter pattern '${pattern}': trailing '\\'`);
      }
      re += escapeRegExp(pattern[i + 1]);
      i += 1;
    } else {
      re += escapeRegExp(c);
    }
  }
  return new RegExp(re + "$");
}

function escapeRegExp(c) {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

// Patterns are applied in order; a pattern starting with `!` excludes what earlier ones included, a later
// positive one includes again: the last matching pattern decides
// (https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#example-including-and-excluding-branches).
function lastMatchIncludes(patterns, name) {
  let included = false;
  for (const raw of patterns) {
    const negative = raw.startsWith("!");
    if (patternToRegExp(negative ? raw.slice(1) : raw).test(name)) {
      included = !negative;
    }
  }
  return included;
}

// `branches: [...]` runs for a name it includes; `branches-ignore: [...]` for a name it doesn't; neither: all.
function passes(config, kind, name) {
  if (config[kind] !== undefined) {
    return lastMatchIncludes(config[kind], name);
  }
  if (config[`${kind}-ignore`] !== undefined) {
    return !lastMatchIncludes(config[`${kind}-ignore`], name);
  }
  return true;
}

function has(config, kind) {
  return config[kind] !== undefined || config[`${kind}-ignore`] !== undefined;
}

function refParts(ref) {
  if (ref.startsWith("refs/heads/")) return { type: "branch", name: ref.slice("refs/heads/".length) };
  if (ref.startsWith("refs/tags/")) return { type: "tag", name: ref.slice("refs/tags/".length) };
  if (ref.startsWith("refs/pull/")) return { type: "pull", name: ref.slice("refs/pull/".length) };
  throw new CaseError(`ref '${ref}' is not refs/heads/..., refs/tags/... or refs/pull/...`);
}

// `paths`/`paths-ignore` and activity `types` are not modelled (a case carries no changed files and no action).
function triggered(events, c) {
  if (!Object.hasOwn(events, c.event)) {
    return false;
  }
  const config = events[c.event] ?? {};
  const ref = refParts(c.ref);
  switch (c.event) {
    case "push":
      // "If you define only tags/tags-ignore or only branches/branches-ignore, the workflow won't run for
      // events affecting the undefined Git ref. If you define neither ..., the workflow will run for events
      // affecting either branches or tags."
      // https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#onpushbranchestagsbranches-ignoretags-ignore
      if (ref.type === "pull") {
        throw new CaseError(`a push can't be to ${c.ref}`);
      }
      if (!has(config, "branches") && !has(config, "tags")) {
        return true;
      }
      {
        const kind = ref.type === "tag" ? "tags" : "branches";
        return has(config, kind) && passes(config, kind, ref.name);
      }
    case "pull_request":
    case "pull_request_target":
      // For pull_request(_target) the branch filters match the pull request's BASE branch (the branch it
      // targets), not its head.
      // https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#onpull_requestpull_request_targetbranchesbranches-ignore
      return passes(config, "branches", c.base_ref);
    case "workflow_run":
      // The branches filter applies to the branch the triggering run ran on; the case's `ref` stands for it.
      return passes(config, "branches", ref.name);
    default:
      return true;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Contexts.

function toData(value) {
  return JSON.parse(JSON.stringify(value), data.reviver);
}

// The raw `on.workflow_dispatch.inputs.<name>.<key>` token: the converter maps an input's `type` through an
// enum that lacks `number` (0.3.61), dropping both its type and its default, so for those we read the
// parser's token tree (not the YAML text).
function rawInputToken(root, name, key) {
  let token = root.find("on");
  for (const k of ["workflow_dispatch", "inputs", name, key]) {
    token = token !== undefined && typeof token.find === "function" ? token.find(k) : undefined;
  }
  return token;
}

// workflow_dispatch inputs: `inputs` keeps booleans and numbers typed, `github.event.inputs` has strings.
// https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/accessing-contextual-information-about-workflow-runs#inputs-context
function dispatchInputs(template, root, c) {
  const given = c.inputs ?? {};
  if (c.event !== "workflow_dispatch") {
    if (Object.keys(given).length > 0) {
      throw new CaseError(`inputs are given but the event is ${c.event}, not workflow_dispatch`);
    }
    return { typed: {}, strings: undefined };
  }
  const declared = template.events.workflow_dispatch?.inputs ?? {};
  for (const name of Object.keys(given)) {
    if (!Object.hasOwn(declared, name)) {
      throw new CaseError(`input '${name}' is not declared under on.workflow_dispatch.inputs`);
    }
  }
  const typed = {};
  const strings = {};
  for (const [name, input] of Object.entries(declared)) {
    let type = input.type;
    let fallback = input.default;
    if (type === undefined) {
      type = rawInputToken(root, name, "type")?.value;
      const raw = rawInputToken(root, name, "default")?.value;
      fallback = raw === undefined ? undefined : Number(raw);
    }
    let value;
    if (Object.hasOwn(given, name)) {
      value = given[name];
    } else if (fallback !== undefined) {
      value = fallback;
    } else if (input.required) {
      throw new CaseError(`required input '${name}' has no default and is not given`);
    } else {
      value = type === "boolean" ? false : type === "number" ? null : "";
    }
    const expected = { boolean: "boolean", number: "number" }[type] ?? "string";
    if (value !== null && typeof value !== expected) {
      throw new CaseError(`input '${name}' is of type ${type}: ${JSON.stringify(value)} is not a ${expected}`);
    }
    if (type === "choice" && !input.options.includes(value)) {
      throw new CaseError(`input '${name}': ${JSON.stringify(value)} is not one of ${JSON.stringify(input.options)}`);
    }
    typed[name] = value;
    strings[name] = value === null ? "" : String(value);
  }
  return { typed, strings };
}

// https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/accessing-contextual-information-about-workflow-runs#github-context
function githubContext(c, dispatchStrings) {
  const ref = refParts(c.ref);
  const isPullRequest = c.event === "pull_request" || c.event === "pull_request_target";
  const headRef = c.head_ref ?? "feature";
  const event = {};
  if (dispatchStrings !== undefined) {
    event.inputs = dispatchStrings;
  }
  if (isPullRequest) {
    event.pull_request = { base: { ref: c.base_ref }, head: { ref: headRef } };
  }
  return {
    event_name: c.event,
    ref: c.ref,
    ref_name: ref.name,
    ref_type: ref.type === "tag" ? "tag" : "branch",
    sha: SHA,
    repository: REPOSITORY,
    // "only available when the event that triggers a workflow run is either pull_request or
    // pull_request_target"; empty otherwise.
    base_ref: isPullRequest ? c.base_ref : "",
    head_ref: isPullRequest ? headRef : "",
    event,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Jobs.

function jobGraph(jobs) {
  const byId = new Map(jobs.map(j => [j.id.value, j]));
  const needs = new Map(jobs.map(j => [j.id.value, (j.needs ?? []).map(n => n.value)]));
  const ancestors = new Map();
  const wave = new Map();
  // The parser has already refused unknown needs and cycles, so this recursion ends.
  const visit = id => {
    if (!ancestors.has(id)) {
      const all = new Set();
      let w = 0;
      for (const need of needs.get(id)) {
        visit(need);
        all.add(need);
        for (const a of ancestors.get(need)) all.add(a);
        w = Math.max(w, wave.get(need) + 1);
      }
      ancestors.set(id, all);
      wave.set(id, w);
    }
  };
  for (const id of byId.keys()) visit(id);
  // Dependency order: a job comes after everything it needs; a job of an earlier wave comes first.
  const order = [...byId.keys()].sort((a, b) => wave.get(a) - wave.get(b));
  return { byId, needs, ancestors, wave, order };
}

function declaredOutputs(job) {
  return job.outputs ? [...job.outputs].map(p => p.key.assertString("job output name").value) : [];
}

// An outcomes key: `<job id>` (the job, every leg of a matrix job) or `<job id>/<leg name>` (one leg; a job
// id has no `/`, a leg name may).
function outcomeKey(key) {
  const slash = key.indexOf("/");
  return slash < 0 ? { id: key, leg: undefined } : { id: key.slice(0, slash), leg: key.slice(slash + 1) };
}

function checkCase(template, c) {
  const ids = new Set(template.jobs.map(j => j.id.value));
  for (const [key, outcome] of Object.entries(c.outcomes ?? {})) {
    const { id } = outcomeKey(key);
    if (!ids.has(id)) throw new CaseError(`outcomes name job '${id}', which the workflow doesn't have`);
    if (!OUTCOMES.has(outcome)) {
      throw new CaseError(`outcome of '${key}' is '${outcome}', not one of ${[...OUTCOMES].join(", ")}`);
    }
  }
  for (const [id, outputs] of Object.entries(c.outputs ?? {})) {
    const job = template.jobs.find(j => j.id.value === id);
    if (job === undefined) throw new CaseError(`outputs name job '${id}', which the workflow doesn't have`);
    if (job.type === "job") {
      const declared = new Set(declaredOutputs(job));
      for (const name of Object.keys(outputs)) {
        if (!declared.has(name)) throw new CaseError(`job '${id}' declares no output '${name}'`);
      }
    }
  }
  if ((c.event === "pull_request" || c.event === "pull_request_target") && typeof c.base_ref !== "string") {
    throw new CaseError(`a ${c.event} case needs base_ref (the pull request's base branch)`);
  }
}

// Job-level status functions (https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/evaluate-expressions-in-workflows-and-actions#status-check-functions):
//  - success(): every job in the job's dependency chain (all ancestors, not only direct needs) finished with
//    `success`, and the run isn't cancelled. A skipped ancestor makes it false, which is why a job needing a
//    job that ran after a skipped one is skipped too ("If a job fails or is skipped, all jobs that need it
//    are skipped unless the jobs use a conditional expression that causes the job to continue", docs
//    "Using jobs in a workflow" / jobs.<job_id>.needs).
//  - failure(): "If you have a chain of dependent jobs, failure() returns true if any ancestor job fails."
//  - cancelled(): "Returns true if the workflow was canceled." Modelled: a job that ran ended `cancelled` in
//    an earlier wave of the run (a wave = the jobs whose longest chain of needs has the same length; every
//    ancestor is in an earlier wave), i.e. the run was cancelled before this job's turn.
//  - always(): true.
// GitHub doesn't document the job-level success(<job ids>)/failure(<job ids>) that its schema allows; we
// follow Azure Pipelines, the system GitHub's job orchestration comes from: with job ids, only those jobs are
// looked at (https://learn.microsoft.com/en-us/azure/devops/pipelines/process/expressions#job-status-check-functions).
function statusFunctions(id, graph, results, runCancelled) {
  const scope = args => {
    if (args.length === 0) return [...graph.ancestors.get(id)];
    return args.map(a => {
      const name = a.coerceString();
      if (!graph.ancestors.get(id).has(name)) {
        throw new CaseError(`job '${id}': status function names '${name}', which is not in its dependency chain`);
      }
      return name;
    });
  };
  const impl = {
    success: (...args) => !runCancelled && scope(args).every(j => results.get(j) === "success"),
    failure: (...args) => scope(args).some(j => results.get(j) === "failure"),
    cancelled: () => runCancelled,
    always: () => true,
  };
  const functions = new Map();
  for (const f of JOB_IF.functions) {
    const call = impl[f.name.toLowerCase()];
    if (call === undefined) {
      throw new Error(`the workflow schema allows status function ${f.name}() in job if:, which this harness doesn't model`);
    }
    functions.set(f.name.toLowerCase(), { ...f, call: (...args) => new data.BooleanData(call(...args)) });
  }
  return functions;
}

function evaluateIf(expression, context, functions) {
  const tokens = new Lexer(expression).lex().tokens;
  const tree = new Parser(tokens, JOB_IF.namedContexts, JOB_IF.functions).parse();
  return !falsy(new Evaluator(tree, toData(context), functions).evaluate());
}

// ---------------------------------------------------------------------------------------------------------
// Matrices.
//
// A job that runs (its `if:` was true: the job-level `if` has no `matrix` context) and has a
// `strategy.matrix` runs once per combination of the matrix: one "leg" each. GitHub expands the matrix
// server-side, but the code that does it is public, in the runner repository's copy of GitHub's workflow
// parser (https://github.com/actions/runner/tree/main/src/Sdk/WorkflowParser):
// WorkflowTemplateEvaluator.EvaluateStrategy evaluates the `strategy` token (contexts github, inputs, vars,
// needs), Conversion/WorkflowTemplateConverter.ConvertToStrategy reads it, Conversion/MatrixBuilder.Build
// expands it and Conversion/JobNameBuilder names the legs. This section follows that code, which implements
// the documented rules
// (https://docs.github.com/en/actions/writing-workflows/choosing-what-your-workflow-does/running-variations-of-jobs-in-a-workflow):
//  - "A job will run for each possible combination of the variables" (every key but include/exclude), in
//    order: "The first variable you define will be the first job that is created" (the first key varies
//    slowest).
//  - exclude: "An excluded configuration only has to be a partial match for it to be excluded."
//  - include: "For each object in the include list, the key:value pairs in the object will be added to each
//    of the matrix combinations if none of the key:value pairs overwrite any of the original matrix values.
//    If the object cannot be added to any of the matrix combinations, a new matrix combination will be
//    created instead. Note that the original matrix values will not be overwritten, but added matrix values
//    can be overwritten." Includes are matched against the combinations left after exclude ("All include
//    combinations are processed after exclude"), only against those (an include never extends a combination
//    another include created), and a later include overwrites what an earlier one added.
//  - "A matrix will generate a maximum of 256 jobs per workflow run."
// "Matches" is GitHub's `==` (MatrixBuilder.MatrixFilter turns each leaf of an include/exclude object into
// `matrix.<path> == <value>`), so strings compare case-insensitively and '1' matches 1; we evaluate the same
// comparisons with GitHub's evaluator.
//
// Errors, as ConvertToStrategy/MatrixBuilder report them: "Matrix vector '<key>' does not contain any values"
// (an empty list), "Matrix must define at least one vector" (no key but include/exclude, and include empty:
// `include: []` or a `fromJSON` of `[]` there), "Matrix include mapping does not contain any values",
// "Matrix exclude filter must not be empty", "Matrix exclude key '<key>' does not match any key within the
// matrix"; a value that is not a list where a list is needed (our wording); a failing expression
// (`fromJSON` of something that is not JSON) with the evaluator's message; and more than 256 legs: "Strategy
// for job '<id>' produced <n> configurations which exceeds the maximum of 256 configurations" (the message
// GitHub shows, as quoted in https://github.com/NVIDIA/aicr/issues/1171 and
// https://github.com/cryfs/cryfs/pull/543; the limit is not in the parser's code). When the job runs these
// are case errors (GitHub fails the run), prefixed as EvaluateStrategy does: "Error when evaluating
// 'strategy' for job '<id>'.". GitHub also checks the literal parts of a matrix when it reads the workflow
// (ConvertToStrategy with isEarlyValidation), so a literal `os: []` is refused with the workflow: a
// parse error, even for an event that would skip the job; parts holding an expression wait for the job.
//
// A matrix whose `exclude` removes every combination (and no include is left) expands to nothing, and then
// EvaluateStrategy runs the job ONCE, with no matrix, as a job without a matrix: so do we (no legs).
//
// Each leg's display name (MatrixBuilder.CreateConfiguration + JobNameBuilder): the values of its
// combination, depth first (the values of an object or list value too, booleans as true/false, numbers as
// .NET's G15; null and '' left out), joined by ", " in parentheses after the job's name:
// `build (api, linux/arm64)`, cut to 97 characters + "..." past 100. Only the values the combination was
// built with count: the cross product's keys, or all the keys of an include that became a combination of
// its own (its keys that are matrix keys first); the values an include ADDS to a combination are in its
// `matrix` context but not in its name. The name before the parentheses: the job id when the job has no
// `name:`; a literal `name:` as it is (`Build (api, linux/arm64)`). A `name:` holding an expression is
// evaluated for each leg with github, inputs, vars, needs, strategy and matrix, and is the whole name, with
// no parentheses added (`name: Build ${{ matrix.image }}` gives `Build api` for each platform of api; an
// empty result falls back to the job id's name). How GitHub's server picks between the literal and the
// evaluated name is not in the public code (EvaluateStrategy takes "the default job display name (any display
// name expression is evaluated after strategy)", EvaluateJobName falls back to a default when the result is
// empty): the literal-name and expression-name rules above are inferred from that and from what GitHub shows.
// Legs that end up with the same name are one entry of `legs` (an outcome for that name ends them all).

const MAX_CONFIGURATIONS = 256;
// The product of the matrix's lists before exclude: past this, we refuse to expand (not a GitHub rule; GitHub
// would refuse it anyway unless exclude took it back under 256).
const MAX_PRODUCT = 65536;
const MAX_NAME_LENGTH = 100;

// An expression in the strategy when it is checked at parse time (its value is known only when the job runs).
const UNKNOWN = Symbol("expression");
// Mappings (parse time) with a key that is an expression.
const UNKNOWN_KEYS = new WeakSet();

function isMapping(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function containsUnknown(value) {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  return isMapping(value) && (UNKNOWN_KEYS.has(value) || Object.values(value).some(containsUnknown));
}

// obj[key] = value, also for a key such as `__proto__` (the keys come from the workflow and from outputs).
function put(obj, key, value) {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

function show(value) {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

// The parser's error prefix: "workflow.yml (Line: 7, Col: 13): ".
function location(token) {
  const start = token?.range?.start;
  return start === undefined ? "" : `workflow.yml (Line: ${start.line}, Col: ${start.column}): `;
}

function fromData(value) {
  return JSON.parse(JSON.stringify(value, data.replacer));
}

// Evaluates expression tokens with `contexts` (only the named contexts `allowed` has); an expression that
// fails (fromJSON of something that is not JSON, ...) is a case error with `prefix`.
function expressionEvaluator(contexts, allowed, prefix) {
  const context = toData(contexts);
  return token => {
    const tree = new Parser(new Lexer(token.expression).lex().tokens, allowed.namedContexts, allowed.functions).parse();
    try {
      return fromData(new Evaluator(tree, context, undefined).evaluate());
    } catch (err) {
      throw new CaseError(`${prefix} ${location(token)}${err.message}`);
    }
  };
}

// The value of a token of the parser's tree: literals as they are, each `${{ }}` by `evaluate(token)` (the
// value GitHub's template evaluator puts in its place), or UNKNOWN when there is no `evaluate` (parse time).
// `where` gets the token each mapping and list came from, for error messages.
function templateValue(token, evaluate, where) {
  switch (token.templateTokenType) {
    case TokenType.String:
    case TokenType.Number:
    case TokenType.Boolean:
      return token.value;
    case TokenType.Null:
      return null;
    case TokenType.Sequence: {
      const out = [];
      where.set(out, token);
      for (const item of token) out.push(templateValue(item, evaluate, where));
      return out;
    }
    case TokenType.Mapping: {
      const out = {};
      where.set(out, token);
      for (const pair of token) {
        const key = templateValue(pair.key, evaluate, where);
        if (key === UNKNOWN) {
          UNKNOWN_KEYS.add(out);
        } else {
          put(out, typeof key === "string" ? key : show(key), templateValue(pair.value, evaluate, where));
        }
      }
      return out;
    }
    case TokenType.BasicExpression: {
      if (evaluate === undefined) return UNKNOWN;
      const value = evaluate(token);
      remember(value, token, where);
      return value;
    }
    default:
      throw new Error(`unexpected token of type ${token.templateTokenType} in a strategy`);
  }
}

function remember(value, token, where) {
  if (value !== null && typeof value === "object") {
    where.set(value, token);
    for (const item of Object.values(value)) remember(item, token, where);
  }
}

// ConvertToStrategy: `{errors, strategy: {failFast, maxParallel, configurations}}`; `early`: parse time, when
// the parts holding an expression are skipped and the matrix is expanded only if it holds none.
function convertStrategy(value, where, early) {
  const errors = [];
  const fail = (at, message) => errors.push(`${location(where.get(at))}${message}`);
  const strategy = { failFast: true, maxParallel: 0, configurations: [] };
  if (early && value === UNKNOWN) return { errors, strategy };
  if (!isMapping(value)) {
    fail(value, `strategy is not a mapping: ${show(value)}`);
    return { errors, strategy };
  }
  let hasExpressions = UNKNOWN_KEYS.has(value);
  let builder;
  for (const [key, item] of Object.entries(value)) {
    if (early && item === UNKNOWN) {
      hasExpressions = true;
    } else if (key === "fail-fast") {
      if (typeof item === "boolean") strategy.failFast = item;
      else fail(value, `strategy fail-fast is not a boolean: ${show(item)}`);
    } else if (key === "max-parallel") {
      if (typeof item === "number") strategy.maxParallel = item;
      else fail(value, `strategy max-parallel is not a number: ${show(item)}`);
    } else if (key === "matrix") {
      hasExpressions ||= containsUnknown(item);
      builder = convertMatrix(item, fail, early);
    } else {
      fail(value, `unexpected strategy key '${key}'`);
    }
  }
  if (!hasExpressions && errors.length === 0 && builder !== undefined) {
    strategy.configurations = buildMatrix(builder, fail);
  }
  return { errors, strategy };
}

// The matrix's lists ("vectors"), include and exclude, checked as ConvertToStrategy does.
function convertMatrix(matrix, fail, early) {
  if (!isMapping(matrix)) {
    fail(matrix, `matrix is not a mapping: ${show(matrix)}`);
    return undefined;
  }
  const builder = { vectors: [], include: [], exclude: [] };
  let hasCrossProductVector = UNKNOWN_KEYS.has(matrix);
  let hasIncludeVector = false;
  for (const [key, item] of Object.entries(matrix)) {
    if (key === "include" || key === "exclude") {
      if (early && containsUnknown(item)) {
        hasIncludeVector ||= key === "include";
      } else if (!Array.isArray(item)) {
        fail(matrix, `matrix ${key} is not a list: ${show(item)}`);
      } else {
        hasIncludeVector ||= key === "include" && item.length > 0;
        builder[key] = item;
      }
    } else {
      hasCrossProductVector = true;
      if (early && containsUnknown(item)) continue;
      if (!Array.isArray(item)) {
        fail(matrix, `Matrix vector '${key}' is not a list: ${show(item)}`);
      } else if (item.length === 0) {
        fail(item, `Matrix vector '${key}' does not contain any values`);
      } else {
        builder.vectors.push([key, item]);
      }
    }
  }
  if (!hasCrossProductVector && !hasIncludeVector) {
    fail(matrix, "Matrix must define at least one vector");
  }
  return builder;
}

// Matrix keys are case-insensitive (GitHub's dictionaries are).
function findKey(obj, key) {
  const lower = key.toLowerCase();
  return Object.keys(obj).find(k => k.toLowerCase() === lower);
}

// A filter (an include's keys that are matrix keys, or an exclude object) as MatrixBuilder.MatrixFilter
// builds it: each leaf, however deep, must be `==` the combination's value at its path.
function matrixFilter(filter) {
  const paths = [];
  const leaves = [];
  const walk = (value, path) => {
    if (value !== null && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        walk(v, Array.isArray(value) ? `${path}[${k}]` : `${path}['${k.replaceAll("'", "''")}']`);
      }
    } else {
      paths.push(`${path} == filter[${leaves.length}]`);
      leaves.push(value);
    }
  };
  walk(filter, "matrix");
  if (paths.length === 0) return () => true;
  const tree = new Parser(new Lexer(paths.join(" && ")).lex().tokens, ["matrix", "filter"], []).parse();
  return combination => !falsy(new Evaluator(tree, toData({ matrix: combination, filter: leaves }), undefined).evaluate());
}

// MatrixBuilder.Build: the cross product less what exclude matches, each extended by the includes that
// match it; then each include that matched nothing as a combination of its own.
function buildMatrix({ vectors, include, exclude }, fail) {
  const isVector = key => vectors.some(([name]) => name.toLowerCase() === key.toLowerCase());
  const includes = [];
  for (const item of include) {
    if (!isMapping(item)) {
      fail(include, `matrix include item is not a mapping: ${show(item)}`);
      continue;
    }
    const filter = {};
    const extra = {};
    for (const [key, value] of Object.entries(item)) put(isVector(key) ? filter : extra, key, value);
    if (Object.keys(item).length === 0) {
      fail(item, "Matrix include mapping does not contain any values");
      continue;
    }
    includes.push({ matches: matrixFilter(filter), filter, extra, matched: false });
  }
  const excludes = [];
  for (const item of exclude) {
    if (!isMapping(item)) {
      fail(exclude, `matrix exclude item is not a mapping: ${show(item)}`);
      continue;
    }
    if (Object.keys(item).length === 0) {
      fail(item, "Matrix exclude filter must not be empty");
      continue;
    }
    for (const key of Object.keys(item)) {
      if (!isVector(key)) fail(item, `Matrix exclude key '${key}' does not match any key within the matrix`);
    }
    excludes.push(matrixFilter(item));
  }
  const productSize = vectors.length === 0 ? 0 : vectors.reduce((size, [, values]) => size * values.length, 1);
  if (productSize > MAX_PRODUCT) {
    fail(vectors[0][1], `the matrix's lists make ${productSize} combinations: the harness doesn't expand more than ${MAX_PRODUCT}`);
    return [];
  }
  const configurations = [];
  for (let index = 0; index < productSize; index++) {
    const combination = {};
    let blockSize = productSize;
    for (const [name, values] of vectors) {
      blockSize /= values.length;
      put(combination, name, values[Math.floor(index / blockSize) % values.length]);
    }
    if (excludes.some(matches => matches(combination))) continue;
    const extra = {};
    for (const inc of includes) {
      if (inc.matches(combination)) {
        inc.matched = true;
        for (const [key, value] of Object.entries(inc.extra)) put(extra, findKey(extra, key) ?? key, value);
      }
    }
    configurations.push(configuration(combination, extra));
  }
  for (const inc of includes) {
    if (!inc.matched) configurations.push(configuration({ ...inc.filter, ...inc.extra }, {}));
  }
  return configurations;
}

// A leg: its `matrix` context, and the values its name shows (those it was built with, not an include's extras).
function configuration(combination, extra) {
  return { segments: nameSegments(combination), matrix: { ...combination, ...extra } };
}

function nameSegments(value) {
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(nameSegments);
  if (typeof value === "boolean") return [value ? "true" : "false"];
  // .NET's ToString("G15"): 15 significant digits.
  if (typeof value === "number") return [String(Number(value.toPrecision(15)))];
  return typeof value === "string" && value !== "" ? [value] : [];
}

// JobNameBuilder.Build.
function legName(base, segments) {
  const name = segments.length === 0 ? base : `${base} (${segments.join(", ")})`;
  return name.length > MAX_NAME_LENGTH ? `${name.slice(0, MAX_NAME_LENGTH - 3)}...` : name;
}

// Parse time: the literal parts of the job's strategy, checked as GitHub does when it reads the workflow.
function earlyStrategyErrors(job) {
  if (job.strategy === undefined) return [];
  const where = new WeakMap();
  return convertStrategy(templateValue(job.strategy, undefined, where), where, true).errors;
}

// The legs of a job that runs: `[{name, matrix}]` in order, or undefined when it runs once, as a job without
// a matrix (no `strategy.matrix`, or nothing left after exclude). `context`: github, inputs, vars, needs.
function expandMatrix(id, job, context) {
  if (job.strategy === undefined) return undefined;
  const prefix = `Error when evaluating 'strategy' for job '${id}'.`;
  const where = new WeakMap();
  const value = templateValue(job.strategy, expressionEvaluator(context, STRATEGY, prefix), where);
  const { errors, strategy } = convertStrategy(value, where, false);
  if (errors.length > 0) {
    throw new CaseError(`${prefix} ${errors.join(" ")}`);
  }
  const total = strategy.configurations.length;
  if (total === 0) return undefined;
  if (total > MAX_CONFIGURATIONS) {
    throw new CaseError(
      `${prefix} ${location(job.strategy)}Strategy for job '${id}' produced ${total} configurations which exceeds ` +
        `the maximum of ${MAX_CONFIGURATIONS} configurations`,
    );
  }
  // The converter gives `name` the job id's token when the job has no `name:` (or an empty one).
  const named = job.name !== job.id;
  const nameIsExpression = named && job.name.templateTokenType === TokenType.BasicExpression;
  const base = named && !nameIsExpression ? String(job.name.value) : id;
  return strategy.configurations.map((leg, index) => {
    let name = legName(base, leg.segments);
    if (nameIsExpression) {
      const legContext = {
        ...context,
        matrix: leg.matrix,
        strategy: {
          "fail-fast": strategy.failFast,
          "job-index": index,
          "job-total": total,
          "max-parallel": strategy.maxParallel > 0 ? strategy.maxParallel : total,
        },
      };
      const namePrefix = `Error when evaluating 'name' for job '${id}'.`;
      const evaluated = expressionEvaluator(legContext, JOB_NAME, namePrefix)(job.name);
      const text = evaluated === null ? "" : typeof evaluated === "object" ? JSON.stringify(evaluated) : String(evaluated);
      if (text !== "") name = text;
    }
    return { name, matrix: leg.matrix };
  });
}

// The case's outcomes for single legs of job `id`: leg name -> outcome.
function legOutcomes(c, id) {
  const given = new Map();
  for (const [key, outcome] of Object.entries(c.outcomes ?? {})) {
    const parsed = outcomeKey(key);
    if (parsed.id === id && parsed.leg !== undefined) given.set(parsed.leg, outcome);
  }
  return given;
}

// A matrix job's result from its legs': `failure` if any failed, else `cancelled` if any was cancelled, else
// `success`.
function aggregate(legResults) {
  if (legResults.includes("failure")) return "failure";
  if (legResults.includes("cancelled")) return "cancelled";
  return "success";
}

async function simulateCase(c) {
  const entry = await parse(c.workflow);
  if (entry.errors) {
    return { errors: entry.errors };
  }
  const { template, root } = entry;
  checkCase(template, c);
  const { typed, strings } = dispatchInputs(template, root, c);
  const github = githubContext(c, strings);
  const graph = jobGraph(template.jobs);
  const results = new Map();
  const outputs = new Map();
  const legs = new Map();
  const matrices = new Map();
  const isTriggered = triggered(template.events, c);
  if (!isTriggered) {
    for (const id of graph.order) results.set(id, "skipped");
  }
  for (const id of isTriggered ? graph.order : []) {
    const job = graph.byId.get(id);
    const runCancelled = [...results].some(([j, r]) => r === "cancelled" && graph.wave.get(j) < graph.wave.get(id));
    const needs = {};
    for (const need of graph.needs.get(id)) {
      // `needs.<job_id>.outputs` is empty for a job that didn't run.
      needs[need] = { result: results.get(need), outputs: outputs.get(need) ?? {} };
    }
    const context = { github, inputs: typed, vars: c.vars ?? {}, needs };
    const runs = evaluateIf(job.if.expression, context, statusFunctions(id, graph, results, runCancelled));
    // Only a job that runs has its matrix evaluated (a skipped job's matrix may well be empty or invalid).
    const matrixLegs = runs ? expandMatrix(id, job, context) : undefined;
    const given = legOutcomes(c, id);
    if (!runs) {
      results.set(id, "skipped");
    } else if (matrixLegs === undefined) {
      if (given.size > 0) {
        throw new CaseError(`outcomes name leg '${id}/${[...given.keys()][0]}', but job '${id}' runs without a matrix`);
      }
      results.set(id, c.outcomes?.[id] ?? "success");
    } else {
      // Legs of one name (GitHub allows it) are one entry: an outcome names them all, so they end alike.
      const byName = new Map();
      for (const leg of matrixLegs) {
        byName.set(leg.name, given.get(leg.name) ?? c.outcomes?.[id] ?? "success");
      }
      for (const name of given.keys()) {
        if (!byName.has(name)) {
          throw new CaseError(
            `outcomes name leg '${id}/${name}', which job '${id}' doesn't have; its legs: ${[...byName.keys()].map(n => `'${n}'`).join(", ")}`,
          );
        }
      }
      results.set(id, aggregate([...byName.values()]));
      legs.set(id, Object.fromEntries(byName));
      matrices.set(id, matrixLegs.map(leg => leg.matrix));
    }
    if (runs) {
      // A declared output the case doesn't give is empty.
      const declared = job.type === "job" ? declaredOutputs(job) : [];
      outputs.set(id, { ...Object.fromEntries(declared.map(k => [k, ""])), ...(c.outputs?.[id] ?? {}) });
    }
  }
  // In the workflow's order.
  const ordered = map => Object.fromEntries(template.jobs.filter(j => map.has(j.id.value)).map(j => [j.id.value, map.get(j.id.value)]));
  return { triggered: isTriggered, jobs: ordered(results), legs: ordered(legs), matrix: ordered(matrices) };
}

async function main() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  if (!Array.isArray(request.cases)) {
    throw new Error("stdin must be {\"cases\": [...]}");
  }
  const results = [];
  for (const [index, c] of request.cases.entries()) {
    try {
      results.push(await simulateCase(c));
    } catch (err) {
      err.message = `case ${index} (${c.event} ${c.ref}): ${err.message}`;
      if (request.case_errors === true && err instanceof CaseError) {
        results.push({ case_error: err.message });
      } else {
        throw err;
      }
    }
  }
  process.stdout.write(JSON.stringify({ results }));
}

main().catch(err => {
  process.stderr.write(`jobgraph: ${err instanceof CaseError ? err.message : err.stack ?? err}\n`);
  process.exit(1);
});

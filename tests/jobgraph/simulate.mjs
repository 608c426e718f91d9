// Which jobs of a GitHub Actions workflow run for a given event: the node side of tests/jobgraph.py.
//
// Run as `node --import ./tests/jobgraph/register-json-hook.mjs tests/jobgraph/simulate.mjs` (the hook lets
// node 20 load @actions/workflow-parser, see register-json-hook.mjs). Reads one JSON document on stdin,
// `{"cases": [Case, ...]}` (fields as tests/jobgraph.py's Case), and writes `{"results": [...]}` on stdout,
// one entry per case, in order: `{"triggered": bool, "jobs": {job id: result}}`, or `{"errors": [message]}`
// when the parser refuses the workflow. Anything else that goes wrong (a case naming a job or an input the
// workflow doesn't have, a status function we don't model, ...) ends the process with exit code 1 and the
// message on stderr: the harness must never answer a question it can't answer. With `"case_errors": true` in
// the request, a case the workflow doesn't fit answers `{"case_error": message}` instead and the other cases
// still run; a bug of the harness (anything but a case that doesn't fit) still ends the process.
//
// The workflow is read by GitHub's own parser (parseWorkflow + convertWorkflowTemplate, which also validates
// it against GitHub's workflow schema, checks `needs` for unknown jobs and cycles, and wraps an `if:` that has
// no status function as `success() && (...)`), and each job's `if:` is evaluated by GitHub's own expression
// evaluator (@actions/expressions). What this file adds is the part GitHub runs server-side: the trigger
// filters, the order of jobs, the contexts, and the status functions success()/failure()/cancelled()/always().

import { Evaluator, Lexer, Parser, data } from "@actions/expressions";
import { falsy } from "@actions/expressions/result";
import { NoOperationTraceWriter, convertWorkflowTemplate, parseWorkflow } from "@actions/workflow-parser";
import { splitAllowedContext } from "@actions/workflow-parser/templates/allowed-context";
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

function checkCase(template, c) {
  const ids = new Set(template.jobs.map(j => j.id.value));
  for (const [id, outcome] of Object.entries(c.outcomes ?? {})) {
    if (!ids.has(id)) throw new CaseError(`outcomes name job '${id}', which the workflow doesn't have`);
    if (!OUTCOMES.has(outcome)) {
      throw new CaseError(`outcome of '${id}' is '${outcome}', not one of ${[...OUTCOMES].join(", ")}`);
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
    results.set(id, runs ? (c.outcomes?.[id] ?? "success") : "skipped");
    if (runs) {
      // A declared output the case doesn't give is empty.
      const declared = job.type === "job" ? declaredOutputs(job) : [];
      outputs.set(id, { ...Object.fromEntries(declared.map(k => [k, ""])), ...(c.outputs?.[id] ?? {}) });
    }
  }
  // In the workflow's order.
  return { triggered: isTriggered, jobs: Object.fromEntries(template.jobs.map(j => [j.id.value, results.get(j.id.value)])) };
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

// Entry point for `node --import ./tests/jobgraph/register-json-hook.mjs ...`.
//
// Why: @actions/workflow-parser's dist does `import WorkflowSchema from "../workflow-v1.0.min.json"` without
// the `with { type: "json" }` import attribute. Node 20 refuses to load a JSON module without that attribute
// ("needs an import attribute of type json"), so importing the parser fails. Rather than patching
// node_modules, we register a module customization hook (node:module `register`, see
// https://nodejs.org/docs/latest-v20.x/api/module.html#customization-hooks) that adds the attribute to
// exactly those imports: a `.json` file inside @actions/workflow-parser/dist imported with no `type`
// attribute. Everything else resolves untouched. The hook itself lives in json-import-hook.mjs because hooks
// run on a separate loader thread and must be their own module.
import { register } from "node:module";

register("./json-import-hook.mjs", import.meta.url);

// Module customization hook (registered by register-json-hook.mjs, which explains why it exists).
//
// `resolve` may return `importAttributes`: node then caches and validates the module with those attributes
// (https://nodejs.org/docs/latest-v20.x/api/module.html#resolvespecifier-context-nextresolve). For a JSON
// file of @actions/workflow-parser imported without `with { type: "json" }` we return `{ type: "json" }`, which
// is what the import would have said on a runtime that required it. Nothing else is changed.

const PARSER_DIST = "/node_modules/@actions/workflow-parser/dist/";

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  const attributes = context.importAttributes ?? {};
  if (
    resolved.url.startsWith("file:") &&
    resolved.url.includes(PARSER_DIST) &&
    resolved.url.endsWith(".json") &&
    attributes.type === undefined
  ) {
    return { ...resolved, importAttributes: { ...attributes, type: "json" } };
  }
  return resolved;
}

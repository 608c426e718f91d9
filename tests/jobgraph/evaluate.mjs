// The value of step-level expressions, by GitHub's own evaluator (@actions/expressions): the node side of
// tests/jobgraph.py's `evaluate`. Reads `{"expressions": [{"expression": text, "contexts": {name: value}}]}`
// on stdin and writes `{"values": [...]}`, one JSON value per expression, in order. Only the contexts given
// may be named (the parser refuses any other), and no function is supplied: a status function in an
// expression is an error here, as is anything the parser or the evaluator refuses (exit code 1, the
// message on stderr).

import { Evaluator, Lexer, Parser, data } from "@actions/expressions";

function evaluate({ expression, contexts }) {
  const lexed = new Lexer(expression).lex();
  const tree = new Parser(lexed.tokens, Object.keys(contexts), []).parse();
  const context = JSON.parse(JSON.stringify(contexts), data.reviver);
  return JSON.parse(JSON.stringify(new Evaluator(tree, context, undefined).evaluate(), data.replacer));
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString("utf8"));
process.stdout.write(JSON.stringify({ values: request.expressions.map(evaluate) }));

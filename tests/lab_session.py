"""Drive JupyterLab in headless Chromium the way a reader does: open a chapter, Run All, look.

Used by ``tests/test_lab.py`` (one chapter, in the test suite) and ``benchmarks/lab_times.py`` (all
chapters, with timings). The server runs from the project's environment on 127.0.0.1 with its own
settings, workspace and runtime folders, on a copy of the chapter in a temporary folder, so the
repository's files are never touched even if something went wrong.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
TOKEN = "lilbook-lab-test"
AUTOSAVE_SECONDS = 2
PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on screen
# the user settings a reader would get from scripts/lab, plus a short autosave for the test
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {
        "defaultViewers": {"markdown": "Notebook", "myst": "Notebook"},
        "autosave": True,
        "autosaveInterval": AUTOSAVE_SECONDS,
    },
    # render every cell (not only those on screen), so that the whole chapter can be inspected
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` serving a temporary copy of the given chapters (and jupytext.toml)."""

    def __init__(self, chapters: list[str], workdir: Path):
        self.workdir = workdir
        (workdir / "notebooks").mkdir(parents=True)
        shutil.copy(ROOT / "jupytext.toml", workdir / "jupytext.toml")
        for slug in chapters:
            shutil.copy(ROOT / "notebooks" / f"{slug}.md", workdir / "notebooks" / f"{slug}.md")
        settings = workdir / ".lab-settings"
        for name, values in SETTINGS.items():
            path = settings / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ)
        env.update(
            JUPYTERLAB_SETTINGS_DIR=str(settings),
            JUPYTERLAB_WORKSPACES_DIR=str(workdir / ".lab-workspaces"),
            JUPYTER_RUNTIME_DIR=str(workdir / ".jupyter-runtime"),
            JUPYTER_CONFIG_DIR=str(workdir / ".jupyter-config"),
        )
        jupyter = Path(sys.executable).with_name("jupyter")
        self.log = open(workdir / "lab.log", "w")
        self.proc = subprocess.Popen(
            [str(jupyter), "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={TOKEN}",
             f"--ServerApp.root_dir={workdir}", "--ServerApp.open_browser=False",
             "--LabApp.news_url=", "--ServerApp.disable_check_xsrf=False"],
            cwd=workdir, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(workdir / 'lab.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=2)
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError("jupyter lab did not answer within 60 s")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class LabRun:
    """What a reader saw after opening a chapter in JupyterLab and running it."""

    open_seconds: float = 0.0
    run_all_seconds: float = 0.0
    dirty_after_open: bool = False
    code_cells: int = 0
    executed_cells: int = 0
    error_outputs: list[str] = field(default_factory=list)
    prose: str = ""
    raw_myst: list[str] = field(default_factory=list)
    expressions: int = 0
    expression_problems: list[str] = field(default_factory=list)
    requests_elsewhere: list[str] = field(default_factory=list)


KERNEL_IDLE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel || document.querySelector('.jp-Dialog')) return false;
  const s = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  const name = panel.querySelector('.jp-KernelName, .jp-Toolbar-kernelName');
  return !!s && s.getAttribute('data-status') === 'idle' && !!name && /Python/.test(name.textContent);
}"""

NOTEBOOK_STATE = """() => {
  const nb = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (!nb) return null;
  const code = [...nb.querySelectorAll('.jp-CodeCell')];
  const prompts = code.map(c => (c.querySelector('.jp-InputArea-prompt') || {}).textContent || '');
  const md = [...nb.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown, .jp-MarkdownCell .myst')];
  const errors = [...nb.querySelectorAll(
      '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], .jp-RenderedText[data-mime-type="application/vnd.jupyter.error"]')]
      .map(e => e.textContent.slice(0, 300));
  return {
    code: code.length,
    executed: prompts.filter(p => /\\[\\d+\\]/.test(p)).length,
    running: prompts.filter(p => p.includes('*')).length,
    prose: md.map(e => e.innerText).join('\\n'),
    errors,
  };
}"""


def settled_state(page, quiet_s: float = 2.0, timeout_s: float = 60) -> dict:
    """The notebook's state once its prose has stopped changing for ``quiet_s`` seconds.

    jupyterlab-myst evaluates a Markdown cell's {eval} expressions by asking the kernel when Run All
    reaches the cell, and shows each answer when it arrives: on a loaded machine the last ones come
    after the code cells have finished (a fixed one-second wait once missed one). The prose is read
    again until it is the same for ``quiet_s`` seconds, or ``timeout_s`` has passed."""
    state = page.evaluate(NOTEBOOK_STATE)
    quiet_since, deadline = time.monotonic(), time.monotonic() + timeout_s
    while time.monotonic() < deadline and time.monotonic() - quiet_since < quiet_s:
        time.sleep(0.25)
        now = page.evaluate(NOTEBOOK_STATE)
        if now["prose"] != state["prose"]:
            quiet_since = time.monotonic()
        state = now
    return state


def run_all(page, base_url: str, slug: str, timeout_s: float = 240) -> LabRun:
    """Open notebooks/<slug>.md as a notebook, run every cell and read what the page shows."""
    result = LabRun()
    page.on(
        "request",
        lambda r: None if r.url.startswith((base_url, "data:", "blob:", "about:"))
        else result.requests_elsewhere.append(r.url),
    )
    start = time.monotonic()
    # open the chapter from the file browser with Open With -> Notebook, as the README says
    page.goto(f"{base_url}/lab/tree/notebooks?token={TOKEN}&reset")  # reset: no restored tabs
    item = page.locator(".jp-DirListing-item", has_text=f"{slug}.md").first
    item.wait_for(timeout=90_000)
    # right-click, Open With, Notebook: jupytext's notebook view of the .md file
    item.click(button="right")
    page.locator(".lm-Menu-itemLabel", has_text="Open With").first.hover()
    page.locator(".lm-Menu-item:visible", has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Notebook$"))).first.click()
    page.wait_for_selector(f"{PANEL} .jp-Notebook .jp-Cell", timeout=90_000)
    # JupyterLab may ask which kernel to start, with the chapter's own kernel preselected: accept
    # it whenever it shows, until the kernel reports idle
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        dialog = page.locator(".jp-Dialog .jp-mod-accept", has_text="Select")
        if dialog.count():
            dialog.first.click()
        if page.evaluate(KERNEL_IDLE):
            break
        time.sleep(0.3)
    else:
        raise TimeoutError("the chapter's kernel did not start within 120 s")
    result.open_seconds = time.monotonic() - start
    result.dirty_after_open = page.locator(".lm-TabBar-tab.jp-mod-dirty").count() > 0

    start = time.monotonic()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    deadline = time.monotonic() + timeout_s
    while True:
        state = page.evaluate(NOTEBOOK_STATE)
        if state and state["running"] == 0 and state["executed"] == state["code"]:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"Run All did not finish in {timeout_s} s: {state and {k: state[k] for k in ('code', 'executed', 'running')}}")
        time.sleep(0.25)
    page.wait_for_function(
        """() => { const s = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
                   return s && s.getAttribute('data-status') === 'idle'; }""",
        timeout=60_000,
    )
    result.run_all_seconds = time.monotonic() - start
    state = settled_state(page)
    result.code_cells, result.executed_cells = state["code"], state["executed"]
    result.error_outputs = state["errors"]
    result.prose = state["prose"]
    for raw in ("{glue", "{cite", "{eval}", "{numref}", "{ref}", "{term}", "{bibliography}", "(label)="):
        if raw in result.prose:
            result.raw_myst.append(raw)
    result.expression_problems = [
        line for line in result.prose.splitlines()
        if "Unexecuted inline expression" in line or "has not been computed yet" in line
    ]
    return result


def change_dropdown(page, label: str, option: str, timeout_s: float = 60) -> tuple[str, str]:
    """Choose ``option`` in the dropdown labelled ``label``; the text of that cell's outputs before
    and after the explorer recomputed."""
    widget = page.locator(".widget-dropdown", has=page.locator("label", has_text=label)).first
    cell = page.locator(".jp-CodeCell", has=widget).first
    outputs = cell.locator(".jp-Cell-outputArea")
    before = outputs.inner_text()
    widget.locator("select").select_option(label=option)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        after = outputs.inner_text()
        if after != before and after.strip():
            time.sleep(0.5)  # let the output area settle
            return before, outputs.inner_text()
        time.sleep(0.2)
    return before, outputs.inner_text()


def glued_prose_numbers(slug: str) -> dict[str, str]:
    """The prose numbers of a chapter as the book gets them: execute it with nbclient (the engine
    jupyter-cache uses) and read the text glued under ``num.<name>``."""
    import jupytext
    import nbclient

    nb = jupytext.read(ROOT / "notebooks" / f"{slug}.md")
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    found = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name and name.startswith("num."):
                data = out.get("data", {})
                text = next((v for k, v in data.items() if k.endswith("text/plain")), None)
                found[name] = text
    return found

"""Measure the book's build times: cold, no-op and one edited chapter, in a throw-away copy.

Usage (from the repository root):  .venv/bin/python benchmarks/build_times.py [--chapter hallucination]

The script copies the repository's files (tracked and untracked, not ignored ones: no build output,
no cache) into a temporary folder, links ``node_modules`` and the live mode's wheels
(``.cache/live``), so the live site is part of every build as in ``scripts/build``, and makes the
copy's ``src/`` the one the kernels import, then times, in that copy:

1. a cold strict build, ``jupyter-book build -W -n --keep-going --all book/``;
2. the sum of the chapters' execution seconds, as recorded in the execution cache by that build,
   and the ratio cold / sum (the issue's target: cold <= 1.2 * sum / 2 + 15 s on two cores);
3. a no-op build, ``jupyter-book build book/`` with nothing changed (twice);
4. a one-chapter edit: a comment line added to the first code cell of one chapter, built with
   ``jupyter-book build book/``, compared with that chapter's execution seconds; the edit is then
   reverted in the copy.

Timing figures are printed, never asserted. The exit status is 1 only if a build fails.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from jupyter_cache import get_cache

ROOT = Path(__file__).resolve().parent.parent


def jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    return str(exe) if exe.exists() else "jupyter-book"


def copy_repo(source: Path, dest: Path, rev: str | None = None) -> None:
    """Copy the files git knows about or would add (not ignored ones), keeping symlinks as links;
    with ``rev``, the files of that commit instead of the work tree."""
    if rev is not None:
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", rev], cwd=source, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        listed = []
    else:
        listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=source, capture_output=True, check=True,
    ).stdout.decode().split("\0")
    for name in filter(None, listed):
        if name == "node_modules":  # a symlink to a shared install (linked below)
            continue
        src, dst = source / name, dest / name
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the work tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)
    modules = source / "node_modules"
    if modules.exists():
        os.symlink(modules.resolve(), dest / "node_modules")
    live = source / ".cache" / "live"  # the live mode's pinned wheels (scripts/lib.sh downloads them)
    if live.exists():
        (dest / ".cache").mkdir(exist_ok=True)
        os.symlink(live.resolve(), dest / ".cache" / "live")


def timed_build(copy: Path, args: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run([jupyter_book(), "build", *args, "book/"], cwd=copy, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-4000:] + proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"build {' '.join(args)} failed (exit {proc.returncode})")
    return elapsed, proc


def execution_seconds(copy: Path) -> dict[str, float]:
    cache = get_cache(str(copy / "book" / "_build" / ".jupyter_cache"))
    return {Path(r.uri).stem: r.data.get("execution_seconds") or 0.0 for r in cache.list_cache_records()}


EXECUTED = re.compile(r"([\w-]+)\.md: Executing notebook|parallel_execute: executed \S*?([\w-]+) in ")


def executed_pages(log: str) -> list[str]:
    """Pages executed by a build, by myst-nb itself or by book/_ext/parallel_execute.py."""
    return sorted({m.group(1) or m.group(2) for m in EXECUTED.finditer(log)})


def edit_first_code_cell(path: Path) -> str:
    original = path.read_text(encoding="utf-8")
    marker = "```{code-cell} ipython3\n"
    at = original.index(marker) + len(marker)
    # skip the cell's option lines (":tags: ...") and its "---" block, if any
    body = original[at:]
    if body.startswith("---\n"):
        at += body.index("\n---\n", 4) + len("\n---\n")
    else:
        while original[at:].startswith(":"):
            at += original[at:].index("\n") + 1
    path.write_text(original[:at] + f"# benchmark edit {time.time()}\n" + original[at:], encoding="utf-8")
    return original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=ROOT, help="repository to copy (default: this one)")
    parser.add_argument("--rev", help="copy this commit (git archive) instead of the work tree")
    parser.add_argument("--chapter", default="hallucination", help="chapter to edit (default hallucination)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print its path")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="lilbook-bench-"))
    copy = tmp / "repo"
    copy_repo(args.source.resolve(), copy, args.rev)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(copy / "src"), os.environ.get("PYTHONPATH")]))}
    print(f"copy of {args.source.resolve()}{' at ' + args.rev if args.rev else ''} in {copy}; "
          f"cpus {os.cpu_count()}; load average {os.getloadavg()[0]:.1f} (other work slows every figure)")
    try:
        cold, proc = timed_build(copy, ["-W", "-n", "--keep-going", "--all"], env)
        # how the notebooks ran: in the background pool, or again by myst-nb in the build process
        for line in proc.stdout.splitlines():
            if re.search(r"parallel_execute: (executing|\d+ of \d+|.* failed|.* could not)|Executing notebook", line):
                print("  " + re.sub(r"\x1b\[[0-9;]*m", "", line)[:160])
        times = execution_seconds(copy)
        total = sum(times.values())
        target = 1.2 * total / 2 + 15
        print(f"\ncold strict build (--all):      {cold:7.1f} s")
        print(f"sum of chapter execution:       {total:7.1f} s  ({len(times)} notebooks)")
        print(f"ratio cold / sum:               {cold / total:7.2f}    (target cold <= {target:.1f} s: "
              f"{'met' if cold <= target else 'NOT met'})")

        noops = []
        for _ in range(2):
            seconds, proc = timed_build(copy, [], env)
            noops.append(seconds)
            if executed_pages(proc.stdout):
                print(f"  (no-op build executed {executed_pages(proc.stdout)})")
        print(f"no-op build:                    {noops[0]:7.1f} s, again {noops[1]:.1f} s   (target <= 3 s)")

        chapter = copy / "notebooks" / f"{args.chapter}.md"
        original = edit_first_code_cell(chapter)
        try:
            edited, proc = timed_build(copy, [], env)
            own = execution_seconds(copy).get(args.chapter, float("nan"))
            print(f"one-chapter edit ({args.chapter}): {edited:7.1f} s; its execution {own:.1f} s; "
                  f"overhead {edited - own:.1f} s (target <= 5 s); executed {executed_pages(proc.stdout)}")
        finally:
            chapter.write_text(original, encoding="utf-8")
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    finally:
        if args.keep:
            print(f"kept {copy}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

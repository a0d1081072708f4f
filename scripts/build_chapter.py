"""Build one chapter on its own, strictly, in a throw-away book (for writing a chapter quickly).

    .venv/bin/python scripts/build_chapter.py <slug> [--bib extra.bib] [--out DIR]

The throw-away book holds the chapter itself, a stand-in for every other chapter (its labels,
so links between chapters and to their sections resolve), the glossary, the map and the
bibliography page. It
uses the book's configuration and ``references.bib`` plus any ``--bib`` files, builds with
warnings as errors into DIR (default: /tmp/lilbook-chapter-<slug>), prints every warning and the
chapter's execution time, and exits non-zero when the build is not clean. The full book and its
tests remain the judge: ``bash scripts/test``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.test_book import KERNEL_NOISE  # noqa: E402  (the same judgement as the book test)

SLUGS = {
    "scaling-laws": "Scaling laws",
    "transformer-family": "The Transformer family",
    "inference-optimization": "Inference optimization",
    "why-we-think": "Why we think",
    "prompt-engineering": "Prompt engineering",
    "agents": "Autonomous agents",
    "reward-hacking": "Reward hacking",
    "hallucination": "Hallucination",
    "adversarial-attacks": "Adversarial attacks",
    "human-data": "Human data quality",
    "video-diffusion": "Video diffusion",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("slug", choices=sorted(SLUGS))
    parser.add_argument("--bib", action="append", default=[], type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    chapter = ROOT / "notebooks" / f"{args.slug}.md"
    if not chapter.exists():
        parser.error(f"{chapter} does not exist")
    out = (args.out or Path(f"/tmp/lilbook-chapter-{args.slug}")).resolve()
    book = out / "book"
    if book.exists():
        shutil.rmtree(book)
    (book / "notebooks").mkdir(parents=True)

    bib = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "references.bib", *args.bib])
    (book / "references.bib").write_text(bib, encoding="utf-8")
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    config["bibtex_bibfiles"] = ["references.bib"]
    config["sphinx"]["config"]["fresh_outputs_packages"] = {"lilbook": str(ROOT / "src" / "lilbook")}
    (book / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    for name in ("_ext", "_static", "bibliography.md"):
        (book / name).symlink_to(ROOT / "book" / name)
    (book / "intro.md").write_text(f"# Single-chapter build: {args.slug}\n", encoding="utf-8")
    (book / "notebooks" / chapter.name).symlink_to(chapter)
    for slug, title in SLUGS.items():
        if slug != args.slug:
            # the stand-in keeps the real chapter's section labels, so section links resolve
            real = (ROOT / "notebooks" / f"{slug}.md").read_text(encoding="utf-8")
            labels = [lab for lab in re.findall(r"^\(([\w-]+)\)=$", real, flags=re.M) if lab != slug]
            sections = "".join(f"\n({lab})=\n## {lab}\n\nStand-in section.\n" for lab in labels)
            stub = f"({slug})=\n# {title}\n\nStand-in for the chapter `{slug}`.\n{sections}"
            (book / "notebooks" / f"{slug}.md").write_text(stub, encoding="utf-8")
    for name in ("glossary.md", "map.md"):
        (book / name).symlink_to(ROOT / "book" / name)
    toc = {
        "format": "jb-book",
        "root": "intro",
        "chapters": [{"file": f"notebooks/{s}"} for s in SLUGS]
        + [{"file": "glossary"}, {"file": "map"}, {"file": "bibliography"}],
    }
    (book / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")

    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", "-W", "-n", "--keep-going", str(book)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    log = proc.stdout + proc.stderr
    problems = [
        line
        for line in log.splitlines()
        if re.search(r"\b(WARNING|ERROR)\b|Traceback", line) and not KERNEL_NOISE.match(line)
    ]
    print("\n".join(problems) if problems else "no warnings")
    reports = book / "_build" / "html" / "reports"
    for report in sorted(reports.glob("*.err.log")) if reports.exists() else []:
        print(f"--- {report.name}\n{report.read_text()[-3000:]}")
    cache = book / "_build" / ".jupyter_cache"
    if cache.exists():
        from jupyter_cache import get_cache

        for record in get_cache(cache).list_cache_records():
            data = record.data or {}
            print(f"executed {Path(record.uri).name} in {data.get('execution_seconds', '?')} s")
    print(f"html: {book / '_build' / 'html' / 'notebooks' / (args.slug + '.html')}")
    ok = proc.returncode == 0 and not problems
    if not ok:
        print(log[-4000:])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

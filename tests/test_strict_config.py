"""The book's configuration turns each kind of fault into a failed strict build.

A tiny book is built with the project's own _config.yml and extensions: one page per fault, plus a
control that must pass. This guards the settings (-W with nb_output_stderr: warn, the bibliography,
cross-references, raises-exception) against a quiet regression.
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.conftest import NOTEBOOK_HEADER, jupyter_book, tiny_book

HEADER = NOTEBOOK_HEADER + "# Page\n\n"

FAULTS = {
    "python_warning": (
        "```{code-cell} ipython3\nimport warnings\nwarnings.warn('suspicious value')\n```\n",
        "stderr was found in the cell outputs",
    ),
    "raising_cell": ("```{code-cell} ipython3\n1 / 0\n```\n", "Executing notebook failed"),
    "unknown_citation": ("See {cite:t}`nobody1999nothing`.\n", 'could not find bibtex key "nobody1999nothing"'),
    "broken_reference": ("See {ref}`no-such-label`.\n", "undefined label"),
    "missing_figure_label": ("See {numref}`fig-nowhere`.\n", "undefined label"),
}

CONTROL = (
    "```{code-cell} ipython3\n:tags: [raises-exception]\nraise ValueError('shown on purpose')\n```\n\n"
    "```{code-cell} ipython3\nprint('fine')\n```\n\nSee {cite:t}`weng2026scaling`.\n"
)


def build_tiny_book(tmp_path, body: str) -> subprocess.CompletedProcess:
    book = tiny_book(tmp_path, {"page": HEADER + body + "\n## References\n\n```{bibliography}\n```\n"})
    return subprocess.run(
        [jupyter_book(), "build", "-W", "-n", "--keep-going", "--all", str(book)],
        capture_output=True, text=True, timeout=600,
    )


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_fails_the_strict_build(tmp_path, fault):
    body, message = FAULTS[fault]
    proc = build_tiny_book(tmp_path, body)
    log = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode != 0, log[-3000:]
    assert message in log


def test_clean_page_with_an_expected_error_passes(tmp_path):
    proc = build_tiny_book(tmp_path, CONTROL)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]

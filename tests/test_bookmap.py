"""lilbook.bookmap: scanning chapters for terms, citations and links, and pairing them up."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from lilbook.bookmap import ChapterScan, connections, draw_map, most_shared, scan_chapter  # noqa: E402

A = """(alpha)=
# Alpha
(alpha-votes)=
## Votes
A {term}`majority vote` and {term}`the KV cache <KV cache>` {cite:p}`x2020,y2021` {cite:t}`z2022`.
See {ref}`beta-section` and {ref}`the beta chapter <beta>` and {numref}`fig-alpha-1`.
"""
B = """(beta)=
# Beta
(beta-section)=
## Section
{term}`Majority vote` again, {cite:p}`y2021` and {ref}`alpha-votes`.
"""
C = "(gamma)=\n# Gamma\nNothing shared, {term}`RLHF` {cite:p}`q1999`.\n"


def test_scan_reads_terms_citations_labels_and_links():
    scan = scan_chapter(A)
    assert scan.terms == {"majority vote", "kv cache"}
    assert scan.cites == {"x2020", "y2021", "z2022"}
    assert scan.labels == {"alpha", "alpha-votes"}
    assert scan.refs == {"beta-section", "beta", "fig-alpha-1"}


def test_connections_count_shared_items_and_links_both_ways():
    conns = connections({"alpha": scan_chapter(A), "beta": scan_chapter(B), "gamma": scan_chapter(C)})
    assert set(conns) == {("alpha", "beta"), ("alpha", "gamma"), ("beta", "gamma")}
    ab = conns[("alpha", "beta")]
    assert ab.terms == {"majority vote"} and ab.cites == {"y2021"}
    assert ab.links == 3  # alpha -> beta-section, alpha -> beta, beta -> alpha-votes
    assert ab.section_links == 2  # the link to beta's top is not a section link
    assert ab.strength == 1 + 1 + 3
    assert conns[("alpha", "gamma")].strength == 0


def test_most_shared_lists_items_of_two_or_more_chapters_most_used_first():
    scans = {"alpha": scan_chapter(A), "beta": scan_chapter(B), "gamma": scan_chapter(C)}
    assert most_shared(scans, "terms") == [("majority vote", ["alpha", "beta"])]
    assert most_shared(scans, "cites", top=1) == [("y2021", ["alpha", "beta"])]


@pytest.mark.parametrize(("kind", "top"), [("papers", 3), ("terms", 0), ("terms", True), ("cites", 2.0)])
def test_most_shared_rejects_bad_arguments(kind, top):
    with pytest.raises(ValueError):
        most_shared({"alpha": scan_chapter(A)}, kind, top)


def test_scan_and_connections_reject_the_wrong_types():
    with pytest.raises(TypeError, match="text must be"):
        scan_chapter(None)
    with pytest.raises(TypeError, match="ChapterScan"):
        connections({"alpha": A})


def test_draw_map_draws_a_line_per_connected_pair_and_a_name_per_chapter():
    scans = {"alpha": scan_chapter(A), "beta": scan_chapter(B), "gamma": scan_chapter(C)}
    fig, ax = plt.subplots()
    draw_map(connections(scans), {"alpha": "Alpha", "beta": "Beta", "gamma": "Gamma"}, ax)
    assert len(ax.lines) == 1  # only alpha-beta share anything
    assert sorted(t.get_text() for t in ax.texts) == ["Alpha", "Beta", "Gamma"]
    with pytest.raises(ValueError, match="at least two"):
        draw_map({}, {"alpha": "Alpha"}, ax)
    plt.close(fig)


def test_scan_type_is_frozen():
    with pytest.raises(AttributeError):
        ChapterScan(frozenset(), frozenset(), frozenset(), frozenset()).terms = frozenset()

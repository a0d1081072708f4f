"""Under each entry of the global bibliography, list (with links) the chapters and sections citing it.

Computed at build time from the documents themselves, so there is no hand-kept list:

* while each page is read (``doctree-read``), every ``{cite}`` role in it (sphinxcontrib-bibtex turns
  each into a ``pending_xref`` of the ``cite`` domain) is recorded with the citation keys it names and
  the innermost section around it (its anchor and title); a citation before a page's first subsection
  counts for the page itself;
* when a page holding a bibliography in ``citation`` form (``book/bibliography.md``, the list every
  in-text citation links to) is resolved (``doctree-resolved``), each of its entries gets a paragraph
  "Cited in: 4 Why We Think (§ 4.2 …, § 4.5 …); 6 LLM Powered Autonomous Agents (§ 6.1 …)" linking
  to those pages and sections, pages in table-of-contents order, numbered as in the book.

The paragraph has the class ``cited-in`` and the id ``cited-in-<key>`` (docutils-normalised), so
tests can find the entry of a given key. The recorded citations live in the build environment and
are dropped and re-recorded with their page, so incremental builds stay right.
"""

from __future__ import annotations

import page_store
from docutils import nodes
from sphinx.addnodes import pending_xref
from sphinxcontrib.bibtex.citation_target import parse_citation_targets

ENV_ATTR = "lilbook_cited_in"


def _section_of(node: nodes.Node) -> nodes.section | None:
    """The innermost section around a node, or None when that is the page's title section."""
    parent = node.parent
    while parent is not None and not isinstance(parent, nodes.section):
        parent = parent.parent
    if parent is None or isinstance(parent.parent, nodes.document):
        return None
    return parent


def record_citations(app, doctree: nodes.document) -> None:
    env = app.env
    if not env.docname.startswith("notebooks/"):
        return  # "cited in" lists chapters; pages about the book (the map) cite papers only to list them
    records = []
    for ref in doctree.findall(pending_xref):
        if ref.get("refdomain") != "cite":
            continue
        section = _section_of(ref)
        anchor = section["ids"][0] if section is not None and section["ids"] else ""
        title = section[0].astext() if section is not None else ""
        for target in parse_citation_targets(ref["reftarget"]):
            records.append((target.key, anchor, title))
    page_store.store(env, ENV_ATTR)[env.docname] = records


def document_order(env) -> list[str]:
    """Documents in table-of-contents order, starting from the root document."""
    order, seen = [], set()

    def visit(doc):
        if doc in seen:
            return
        seen.add(doc)
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            visit(child)

    visit(env.config.root_doc)
    return order + sorted(set(env.all_docs) - seen)


def number(env, docname: str, anchor: str) -> str:
    numbers = env.toc_secnumbers.get(docname, {}).get(anchor)
    return ".".join(map(str, numbers)) + " " if numbers else ""


def citers(env) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """key -> {docname -> [(anchor, section title), ...]} in page order and document order."""
    store = getattr(env, ENV_ATTR, {})
    result: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for docname in document_order(env):
        for key, anchor, title in store.get(docname, []):
            sections = result.setdefault(key, {}).setdefault(docname, [])
            if (anchor, title) not in sections:
                sections.append((anchor, title))
    return result


def _link(app, fromdocname: str, todocname: str, anchor: str, text: str) -> nodes.reference:
    uri = app.builder.get_relative_uri(fromdocname, todocname)
    if anchor:
        uri += "#" + anchor
    return nodes.reference("", text, internal=True, refuri=uri)


def add_cited_in(app, doctree: nodes.document, docname: str) -> None:
    env = app.env
    domain = env.get_domain("cite")
    here = {
        citation.citation_id: citation.key
        for citation in domain.citations
        if citation.bibliography_key.docname == docname
        and domain.bibliographies[citation.bibliography_key].list_ == "citation"
    }
    if not here:
        return
    cited = citers(env)
    for entry in doctree.findall(nodes.citation):
        key = next((here[i] for i in entry["ids"] if i in here), None)
        if key is None:
            continue
        para = nodes.paragraph(classes=["cited-in"], ids=[nodes.make_id(f"cited-in-{key}")])
        pages = cited.get(key, {})
        if not pages:
            para += nodes.emphasis("", "Not cited in the text.")
            entry += para
            continue
        para += nodes.strong("", "Cited in: ")
        for i, (citing_doc, sections) in enumerate(pages.items()):
            if i:
                para += nodes.Text("; ")
            title = env.titles[citing_doc].astext() if citing_doc in env.titles else citing_doc
            para += _link(app, docname, citing_doc, "", number(env, citing_doc, "") + title)
            named = [(a, t) for a, t in sections if a]
            if named:
                para += nodes.Text(" (")
                for j, (anchor, section_title) in enumerate(named):
                    if j:
                        para += nodes.Text(", ")
                    label = "§ " + number(env, citing_doc, "#" + anchor) + section_title
                    para += _link(app, docname, citing_doc, anchor, label)
                para += nodes.Text(")")
        entry += para


def setup(app):
    app.connect("doctree-read", record_citations)
    page_store.keep_in_step(app, ENV_ATTR)
    app.connect("doctree-resolved", add_cited_in)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True,
            "env_version": 1}

"""The repository's own documentation: CITATION.cff is valid CFF 1.2.0, every docs/<page>.md
cited anywhere in the repository exists, and the links inside docs/ resolve (files and anchors).
"""

import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")

# Folders that hold no sources of ours (virtualenv, caches, run outputs, builds).
SKIP_DIRS = {".git", ".venv", "__pycache__", "node_modules", "runs", "demo", "demo-resnet",
             "build", "dist", ".pytest_cache", ".ruff_cache", ".hypothesis"}  # fmt: skip
TEXT_SUFFIXES = (".py", ".md", ".sh", ".txt", ".toml", ".cfg", ".ini", ".prototxt", ".yml",
                 ".yaml", ".cff")  # fmt: skip
TEXT_NAMES = ("Makefile",)

# A repository-relative citation `docs/<page>.md` (also `../docs/...`), not a path inside a URL
# or another folder (`github.com/x/y/docs/A.md`, `foo/docs/a.md`).
CITATION = re.compile(r"(?<![\w/.-])(?:\.\./)*docs/([\w.-]+\.md)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
CFF_DOI = re.compile(r"^10\.\d{4,9}(\.\d+)?/[A-Za-z0-9:/_;\-\.\(\)\[\]\\]+$")


def _text_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            if name.endswith(TEXT_SUFFIXES) or name in TEXT_NAMES:
                yield os.path.join(dirpath, name)


def _citations():
    """{docs page: [(file, line number), ...]} over every text file of the repository."""
    found = {}
    for path in _text_files():
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.readlines()
        except UnicodeDecodeError:
            continue
        for i, line in enumerate(lines, 1):
            for m in CITATION.finditer(line):
                found.setdefault(m.group(1), []).append((os.path.relpath(path, ROOT), i))
    return found


def slug(heading):
    """GitHub's anchor for a Markdown heading: lower case, punctuation other than '-' and '_'
    dropped, spaces to '-'."""
    text = re.sub(r"[`*]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    """The anchors of the headings of Markdown file `path` (code blocks skipped)."""
    out, fenced = set(), False
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.lstrip().startswith("```"):
                fenced = not fenced
                continue
            m = None if fenced else HEADING.match(line)
            if m:
                out.add(slug(m.group(1)))
    return out


def test_slug_follows_github():
    assert slug("Learning-rate policies (`SGDSolver::GetLearningRate`)") == (
        "learning-rate-policies-sgdsolvergetlearningrate"
    )
    assert slug("The FCN release's solver fields") == "the-fcn-releases-solver-fields"
    assert slug("Cityscapes: the 19 evaluated classes") == "cityscapes-the-19-evaluated-classes"


def test_citation_pattern_finds_repo_pages_only():
    line = "see docs/models.md, (../docs/layers.md) and github.com/x/y/docs/OTHER.md, a/docs/b.md"
    assert [m.group(1) for m in CITATION.finditer(line)] == ["models.md", "layers.md"]


def test_every_cited_docs_page_exists():
    cited = _citations()
    # The code, tests and README cite these pages; the scan must see them (or it sees nothing).
    assert {"caffe-formats.md", "layers.md", "solvers.md", "models.md", "datasets.md"} <= set(
        cited
    ), sorted(cited)
    missing = {
        page: where for page, where in cited.items() if not os.path.isfile(os.path.join(DOCS, page))
    }
    assert not missing, "cited but absent from docs/: " + "; ".join(
        f"docs/{p} (cited at {', '.join(f'{f}:{n}' for f, n in w[:3])})"
        for p, w in sorted(missing.items())
    )


def test_docs_index_lists_every_page():
    pages = sorted(p for p in os.listdir(DOCS) if p.endswith(".md") and p != "README.md")
    with open(os.path.join(DOCS, "README.md"), encoding="utf-8") as f:
        index = f.read()
    unlisted = [p for p in pages if f"]({p})" not in index]
    assert not unlisted, f"docs/README.md does not list {unlisted}"


_PAGES = sorted(os.path.join("docs", p) for p in os.listdir(DOCS) if p.endswith(".md"))
_PAGES += ["README.md", "bench/README.md", "data/README.md"]


@pytest.mark.parametrize("page", _PAGES)
def test_links_inside_docs_resolve(page):
    """Every relative link of the README, docs/ and the folders' READMEs names a file that exists
    and, with an anchor, one of its headings (the README's guides moved into docs/)."""
    path = os.path.join(ROOT, page)
    here = os.path.dirname(path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    bad = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(here, file_part)) if file_part else path
        if not os.path.exists(dest):
            bad.append(f"{target}: no file {os.path.relpath(dest, ROOT)}")
        elif anchor and dest.endswith(".md") and anchor not in anchors(dest):
            bad.append(f"{target}: no heading with anchor #{anchor}")
    assert not bad, f"{page}: " + "; ".join(bad)


def _cff():
    with open(os.path.join(ROOT, "CITATION.cff"), encoding="utf-8") as f:
        return yaml.safe_load(f)


def _check_authors(authors, where):
    assert isinstance(authors, list) and authors, f"{where}: authors must be a non-empty list"
    for a in authors:
        assert isinstance(a, dict), f"{where}: an author must be a mapping, got {a!r}"
        assert a.get("family-names") or a.get("name"), f"{where}: author without a name: {a}"


def _check_reference(ref, where):
    for key in ("type", "title", "authors"):  # required by CFF 1.2.0's reference schema
        assert ref.get(key), f"{where}: missing '{key}'"
    _check_authors(ref["authors"], where)
    if "doi" in ref:
        assert CFF_DOI.match(str(ref["doi"])), f"{where}: bad DOI {ref['doi']!r}"
    for key in ("year", "volume", "start", "end"):
        if key in ref:
            assert isinstance(ref[key], int), f"{where}: {key} should be a number"
    if "month" in ref:
        assert ref["month"] in range(1, 13), f"{where}: month {ref['month']!r}"


def test_citation_cff_is_valid_cff_1_2_0():
    cff = _cff()
    assert isinstance(cff, dict)
    for key in ("cff-version", "message", "title", "authors"):  # required top-level keys
        assert cff.get(key), f"CITATION.cff: missing '{key}'"
    assert str(cff["cff-version"]) == "1.2.0"
    assert cff.get("type", "software") == "software"
    _check_authors(cff["authors"], "CITATION.cff")
    pref = cff["preferred-citation"]
    _check_reference(pref, "preferred-citation")
    for i, ref in enumerate(cff.get("references", [])):
        _check_reference(ref, f"references[{i}]")


def test_citation_cff_cites_the_fcn_papers():
    cff = _cff()
    pref = cff["preferred-citation"]
    assert pref["type"] == "article"
    assert pref["title"] == "Fully Convolutional Networks for Semantic Segmentation"
    assert [a["family-names"] for a in pref["authors"]] == ["Shelhamer", "Long", "Darrell"]
    assert pref["journal"] == "IEEE Transactions on Pattern Analysis and Machine Intelligence"
    assert (pref["volume"], str(pref["issue"]), pref["start"], pref["end"], pref["year"]) == (
        39, "4", 640, 651, 2017,
    )  # fmt: skip
    assert pref["doi"] == "10.1109/TPAMI.2016.2572683"
    cvpr = [r for r in cff["references"] if r.get("doi") == "10.1109/CVPR.2015.7298965"]
    assert len(cvpr) == 1 and cvpr[0]["type"] == "conference-paper" and cvpr[0]["year"] == 2015
    assert [a["family-names"] for a in cvpr[0]["authors"]] == ["Long", "Shelhamer", "Darrell"]


def test_license_matches_citation():
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("BSD 2-Clause License")
    assert "Copyright (c) 2026, the FCN toolkit authors" in text
    assert _cff()["license"] == "BSD-2-Clause"

"""Every Markdown document of the repository renders as its author meant: README.md,
BENCHMARKS.md, docs/*.md and every example's README. Python-Markdown (Debian's
python3-markdown) renders each one, but it never fails on broken input, so the source is
checked too: every ``` fence is closed, every table starts with a header row and a separator
line, every row has the header's number of cells, and the rendered HTML has as many tables
and code blocks as the source has."""

import glob
import os
import re

import pytest

from conftest import REPO

FENCE = re.compile(r"^ {0,3}(```+|~~~+)")
TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")


def markdown_files():
    files = [os.path.join(REPO, "README.md"), os.path.join(REPO, "BENCHMARKS.md")]
    files += sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
    files += sorted(glob.glob(os.path.join(REPO, "examples", "*", "README.md")))
    return [f for f in files if os.path.exists(f)]


def cells(row):
    """The cells of a table row: code spans and escaped pipes do not split."""
    row = CODE_SPAN.sub(lambda m: "x" * len(m.group(0)), row.strip()).replace("\\|", "xx")
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return row.split("|")


def problems(text):
    """What is broken in a Markdown source, as "line N: what" strings, and the numbers of
    fenced blocks and tables it has."""
    out = []
    lines = text.split("\n")
    fence_open = None
    fences = tables = 0
    i = 0
    while i < len(lines):
        line = lines[i]
        m = FENCE.match(line)
        if m:
            if fence_open is None:
                fence_open = (i + 1, m.group(1))
            elif m.group(1)[0] == fence_open[1][0] and len(m.group(1)) >= len(fence_open[1]) \
                    and not line.strip()[len(m.group(1)):].strip():
                fence_open = None
                fences += 1
            elif m.group(1)[0] == fence_open[1][0]:
                # "```sh" inside a block is text to Markdown, but to the author it was the
                # start of a new block: the one above was never closed.
                out.append("line %d: a new code fence (%s) inside the block opened at line %d, "
                           "which is never closed" % (i + 1, line.strip(), fence_open[0]))
            i += 1
            continue
        if fence_open is None and line.lstrip().startswith("|"):
            start = i
            block = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                block.append(lines[i])
                i += 1
            tables += 1
            if len(block) < 2 or not TABLE_SEP.match(block[1]):
                out.append("line %d: a table without a header row and separator line"
                           % (start + 1))
                continue
            want = len(cells(block[0]))
            if len(cells(block[1])) != want:
                out.append("line %d: the separator has %d cells, the header %d"
                           % (start + 2, len(cells(block[1])), want))
            for k, row in enumerate(block[2:]):
                if len(cells(row)) != want:
                    out.append("line %d: %d cells, the header has %d"
                               % (start + 3 + k, len(cells(row)), want))
            continue
        if fence_open is None and re.match(r"^#{1,6}[^#\s]", line):
            out.append("line %d: a heading needs a space after its #" % (i + 1))
        i += 1
    if fence_open is not None:
        out.append("line %d: the code fence %s is never closed" % fence_open)
    return out, fences, tables


def render(text):
    import markdown
    return markdown.markdown(text, extensions=["tables", "fenced_code"])


@pytest.mark.parametrize("path", markdown_files(), ids=lambda p: os.path.relpath(p, REPO))
def test_markdown_document_renders_without_breakage(path):
    text = open(path, encoding="utf-8").read()
    found, fences, tables = problems(text)
    assert not found, "%s:\n  %s" % (os.path.relpath(path, REPO), "\n  ".join(found))
    html = render(text)
    # Python-Markdown's fenced_code does not see fences inside list items; those render as
    # inline code in a paragraph, which is still readable: count only what it can see.
    assert html.count("<table>") == tables, (
        "%s: %d tables in the source, %d rendered" % (path, tables, html.count("<table>")))
    assert html.count("<pre>") <= fences, path
    assert "```" not in re.sub(r"<code>.*?</code>|<!--.*?-->", "", html, flags=re.S), (
        "%s: a fence rendered as text" % path)


def test_the_check_finds_an_unclosed_fence_and_a_table_without_a_header():
    found, _, _ = problems("# T\n\n```sh\necho hi\n\n## Next\n")
    assert any("never closed" in p for p in found), found
    found, _, _ = problems("text\n\n| a | b |\n| 1 | 2 |\n")
    assert any("without a header row" in p for p in found), found
    found, _, _ = problems("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n")
    assert any("3 cells" in p for p in found), found
    found, _, _ = problems("```sh\na\n\n## Security\n\n```sh\nb\n```\n")
    assert any("inside the block opened at line 1" in p for p in found), found
    found, _, _ = problems("#Heading\n")
    assert found, found
    found, fences, tables = problems("| a | `x|y` |\n|---|---|\n| 1 | 2 |\n\n```\n|x\n```\n")
    assert not found and fences == 1 and tables == 1, found

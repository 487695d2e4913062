"""The documentation stays true: README's tour runs against a real broker, every relative link of
README.md and docs/*.md (with its #anchor) resolves, docs/broker.md names every broker setting
that src/broker/conf.c accepts, and docs/jobs.md, gateway.md and join.md name every key their
service's configuration parser knows.

The tour's blocks are marked in README.md: a ```sh block right after `<!-- tour-run -->` is run
command by command (127.0.0.1:9092 and localhost:9092 become the test broker's address,
`build/sluice` the binary under test); each command must exit 0, and a `# -> TEXT` line under a
command names text its output must contain. A block after `<!-- tour-show -->` needs a service
or a browser and is not run; each `build/sluice CMD` in it must answer `--help`, and each
examples/ path it names must exist."""

import glob
import os
import re
import shlex
import subprocess

import pytest

from conftest import REPO, T, sluice_bin

README = os.path.join(REPO, "README.md")
DOCS = os.path.join(REPO, "docs")
TOUR_ADDRESSES = ("127.0.0.1:9092", "localhost:9092")
TOUR_COMMAND_TIMEOUT_S = 60
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def doc_files():
    files = [README] + sorted(glob.glob(os.path.join(DOCS, "*.md")))
    assert len(files) >= 8, "README.md and the seven docs/*.md files: %r" % files
    return files


# ---- the README's blocks ----------------------------------------------------------------------

def sh_blocks(text):
    """Every ```sh block as (marker or None, [lines]); marker is the HTML comment right above."""
    blocks = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```sh":
            j = i - 1
            while j >= 0 and not lines[j].strip():
                j -= 1
            m = re.fullmatch(r"<!--\s*(tour-run|tour-show)\s*-->", lines[j].strip()) if j >= 0 \
                else None
            body = []
            i += 1
            while i < len(lines) and not FENCE.match(lines[i]):
                body.append(lines[i])
                i += 1
            blocks.append((m.group(1) if m else None, body))
        i += 1
    return blocks


def commands(body):
    """[(command, [expected texts])]: continuation lines joined, comment lines dropped except
    `# -> TEXT`, which belongs to the command above it."""
    out = []
    pending = ""
    for line in body:
        stripped = line.strip()
        if pending:
            pending += " " + stripped
        elif stripped.startswith("# ->"):
            assert out, "a '# ->' line before any command: %r" % line
            out[-1][1].append(stripped[len("# ->"):].strip())
            continue
        elif not stripped or stripped.startswith("#"):
            continue
        else:
            pending = stripped
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        out.append((pending, []))
        pending = ""
    assert not pending, "a block ends inside a continued command: %r" % pending
    return out


def localize(cmd, bootstrap):
    for addr in TOUR_ADDRESSES:
        cmd = cmd.replace(addr, bootstrap)
    return re.sub(r"(^|[\s|;&(])build/sluice\b", lambda m: m.group(1) + shlex.quote(sluice_bin()),
                  cmd)


def tour(kind):
    return [body for marker, body in sh_blocks(read(README)) if marker == kind]


def test_the_readme_opens_with_the_two_commands():
    blocks = sh_blocks(read(README))
    assert len(blocks) >= 2
    assert blocks[0][1] == ["scripts/run"], blocks[0]
    assert blocks[1][1] == ["scripts/test"], blocks[1]
    for script in ("scripts/run", "scripts/test", "scripts/setup"):
        path = os.path.join(REPO, script)
        assert os.path.isfile(path) and os.access(path, os.X_OK), script


@pytest.mark.own_broker
@pytest.mark.time_limit(300)
def test_the_tour_runs_against_a_broker(broker):
    blocks = tour("tour-run")
    assert len(blocks) >= 3, "the tour's run blocks (<!-- tour-run -->) are gone"
    ran = 0
    for body in blocks:
        for cmd, expected in commands(body):
            run = localize(cmd, broker.bootstrap)
            assert "9092" not in run, "an address the test cannot replace: %s" % cmd
            r = subprocess.run(["bash", "-o", "pipefail", "-c", run], cwd=REPO,
                               capture_output=True, text=True,
                               timeout=T(TOUR_COMMAND_TIMEOUT_S))
            assert r.returncode == 0, "README tour: `%s` exited %d\nstdout:\n%s\nstderr:\n%s" % (
                cmd, r.returncode, r.stdout, r.stderr)
            for text in expected:
                assert text in r.stdout, "README tour: `%s` printed no %r:\n%s" % (
                    cmd, text, r.stdout)
            ran += 1
    assert ran >= 8, "only %d tour commands ran" % ran


def test_the_tour_services_answer_help_and_their_files_exist():
    blocks = tour("tour-show")
    assert len(blocks) >= 4, "the tour's shown blocks (<!-- tour-show -->) are gone"
    checked = set()
    for body in blocks:
        for cmd, _ in commands(body):
            words = shlex.split(cmd, comments=True)
            if words and words[0] == "build/sluice":
                assert len(words) >= 2, cmd
                checked.add(words[1])
            for word in words:
                if word.startswith("examples/"):
                    assert os.path.exists(os.path.join(REPO, word)), \
                        "README tour names %s, which does not exist" % word
    assert {"jobs", "gateway", "join", "inspect-worker"} <= checked, checked
    for sub in sorted(checked):
        r = subprocess.run([sluice_bin(), sub, "--help"], capture_output=True, text=True,
                           timeout=T(30))
        assert r.returncode == 0, "sluice %s --help exited %d:\n%s%s" % (
            sub, r.returncode, r.stdout, r.stderr)
        assert "usage" in (r.stdout + r.stderr).lower(), sub


# ---- links ------------------------------------------------------------------------------------

def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    found = set()
    in_code = False
    for line in read(path).split("\n"):
        if FENCE.match(line):
            in_code = not in_code
            continue
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            name, n = base, 0
            while name in found:
                n += 1
                name = "%s-%d" % (base, n)
            found.add(name)
    return found


def links(path):
    in_code = False
    for lineno, line in enumerate(read(path).split("\n"), 1):
        if FENCE.match(line):
            in_code = not in_code
            continue
        if not in_code:
            for m in LINK.finditer(line):
                yield lineno, m.group(1)


def test_every_relative_link_of_the_docs_resolves():
    bad = []
    count = 0
    for path in doc_files():
        for lineno, target in links(path):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            count += 1
            file_part, _, anchor = target.partition("#")
            dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
                if file_part else path
            where = "%s:%d: %s" % (os.path.relpath(path, REPO), lineno, target)
            if not dest.startswith(REPO + os.sep):
                bad.append(where + " (outside the repository)")
            elif not os.path.exists(dest):
                bad.append(where + " (no such file)")
            elif anchor and (not dest.endswith(".md") or anchor not in anchors(dest)):
                bad.append(where + " (no such heading)")
    assert count >= 30, "only %d relative links found: is the parser broken?" % count
    assert not bad, "broken links:\n" + "\n".join(bad)


def test_the_docs_stand_on_their_own():
    for path in doc_files():
        text = read(path)
        assert "DESIGN.md" not in text, path
        assert "../" + "shared" not in text, path


# ---- completeness -----------------------------------------------------------------------------

def broker_settings():
    src = read(os.path.join(REPO, "src", "broker", "conf.c"))
    table = re.search(r"brk__ckeys\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
    assert table, "src/broker/conf.c: the settings table brk__ckeys[] was not found"
    keys = re.findall(r'\b(?:SL_BIND_\w+|B_\w+)\(\s*"([a-z0-9.]+)"', table.group(1))
    assert len(keys) >= 50, "only %d settings parsed from conf.c" % len(keys)
    return keys


def test_broker_md_names_every_broker_setting():
    doc = read(os.path.join(DOCS, "broker.md"))
    missing = [k for k in broker_settings() if "`%s`" % k not in doc]
    assert not missing, "docs/broker.md does not name these settings of src/broker/conf.c: %s" \
        % ", ".join(missing)


SERVICE_CONFIGS = [
    ("src/services/jobs/jcfg.c", "jobs.md"),
    ("src/services/gateway/gw_cfg.c", "gateway.md"),
    ("src/services/join/jncfg.c", "join.md"),
]


@pytest.mark.parametrize("source,doc", SERVICE_CONFIGS, ids=[d for _, d in SERVICE_CONFIGS])
def test_service_docs_name_every_configuration_key(source, doc):
    """Every dotted key the parser names ("http.listen", the "timeout.s" of
    type.NAME.timeout.s) appears inside a backticked name of the service's page."""
    keys = set(re.findall(r'"([a-z]+(?:\.[a-z]+)+)"', read(os.path.join(REPO, source))))
    keys = {k for k in keys if not re.search(r"\.[ch]$", k)}  # #include "x.h"
    assert len(keys) >= 8, "only %d keys parsed from %s" % (len(keys), source)
    names = " ".join(re.findall(r"`([^`\n]+)`", read(os.path.join(DOCS, doc))))
    missing = sorted(k for k in keys if k not in names)
    assert not missing, "docs/%s does not name these keys of %s: %s" % (
        doc, source, ", ".join(missing))

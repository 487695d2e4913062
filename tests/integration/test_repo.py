"""The repository stands on its own: nothing tracked points outside it, the vendored Kafka
schemas cover every API the codec generator reads, and the binary names its version."""

import os
import re
import subprocess

import pytest

from conftest import REPO, sluice_bin

# Built from parts so this file does not match its own search.
OUTSIDE = "\\.\\./" + "shared"


def tracked_files():
    if not os.path.isdir(os.path.join(REPO, ".git")):
        pytest.skip("not a git checkout: the tracked-file checks need git")
    out = subprocess.run(["git", "-C", REPO, "ls-files", "-z"], check=True,
                         capture_output=True).stdout
    return [f for f in out.decode().split("\0") if f]


def test_nothing_tracked_refers_outside_the_repository():
    files = tracked_files()
    assert files, "git ls-files listed nothing"
    r = subprocess.run(["git", "-C", REPO, "grep", "-n", "-E", OUTSIDE],
                       capture_output=True, text=True)
    assert r.returncode == 1, "tracked files refer to a path beside the clone:\n" + r.stdout


def test_every_api_has_its_vendored_schemas():
    schema = os.path.join(REPO, "src", "kafka", "schema")
    for f in ("LICENSE", "NOTICE", "README.md", "RequestHeader.json", "ResponseHeader.json"):
        assert os.path.isfile(os.path.join(schema, f)), f
    apis = []
    with open(os.path.join(REPO, "src", "kafka", "apis.txt")) as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if line:
                apis.append(line.split()[0])
    assert len(apis) > 10
    for name in apis:
        for kind in ("Request", "Response"):
            p = os.path.join(schema, name + kind + ".json")
            assert os.path.isfile(p), "missing vendored schema " + p
    # Only what the generator reads is vendored.
    wanted = {n + k + ".json" for n in apis for k in ("Request", "Response")}
    wanted |= {"RequestHeader.json", "ResponseHeader.json"}
    have = {f for f in os.listdir(schema) if f.endswith(".json")}
    assert have == wanted, "schemas not named in apis.txt: %s" % sorted(have - wanted)


def test_version_names_the_release_and_the_commit():
    r = subprocess.run([sluice_bin(), "--version"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    with open(os.path.join(REPO, "VERSION")) as fh:
        version = fh.read().strip()
    m = re.fullmatch(r"sluice (\S+) \(commit (\S+)\)\n", r.stdout)
    assert m, r.stdout
    assert m.group(1) == version
    if os.path.isdir(os.path.join(REPO, ".git")):
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert m.group(2).startswith(head[:7]), (m.group(2), head)

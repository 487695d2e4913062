"""Pictures of the examples' pages and charts, taken by Debian's headless chromium, and a check
that a picture shows something (not blank, not one flat colour). SLUICE_SCREENSHOT_DIR, when
set, keeps a copy of every picture for a person to look at."""

import os
import shutil
import subprocess
import tempfile

from conftest import T

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--hide-scrollbars", "--force-device-scale-factor=1"]


def screenshot(url, png, width=1000, height=800, wait_ms=1500):
    """Loads url (http://... or file://...) and writes a width x height PNG to png."""
    if os.path.exists(png):
        os.unlink(png)  # a picture left from an earlier run proves nothing
    with tempfile.TemporaryDirectory(prefix="sluice-shot-") as profile:
        p = subprocess.run([CHROMIUM] + FLAGS + [
            "--user-data-dir=" + profile, "--window-size=%d,%d" % (width, height),
            "--virtual-time-budget=%d" % wait_ms, "--screenshot=" + str(png), url],
            capture_output=True, timeout=T(60))
    assert os.path.exists(png), "chromium wrote no screenshot (exit %d): %s" % (
        p.returncode, p.stderr.decode(errors="replace")[-2000:])
    keep(png)
    return png


def assert_not_blank(png, min_colours=16, min_stddev=12.0):
    """The picture has real content: many colours and some contrast."""
    from PIL import Image, ImageStat
    img = Image.open(png).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 20)
    n = len(colours) if colours is not None else 1 << 20
    stddev = max(ImageStat.Stat(img.convert("L")).stddev)
    assert n >= min_colours and stddev >= min_stddev, (
        "%s looks blank: %d colours, grey stddev %.1f" % (png, n, stddev))
    return img.size


def keep(png):
    where = os.environ.get("SLUICE_SCREENSHOT_DIR")
    if where:
        os.makedirs(where, exist_ok=True)
        shutil.copy(str(png), where)

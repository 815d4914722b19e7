"""The HTML report in a real browser: Debian's Chromium, headless, driven by its
chromedriver through Selenium (``apt-get install chromium chromium-driver``;
``.ci/run`` installs them). Skips with the reason where either is missing.

The report is drawn from a recorded run (tests/data/results/matrix-sample.json:
what is tested is the page, not the cells) of two cells: one delivered, one that
fails as measured (lost), made by ``emitcheck report --html`` in-process. Every wait
is bounded (page loads, scripts, the browser's start and end); the browser and
its driver end with the module, and whatever of their process tree outlives
``quit()`` is killed by pid.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

from emitcheck.cli.main import main
from emitcheck.outputs import html

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: Headless, and nothing that reaches for the network (a closed network refuses
#: Chromium's own connections, and it logs each refusal as an error).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")
WIDTH, HEIGHT = 1100, 1400
PAGE_TIMEOUT = 30     # seconds for the page to load, for a script to run
END_TIMEOUT = 10      # seconds for the browser's processes to end after quit()
RECORDED = Path(__file__).parent / "data" / "results" / "matrix-sample.json"
DELIVERED = "threading-unpatched-thread-time_sleep"
FAILING = "eventlet-unpatched-thread-time_sleep"  # lost, as measured

_missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
if _missing:
    pytest.skip(f"{' and '.join(_missing)} not found (Debian: apt-get install chromium "
                "chromium-driver)", allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the test extra)")
Image = pytest.importorskip("PIL.Image", reason="needs Pillow (the test extra)")


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> tuple[Path, list[dict]]:
    """The report of the two recorded cells, and their results."""
    where = tmp_path_factory.mktemp("report")
    document = json.loads(RECORDED.read_text())
    document["results"] = [r for r in document["results"] if r["cell"] in (DELIVERED, FAILING)]
    assert [r["verdict"] for r in document["results"]] == ["delivered", "lost"]
    (where / "results.json").write_text(json.dumps(document))
    out = where / "report.html"
    done = CliRunner().invoke(main, ["report", str(where / "results.json"), "--html", str(out)])
    assert done.exit_code == 0 and out.is_file(), done.output
    return out, document["results"]


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _start(home: Path):
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={home / 'profile'}")
    options.add_argument(f"--window-size={WIDTH},{HEIGHT}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(str(CHROMEDRIVER),
                                      log_output=str(home / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    return driver


def _quit(driver) -> list[psutil.Process]:
    """Quit; return the processes of the driver's tree still alive END_TIMEOUT
    seconds later, after killing them (they were started here)."""
    tree = _tree(driver.service.process.pid)
    try:
        driver.quit()
    finally:
        _, alive = psutil.wait_procs(tree, timeout=END_TIMEOUT)
        for process in alive:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=END_TIMEOUT)
    return alive


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = _start(tmp_path_factory.mktemp("chromium"))
    yield driver
    _quit(driver)


@pytest.fixture
def opened(browser, made):
    path, results = made
    browser.get(path.as_uri())
    return browser, [r for r in results if not r["skipped"]]


def test_the_grid_and_every_timeline_are_drawn(opened):
    driver, ran = opened
    grids = driver.execute_script(
        "return [...document.querySelectorAll('table.grid')].map(t => {"
        " const r = t.getBoundingClientRect(); return [r.width, r.height]; })")
    assert grids and all(w > 0 and h > 0 for w, h in grids), grids
    drawn = driver.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('section.cell')].map(s => {"
        " const svg = s.querySelector('svg.tl'), r = svg.getBoundingClientRect();"
        " const box = e => { const b = e.getBBox(); return [b.width, b.height]; };"
        " return [s.id, {svg: [r.width, r.height], lanes: box(svg.querySelector('use')),"
        "  marks: Object.fromEntries([...svg.querySelectorAll('path[class]')]"
        "   .map(p => [p.getAttribute('class'), box(p)]))}]; }))")
    assert set(drawn) == {r["cell"] for r in ran}
    for cell, sizes in drawn.items():
        assert min(sizes["svg"]) > 0 and min(sizes["lanes"]) > 0, (cell, sizes)
    width, height = drawn[DELIVERED]["marks"]["join-prompt"]
    assert width > 0 and height > 0  # arrivals joined to their emits
    emits = [size for kind, size in drawn[FAILING]["marks"].items() if kind.startswith("emit")]
    assert emits and all(w > 0 and h > 0 for w, h in emits), drawn[FAILING]


def test_the_page_logs_no_error(opened):
    driver, _ = opened
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []


def _pixels_near(image, colour: str, tolerance: int = 8) -> int:
    want = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return sum(count for count, rgb in image.getcolors(image.width * image.height)
               if max(abs(a - b) for a, b in zip(rgb, want, strict=True)) <= tolerance)


def test_a_screenshot_shows_the_grid_in_the_verdicts_colours(opened, tmp_path):
    driver, ran = opened
    png = driver.get_screenshot_as_png()
    (tmp_path / "page.png").write_bytes(png)  # kept for a look when this fails
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert len(image.getcolors(image.width * image.height)) > 50, "a blank or flat page"
    for verdict in {r["verdict"] for r in ran}:
        background, _ = html.COLOURS[verdict]
        assert _pixels_near(image, background) > 500, f"no {verdict} cell ({background})"


def test_a_screenshot_of_each_timeline_shows_its_phases_and_marks(opened, tmp_path):
    driver, ran = opened
    for result in ran:
        svg = driver.find_element("css selector", f"section[id='{result['cell']}'] svg.tl")
        driver.execute_script("arguments[0].scrollIntoView()", svg)
        png = svg.screenshot_as_png
        (tmp_path / f"{result['cell']}.png").write_bytes(png)
        image = Image.open(io.BytesIO(png)).convert("RGB")
        assert image.width > 300 and image.height > 50
        assert _pixels_near(image, "#e6f0fb", 2) > 1000, f"{result['cell']}: no quiet phase"
        assert len(image.getcolors(image.width * image.height)) > 20


def test_the_browser_and_its_driver_end_with_quit(tmp_path):
    driver = _start(tmp_path)
    tree = _tree(driver.service.process.pid)
    assert len(tree) > 1, "chromedriver started no browser"
    assert _quit(driver) == [], "processes outlived quit() (killed since)"
    assert not any(process.is_running() and process.status() != psutil.STATUS_ZOMBIE
                   for process in tree)

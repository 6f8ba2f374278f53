"""The pages in a real browser: headless Chromium (Debian chromium, chromium-driver) via Selenium.

Starts the real server (``recsys serve``, gunicorn, 2 workers) on 127.0.0.1 over the tiny shop
with the demo storefront on, then signs in to the dashboard, shops as ``run1`` (clicks a
recommendation, buys it) and checks that the pages update: the bought item leaves the shopper's
list and the dashboard counts the two new events. The dashboard is opened only after the
shopping: each worker keeps its event counts and experiment reports for a minute, so a visit
before would show the counts of then. Screenshots go to the test's temporary folder;
``RECSYS_SCREENSHOTS=docs/screenshots`` also writes the committed examples there (small PNGs).

Skipped when selenium, chromium or chromedriver is missing, unless ``RECSYS_REQUIRE_BROWSER=1``
(CI: ``make test-browser`` installs them), which makes that a failure.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from api.testing import ServerProcess, free_port
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.store import SQLiteStore
from recsys.text import TextEncoder
from recsys.training import train

pytestmark = pytest.mark.browser

WRITE_KEY = "browser-write-key"
ADMIN_KEY = "browser-admin-key"
TRAIN_CONFIG = {"behavior": {"factors": 8, "iterations": 10}}
WAIT_S = 20.0
SWAP_POLL_S = 0.2  # the server's swap_poll_s: each worker reads the running experiment this often
MAX_SCREENSHOT_BYTES = 300_000


def chromium_paths() -> tuple[str | None, str | None]:
    """The system browser and its driver (Debian: /usr/bin/chromium, /usr/bin/chromedriver)."""
    return shutil.which("chromium"), shutil.which("chromedriver")


def browser_missing() -> str | None:
    """Why no browser test can run here (``None``: it can)."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not importable: pip install -e '.[browser]' (or make test-browser)"
    browser, driver = chromium_paths()
    if browser is None or driver is None:
        return (
            "chromium or chromedriver is not on PATH: apt-get install chromium chromium-driver "
            "fonts-wqy-microhei (or make test-browser)"
        )
    return None


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    """Headless Chromium (the system one; nothing is downloaded).

    ``SE_OFFLINE=true`` keeps Selenium Manager from ever trying a download (it would only run
    if a path were missing, and then fail fast instead of reaching the network).
    """
    reason = browser_missing()
    if reason is not None:
        if os.environ.get("RECSYS_REQUIRE_BROWSER") == "1":
            pytest.fail(f"RECSYS_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, chromedriver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = str(browser)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
        "--lang=en-US",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_OFFLINE", "true")
        service = Service(executable_path=str(chromedriver))
        chrome = webdriver.Chrome(service=service, options=options)
        chrome.set_page_load_timeout(60)
        try:
            yield chrome
        finally:
            chrome.quit()


@pytest.fixture(scope="module")
def server(
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
    tmp_path_factory: pytest.TempPathFactory,
    driver: Any,
) -> Iterator[ServerProcess]:
    """``recsys serve`` over the tiny shop, with the demo storefront and the test keys."""
    home = Home(tmp_path_factory.mktemp("browser") / "home").ensure()
    events, catalog = shop
    with SQLiteStore(home.db_path) as store:
        store.upsert_items(catalog)
        store.add_events(events)
        train(home, TrainConfig.from_dict(TRAIN_CONFIG), store=store, encoder=encoder)
    env = {
        "RECSYS_API_WRITE_KEYS": WRITE_KEY,
        "RECSYS_API_ADMIN_KEYS": ADMIN_KEY,
        "RECSYS_API_DEMO_PAGES": "true",
        "RECSYS_API_SWAP_POLL_S": str(SWAP_POLL_S),  # both workers see a new experiment soon
        "RECSYS_API_CONFIG": None,  # a developer's config file stays out of the test
    }
    srv = ServerProcess(home.root, free_port(), home.root.parent / "server.log", env=env)
    try:
        srv.wait_ready()
        yield srv
    finally:
        srv.stop()


def wait_for(driver: Any, css: str) -> Any:
    """The first element matching ``css`` once it is there (fails after WAIT_S seconds)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT_S).until(
        expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
    )


def reload_until(driver: Any, css: str) -> Any:
    """The first element matching ``css``, reloading the page until it is there (WAIT_S s)."""
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def present(browser: Any) -> Any:
        try:
            return browser.find_element(By.CSS_SELECTOR, css)
        except NoSuchElementException:
            browser.refresh()
            return False

    return WebDriverWait(driver, WAIT_S, poll_frequency=SWAP_POLL_S).until(present)


def text_of(driver: Any, css: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def count(driver: Any, css: str) -> int:
    return int(text_of(driver, css).replace(",", ""))


def listed_items(driver: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = driver.find_elements(By.CSS_SELECTOR, "#recommendations li.product")
    return [str(r.get_attribute("data-item-id")) for r in rows]


def screenshot(driver: Any, name: str, folder: Path) -> Path:
    """A full-page PNG of the current page in ``folder`` (and in $RECSYS_SCREENSHOTS if set).

    The copy for docs/ is reduced to a 256-colour palette, so that it stays under 300 KB.
    """
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(1200, min(max(height, 600), 4800))
    path = folder / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1200, 900)
    assert path.stat().st_size > 10_000, "an empty screenshot"
    target = os.environ.get("RECSYS_SCREENSHOTS")
    if target:
        from PIL import Image

        out = Path(target)
        out.mkdir(parents=True, exist_ok=True)
        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
            small.save(out / f"{name}.png", optimize=True)
        assert (out / f"{name}.png").stat().st_size < MAX_SCREENSHOT_BYTES
    return path


def test_dashboard_and_storefront_in_a_browser(
    driver: Any,
    server: ServerProcess,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By

    base = f"http://127.0.0.1:{server.port}"
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    events, _ = shop  # what the server's store holds before the shopping below
    body = {
        "name": "pitch-test",
        "variants": ["control=current", "treatment=pitch=off"],
        "metric": "ctr",
        "min_users": 1,
    }
    status, answer = server.request("POST", "/v1/experiments", body, admin)
    assert status == 201, answer
    time.sleep(2 * SWAP_POLL_S)  # each worker's watcher reads the new experiment in one poll

    # the storefront: pick a shopper from the list
    driver.get(f"{base}/demo")
    wait_for(driver, "#shoppers")
    driver.find_element(By.LINK_TEXT, "run1").click()
    wait_for(driver, "#recommendations")
    variant = reload_until(driver, "#variant").text  # the shopper's experiment variant
    assert variant in ("control", "treatment")
    before = listed_items(driver)
    assert before and before[0] == "r1"  # the running item run1 lacks
    link = driver.find_element(By.CSS_SELECTOR, "#recommendations li.product a.rec-link")
    assert re.fullmatch(r"[0-9a-f]{16}", str(link.get_attribute("data-rid")))
    assert link.get_attribute("data-pos") == "0"
    reasons = driver.find_elements(By.CSS_SELECTOR, "#recommendations p.reason")
    assert reasons and all(r.text for r in reasons)  # each item says why it is there
    screenshot(driver, "storefront", tmp_path)

    # click the first recommendation: the script records a click, then opens the product page
    driver.find_element(By.CSS_SELECTOR, "#recommendations li.product a.rec-link").click()
    assert wait_for(driver, "#product-title").text == "Running shoes"
    wait_for(driver, "#similar")
    screenshot(driver, "product", tmp_path)

    # buy it: the script posts the purchase, then shows the shopper's list again
    driver.find_element(By.CSS_SELECTOR, "button#buy").click()
    notice = wait_for(driver, "#done")
    assert "You bought" in notice.text and "Running shoes" in notice.text
    after = listed_items(driver)
    assert "r1" not in after  # bought: gone from the recommendations
    assert after != before
    history = text_of(driver, "#history")
    assert "purchase" in history and "click" in history
    screenshot(driver, "storefront-after-purchase", tmp_path)

    # the dashboard asks for the admin key once, then keeps a session cookie
    driver.get(f"{base}/dashboard")
    wait_for(driver, "input#key").send_keys(ADMIN_KEY)
    driver.find_element(By.CSS_SELECTOR, "button#sign-in").click()
    wait_for(driver, "#bundle-version")
    assert "Current bundle" in driver.page_source
    cookie = driver.get_cookie("recsys_dashboard")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert driver.execute_script("return document.cookie") == ""  # not readable by scripts

    # it counts the click and the purchase (the shop's own events are years old)
    hour_before = events.filter(pl.col("ts") >= time.time() - 3600).height
    assert count(driver, "#events-total") == events.height + 2
    assert count(driver, "#events-hour") == hour_before + 2
    purchases = driver.find_element(By.CSS_SELECTOR, 'td[data-type="purchase"][data-window="hour"]')
    assert int(purchases.text) >= 1
    assert re.search(r"\d+\.\d%", text_of(driver, "#coverage-value"))
    screenshot(driver, "dashboard", tmp_path)

    # the experiment's report counts run1's click and purchase for their variant
    section = text_of(driver, "#experiment-pitch-test")
    assert "running" in section and variant in section
    driver.find_element(By.CSS_SELECTOR, "#experiment-pitch-test img.plot")
    status, data = server.request("GET", "/v1/experiments/pitch-test", headers=admin)
    assert status == 200, data
    row = next(v for v in data["report"]["variants"] if v["name"] == variant)
    assert row["metrics"]["ctr"]["value"] > 0 and row["metrics"]["conversion"]["value"] == 1.0

    # signing out ends the session
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait_for(driver, "input#key")
    assert driver.get_cookie("recsys_dashboard") is None

#!/usr/bin/python3
"""The reviewer page in a real browser: headless Chromium (Debian's chromium + chromium-driver) driven by
Selenium against neardup-server on loopback. It searches a sample photo and checks the match card and its
region outlines, re-decides with the threshold slider, adds a reference with the token and deletes it,
and fails on any console error. Screenshots of each step go to the artefacts folder.

Usage: test_reviewer_page.py NEARDUP NEARDUP_SERVER PHOTOS_DIR ARTEFACTS_DIR
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

TOKEN = "reviewer-test-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url, process, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"neardup-server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("neardup-server did not become ready")


def main():
    neardup, server_binary, photos, artefacts = sys.argv[1:5]
    os.makedirs(artefacts, exist_ok=True)
    work = tempfile.mkdtemp(prefix="neardup-ui-")
    server = None
    driver = None
    step = [0]

    def shot(name):
        step[0] += 1
        driver.save_screenshot(os.path.join(artefacts, f"{step[0]:02d}-{name}.png"))

    try:
        db = os.path.join(work, "db")
        for name, label in (("coffee.jpg", "brand=acme"), ("pot-holder.jpg", "brand=other")):
            subprocess.run([neardup, "index", "--db", db, "--label", label, os.path.join(photos, name)], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        token_file = os.path.join(work, "token")
        with open(token_file, "w") as f:
            f.write(TOKEN + "\n")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([server_binary, "--db", db, "--listen", f"127.0.0.1:{port}", "--token-file", token_file,
                                   "--log-level", "warn"])
        wait_ready(url, server)

        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1100"):
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)
        wait = WebDriverWait(driver, 60)

        # The page: GET / redirects to /ui/; the status strip fills in from the server's own figures.
        driver.get(url + "/")
        assert driver.current_url == url + "/ui/", driver.current_url
        wait.until(EC.text_to_be_present_in_element((By.ID, "status-ready"), "ready"))
        wait.until(EC.text_to_be_present_in_element((By.ID, "status-size"), "2 references"))
        shot("loaded")

        # Search: pick a copy (the reference's own 256 px thumbnail, recompressed: a thumbnail-sized re-upload);
        # its card shows the query beside the reference, the matched area outlined on both.
        copy = os.path.join(work, "coffee-copy.jpg")
        with urllib.request.urlopen(url + "/v1/images/coffee/thumbnail") as r, open(copy, "wb") as f:
            assert r.headers["Content-Type"] == "image/jpeg"
            f.write(r.read())
        driver.find_element(By.ID, "files").send_keys(copy)
        card = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "article.card[data-query='coffee-copy.jpg']")))
        wait.until(lambda d: len(card.find_elements(By.CSS_SELECTOR, ".box")) == 2)
        best = card.find_element(By.CSS_SELECTOR, "table.hits tr.best")
        cells = [c.text for c in best.find_elements(By.TAG_NAME, "td")]
        assert cells[0] == "coffee", cells
        assert cells[2] == "match", cells
        assert int(cells[3]) >= 10, cells
        assert "brand=acme" in cells[5], cells
        for box in card.find_elements(By.CSS_SELECTOR, ".box"):
            size = box.size
            assert size["width"] > 20 and size["height"] > 20, size
        rows = driver.find_elements(By.CSS_SELECTOR, "#batch tbody tr")
        assert len(rows) == 1 and rows[0].find_elements(By.TAG_NAME, "td")[1].text == "coffee"
        # The query's outline comes from query_region, the reference's from region (both in full-size pixels).
        shot("match-card")

        # An unrelated photo: its candidates are listed, none is a match at the default threshold.
        driver.find_element(By.ID, "files").send_keys(os.path.join(photos, "dome.jpg"))
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "article.card[data-query='dome.jpg'] table.hits tr.best")))
        # Cards are drawn again as results come in: look them up by query name each time.
        card_of = lambda name: driver.find_element(By.CSS_SELECTOR, f"article.card[data-query='{name}']")
        decision = lambda name: card_of(name).find_element(By.CSS_SELECTOR, "table.hits tr.best td.decision")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#batch tbody tr")) == 2)
        assert decision("dome.jpg").text == "no match"
        assert float(decision("dome.jpg").get_attribute("data-score")) < 0.5
        shot("no-match-card")

        # The threshold slider re-decides on the page, cards and table, without a new search.
        slider = driver.find_element(By.ID, "threshold")
        set_threshold = lambda v: driver.execute_script(
            "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));", slider, v)
        set_threshold("0")
        assert decision("dome.jpg").text == "match"
        assert driver.find_element(By.ID, "threshold-value").text == "0.00"
        assert [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#batch tbody td.decision")] == ["match", "match"]
        set_threshold("0.85")
        assert decision("dome.jpg").text == "no match"
        assert decision("coffee-copy.jpg").text == "match"
        # The batch table sorts by a column on a click (score, descending on the second).
        header = driver.find_element(By.CSS_SELECTOR, "#batch th[data-sort='score']")
        header.click()
        header.click()
        assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in driver.find_elements(By.CSS_SELECTOR, "#batch tbody tr")] == \
            ["coffee-copy.jpg", "dome.jpg"]
        header.click()
        assert [r.find_elements(By.TAG_NAME, "td")[0].text for r in driver.find_elements(By.CSS_SELECTOR, "#batch tbody tr")] == \
            ["dome.jpg", "coffee-copy.jpg"]
        shot("threshold-and-sort")

        # References: the list with thumbnails; add one with the token, then delete it after confirming.
        driver.find_element(By.ID, "tab-references").click()
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".ref[data-key='coffee'] img")))
        wait.until(lambda d: d.execute_script(
            "const i = document.querySelector(\".ref[data-key='coffee'] img\"); return i.complete && i.naturalWidth > 0;"))
        driver.find_element(By.ID, "token").send_keys(TOKEN)
        driver.find_element(By.ID, "add-key").send_keys("added-by-reviewer")
        driver.find_element(By.ID, "add-labels").send_keys("brand=acme, case=4711")
        driver.find_element(By.ID, "add-file").send_keys(os.path.join(photos, "dome.jpg"))
        driver.find_element(By.CSS_SELECTOR, "#add button[type=submit]").click()
        added = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".ref[data-key='added-by-reviewer']")))
        assert "case=4711" in added.find_element(By.CSS_SELECTOR, ".labels").text
        shot("added")
        with urllib.request.urlopen(url + "/v1/images/added-by-reviewer") as r:
            assert r.status == 200
        added.find_element(By.CSS_SELECTOR, "button.danger").click()
        wait.until(EC.alert_is_present()).accept()
        wait.until(EC.invisibility_of_element_located((By.CSS_SELECTOR, ".ref[data-key='added-by-reviewer']")))
        try:
            urllib.request.urlopen(url + "/v1/images/added-by-reviewer")
            raise AssertionError("the deleted reference is still there")
        except urllib.error.HTTPError as e:
            assert e.code == 404, e.code
        shot("deleted")

        # The token never reaches a URL: it is only in the page's memory.
        assert TOKEN not in driver.current_url
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, f"console errors: {errors}"
        print(f"reviewer page ok; screenshots in {artefacts}")
        return 0
    except (AssertionError, TimeoutException, RuntimeError) as e:
        if driver is not None:
            shot("failure")
            for entry in driver.get_log("browser"):
                print("console:", entry, file=sys.stderr)
        print(f"test_reviewer_page: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    finally:
        if driver is not None:
            driver.quit()
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

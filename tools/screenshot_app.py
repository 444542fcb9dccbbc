#!/usr/bin/env python
"""Open the browser demo (demo/app.py) in headless Chromium, optionally segment an image, and save
a screenshot of the page.

    python demo/app.py --port 7860 &
    python tools/screenshot_app.py --url http://127.0.0.1:7860 --image photo.jpg \
        --vocabulary "cat; dog, puppy; grass" --output page.png

Needs Chromium and its driver (Debian: apt-get install chromium chromium-driver; found on PATH or
at /usr/bin) and Selenium (pip). The same helpers drive the page in tests/demo/test_app_browser.py.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

# Flags that let Chromium run headless in containers and without network access.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage")


def find_browser():
    """(chromium binary, chromedriver) paths, or None where either is missing."""
    browser = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"), "/usr/bin/chromium")
                    if p and os.path.isfile(p)), None)
    driver = next((p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver") if p and os.path.isfile(p)), None)
    return (browser, driver) if browser and driver else None


def open_browser(width=1400, height=1600):
    """A headless Chromium under Selenium with a fresh profile; quit() it when done."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = find_browser()
    if found is None:
        raise RuntimeError("Chromium or chromedriver not found (Debian: apt-get install chromium chromium-driver)")
    browser, driver = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix="chromium_profile_"))
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def wait_for_page(url, timeout=120):
    """Wait until the server answers at `url`."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout} s")
        time.sleep(1)


def submit(driver, url, image=None, vocabulary=None, background=False, timeout=180):
    """Load the page, upload `image`, type `vocabulary`, press Segment and return the message the
    page shows, once it says what happened."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    driver.get(url)
    wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "#segment")))
    if image is not None:
        driver.find_element(By.CSS_SELECTOR, "#image-file input[type=file]").send_keys(os.path.abspath(image))
        # The upload is done when the component lists the file (its name and extension may sit
        # on separate lines).
        stem = os.path.splitext(os.path.basename(image))[0]
        wait.until(lambda d: stem in d.find_element(By.CSS_SELECTOR, "#image-file").text)
    if vocabulary is not None:
        box = driver.find_element(By.CSS_SELECTOR, "#vocabulary textarea")
        # Select-and-delete rather than clear(): the page only sees edits made through key events.
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(vocabulary)
    if background:
        driver.find_element(By.CSS_SELECTOR, "#background input[type=checkbox]").click()
    driver.find_element(By.CSS_SELECTOR, "#segment").click()
    wait.until(lambda d: any(word in d.find_element(By.CSS_SELECTOR, "#message").text
                             for word in ("Segmented", "Error")))
    return driver.find_element(By.CSS_SELECTOR, "#message").text


def area_table(driver):
    """The rows of the per-class area table as lists of cell texts."""
    from selenium.webdriver.common.by import By

    # Gradio draws the table body as a grid of rows (its <tbody> only sizes the columns).
    rows = driver.find_elements(By.CSS_SELECTOR, "#areas [role=row][data-index]")
    return [[cell.get_attribute("textContent").strip()
             for cell in row.find_elements(By.CSS_SELECTOR, "[role=gridcell]")] for row in rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--image", help="an image to upload and segment before the screenshot")
    parser.add_argument("--vocabulary", help="the vocabulary to type (default: the page's)")
    parser.add_argument("--background", action="store_true", help="tick the background box")
    parser.add_argument("--output", default="app_screenshot.png", help="where to write the PNG")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1600)
    args = parser.parse_args(argv)

    wait_for_page(args.url)
    driver = open_browser(args.width, args.height)
    try:
        if args.image or args.vocabulary:
            print(submit(driver, args.url, args.image, args.vocabulary, args.background))
        else:
            driver.get(args.url)
            time.sleep(3)
        time.sleep(1)  # let the result images finish drawing
        os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
        if not driver.save_screenshot(args.output):
            sys.exit(f"could not write {args.output}")
    finally:
        driver.quit()
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()

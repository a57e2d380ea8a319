"""The authorization-code sign-in page driven in a real headless browser (Debian's
chromium and chromium-driver, installed by scripts/test-all), with MSAL for Python
building the request (PKCE S256, state, nonce) and redeeming the code.

A screenshot of the filled-in page is kept in tests/artifacts/ (gitignored).
The browser runs with --ignore-certificate-errors, only here: the mock's CA is made
fresh for each run and this throwaway profile has nothing else to protect.
"""
import http.server
import os
import shutil
import tempfile
import threading
import urllib.parse

import msal
import pytest

from conftest import CONTOSO, ROOT, app_id
from test_msal_delegated import IMAP, PASSWORD, USER, assert_user_token, session
from server_process import running_server

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = ROOT / "tests" / "artifacts"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"),
    reason="chromium and chromium-driver are not installed (scripts/test-all installs them)")


class Callback(http.server.BaseHTTPRequestHandler):
    """The app's redirect URI: http://localhost:PORT/ records the query it receives."""
    received = []

    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/":  # not the browser's own /favicon.ico
            Callback.received.append(dict(urllib.parse.parse_qsl(url.query)))
        body = b"<html><body><h1 id='done'>Signed in. You can close this window.</h1></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def browser(profile):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", "--ignore-certificate-errors", "--window-size=1000,1100"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def test_sign_in_page_in_headless_chromium():
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    callback = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Callback)
    threading.Thread(target=callback.serve_forever, daemon=True).start()
    redirect_uri = f"http://localhost:{callback.server_address[1]}/"
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with running_server() as server:
        app = msal.PublicClientApplication(app_id(8), authority=f"{server['https_url']}/{CONTOSO}",
                                           instance_discovery=False, http_client=session(server))
        flow = app.initiate_auth_code_flow([IMAP], redirect_uri=redirect_uri)
        assert "code_challenge_method=S256" in flow["auth_uri"]
        driver = browser(profile)
        try:
            wait = WebDriverWait(driver, 30)
            driver.get(flow["auth_uri"])
            wait.until(ec.presence_of_element_located((By.ID, "login")))
            assert driver.find_element(By.ID, "app").text == "Desktop Mail Client"
            assert "IMAP.AccessAsUser.All" in driver.find_element(By.ID, "permissions").text
            # A wrong password first: the page says so, as Microsoft's does.
            driver.find_element(By.ID, "login").send_keys(USER)
            driver.find_element(By.ID, "passwd").send_keys("wrong")
            driver.find_element(By.ID, "accept").click()
            error = wait.until(ec.presence_of_element_located((By.ID, "error")))
            assert "Your account or password is incorrect." in error.text
            driver.find_element(By.ID, "passwd").send_keys(PASSWORD)
            driver.save_screenshot(str(ARTIFACTS / "sign-in-page.png"))
            driver.find_element(By.ID, "accept").click()
            wait.until(ec.presence_of_element_located((By.ID, "done")))
            driver.save_screenshot(str(ARTIFACTS / "sign-in-redirected.png"))
        finally:
            driver.quit()
            callback.shutdown()
            shutil.rmtree(profile, ignore_errors=True)
        assert len(Callback.received) == 1, Callback.received
        response = Callback.received[0]
        assert response["state"] == flow["state"]
        result = app.acquire_token_by_auth_code_flow(flow, response)
        assert_user_token(result)
    assert (ARTIFACTS / "sign-in-page.png").stat().st_size > 1000

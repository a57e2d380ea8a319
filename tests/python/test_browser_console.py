"""The web console (/_mock/console/) in headless Chromium (Debian's chromium and
chromium-driver, as test_browser_sign_in.py): the live journal shows a refused IMAP
authentication without a reload, with its reason and fix; a button on the tenant page
changes the next IMAP outcome.

Screenshots are kept in target/screenshots/ (build output, not committed).
"""
import imaplib
import shutil
import ssl
import tempfile

import pytest
import requests

from conftest import CONTOSO, EXO_SCOPE, ROOT, app_id
from server_process import running_server
from test_browser_sign_in import CHROMEDRIVER, CHROMIUM, browser

SCREENSHOTS = ROOT / "target" / "screenshots"
USER = "test.user@contoso.com"
SECRETS = {1: "poller-secret-value", 2: "wrong-oid-secret"}

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="chromium and chromium-driver are not installed (scripts/test-all installs them)")


def sp(nn):
    return f"00000000-0000-4000-8000-00000000c{nn:03d}"


def imap_outcome(server, nn):
    """Authenticate app nn as test.user and SELECT INBOX: (AUTHENTICATE answer, SELECT answer)."""
    r = requests.post(f"{server['https_url']}/{CONTOSO}/oauth2/v2.0/token", verify=server["ca_file"], timeout=10,
                      data={"client_id": app_id(nn), "client_secret": SECRETS[nn], "scope": EXO_SCOPE,
                            "grant_type": "client_credentials"})
    token = r.json()["access_token"]
    host, port = server["imaps_addr"].rsplit(":", 1)
    imap = imaplib.IMAP4_SSL(host, int(port), ssl_context=ssl.create_default_context(cafile=server["ca_file"]))
    try:
        imap.authenticate("XOAUTH2", lambda _: f"user={USER}\x01auth=Bearer {token}\x01\x01".encode())
    except imaplib.IMAP4.error as e:
        return ("NO", str(e))
    try:
        typ, data = imap.select("INBOX")
        return ("OK", typ)
    except imaplib.IMAP4.abort as e:  # BAD ... not connected: imaplib raises
        return ("OK", str(e))
    except imaplib.IMAP4.error as e:
        return ("OK", str(e))
    finally:
        try:
            imap.logout()
        except Exception:  # noqa: BLE001 (the server may have said BYE already)
            pass


@pytest.fixture
def driver():
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    d = browser(profile)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_a_refused_imap_authentication_appears_live_with_its_fix(driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_server() as server:
        wait = WebDriverWait(driver, 30)
        driver.get(f"{server['https_url']}/_mock/console/?protocol=imap")
        wait.until(ec.text_to_be_present_in_element((By.ID, "live"), "Live"))
        assert driver.find_elements(By.CSS_SELECTOR, "li.entry") == []

        assert imap_outcome(server, 2)[0] == "NO"

        row = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.entry.refusal")))
        assert "Wrong Object Id" in row.text
        assert "refused" in row.text
        row.find_element(By.TAG_NAME, "summary").click()
        fix = row.find_element(By.CSS_SELECTOR, "dd.fix")
        assert fix.is_displayed()
        assert f"New-ServicePrincipal -AppId {app_id(2)} -ObjectId {sp(2)}" in fix.text
        assert row.find_element(By.CSS_SELECTOR, "dd.reason").text
        driver.save_screenshot(str(SCREENSHOTS / "console-journal.png"))
        driver.set_window_size(420, 900)
        driver.save_screenshot(str(SCREENSHOTS / "console-journal-narrow.png"))
    assert (SCREENSHOTS / "console-journal.png").stat().st_size > 1000


def test_removing_a_mailbox_permission_on_the_tenant_page_changes_the_next_imap_outcome(driver):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with running_server() as server:
        assert imap_outcome(server, 1) == ("OK", "OK")
        wait = WebDriverWait(driver, 30)
        driver.get(f"{server['https_url']}/_mock/console/tenant")
        button = wait.until(ec.element_to_be_clickable((
            By.XPATH, f"//article[@id='mbx-{USER}']//form[input[@name='user' and @value='{sp(1)}']]//button")))
        assert button.text == "Remove FullAccess"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        driver.save_screenshot(str(SCREENSHOTS / "console-tenant.png"))
        button.click()
        flash = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "p.flash.ok")))
        assert "remove-mailbox-permission: done" in flash.text
        assert not driver.find_elements(
            By.XPATH, f"//article[@id='mbx-{USER}']//form[input[@name='user' and @value='{sp(1)}']]")
        driver.save_screenshot(str(SCREENSHOTS / "console-tenant-after.png"))

        auth, select = imap_outcome(server, 1)
        assert auth == "OK"
        assert "User is authenticated but not connected." in select

        # The change and its consequence, side by side in the journal.
        driver.get(f"{server['https_url']}/_mock/console/")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "li.entry.refusal")))
        text = driver.find_element(By.ID, "journal").text
        assert "Remove-MailboxPermission" in text
        driver.save_screenshot(str(SCREENSHOTS / "console-journal-after.png"))

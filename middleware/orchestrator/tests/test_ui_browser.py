"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

One browser for the module, a fresh context (cookies) per test, the app served on 127.0.0.1
with its scheduler running. The tests wait on what the page shows, never for a fixed time. The
full flow and the phone-width test take the screenshots the docs show: into the folder
``ORCHESTRATOR_SCREENSHOTS`` names (``make screenshots`` sets it to ``docs/_static/screens/``),
else into a temporary folder, so that a test run leaves the committed ones alone.
"""
import os
import pathlib
import shutil
import tempfile
import threading

import pytest
from werkzeug.serving import make_server

from conftest import ADMIN_KEY, server_missing
from service import CountingTarget, wait_for

expect = None   # playwright's, once the browser fixture has found it

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENS = pathlib.Path(os.environ.get("ORCHESTRATOR_SCREENSHOTS")
                       or pathlib.Path(tempfile.gettempdir()) / "orchestrator-screens")
DESKTOP, PHONE = {"width": 1280, "height": 800}, {"width": 390, "height": 844}

pytestmark = pytest.mark.parametrize("store_backend", ["sqlite"])  # the store is not what these test


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        server_missing("Playwright (pip install playwright, the [test] extra)", exc)
    if not shutil.which(CHROMIUM):
        server_missing(f"Chromium ({CHROMIUM}: apt-get install chromium)", FileNotFoundError(CHROMIUM))
    global expect
    from playwright.sync_api import expect
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def served(live):
    """The live app (scheduler running) served over HTTP on 127.0.0.1; yields its base URL."""
    server = make_server("127.0.0.1", 0, live, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def target():
    counting = CountingTarget()
    yield counting
    counting.close()


def new_page(browser, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(20_000)
    return context.new_page()


def sign_in(page, base, key):
    page.goto(f"{base}/ui/")
    page.fill("#api_key", key)
    page.click("form[action='/ui/sign-in'] button")
    page.wait_for_selector("#sign-out")


def shoot(page, name):
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)


def make_account(live, name):
    _, _, key = live.extensions["orchestrator.accounts"].create_account(name, "free")
    return key


def test_sign_in_schedule_a_job_see_it_run_pause_it_and_sign_out(browser, served, live, target):
    page = new_page(browser)
    page.goto(f"{served}/ui/jobs")
    assert page.url.startswith(f"{served}/ui/sign-in")
    shoot(page, "sign-in")
    page.fill("#api_key", "orc_not-a-key-of-this-service")
    page.click("form[action='/ui/sign-in'] button")
    assert "unknown API key" in page.inner_text(".error")
    sign_in(page, served, ADMIN_KEY)
    assert page.url == f"{served}/ui/jobs" or page.url.startswith(f"{served}/ui/jobs?")

    page.click("#new-job")
    page.fill("#name", "heartbeat")
    page.select_option("#schedule_kind", "every")
    page.fill("#interval", "2")
    page.select_option("#frequency", "secondly")
    page.fill("#url", f"{target.url}/heartbeat")
    expect(page.locator("#preview-of")).to_contain_text("every 2 seconds (UTC)")
    expect(page.locator("#preview .fire-times li")).to_have_count(5)
    page.select_option("#schedule_kind", "cron")          # a bad cron line: the API's error, live
    page.fill("#schedule_text", "61 * * * *")
    page.wait_for_selector("#preview .error >> text=schedule.cron")
    page.select_option("#schedule_kind", "every")
    expect(page.locator("#preview-of")).to_contain_text("every 2 seconds (UTC)")
    expect(page.locator("#preview .fire-times li")).to_have_count(5)
    assert page.is_hidden("#schedule_text") and page.is_visible("#interval")
    shoot(page, "job-form")
    page.click("#save")
    page.wait_for_selector("text=Job scheduled.")
    job_id = page.url.split("/ui/jobs/")[1].split("?")[0]

    # It fires: runs show in the timeline as the page is loaded again.
    wait_for(lambda: page.reload() and page.locator("#timeline .run-bar").count() >= 3, timeout=30, step=0.5)
    assert target.hits.get("/heartbeat", 0) >= 1
    assert page.locator("#runs .status-completed").count() >= 1
    shoot(page, "job")
    page.locator("#runs tr:has(.status-completed) a").first.click()    # the newest may still run
    page.wait_for_selector("#events")
    assert "Completed" in page.inner_text("#events") and '"status": 200' in page.inner_text("#result")
    shoot(page, "run")

    page.goto(f"{served}/ui/jobs/{job_id}")
    page.click("button:text('Pause')")
    page.wait_for_selector("#paused-tag")
    assert page.inner_text("#next-run") == "paused"
    assert live.extensions["orchestrator.jobs"].get(_admin(live), job_id)["paused"] is True
    page.goto(f"{served}/ui/jobs")
    assert page.locator(f"tr[data-job='{job_id}'] .sparkline rect").count() >= 3
    shoot(page, "jobs")

    page.goto(f"{served}/ui/clouds/default")
    page.fill("#node-name", "web-{n}")
    page.fill("#count", "2")
    page.click("#create")
    page.wait_for_selector("#progress")
    page.wait_for_selector("#progress >> text=Completed")      # polled while the nodes boot
    assert page.locator("#nodes .state-running").count() >= 2
    shoot(page, "cloud")
    page.locator("tr:has-text('web-2') a:text('Destroy')").click()
    page.click("#confirm")
    page.wait_for_selector("text=Node destroyed.")
    assert page.locator("#nodes tr:has-text('web-2')").count() == 0

    page.goto(f"{served}/ui/admin/accounts")
    page.fill("#account-name", "alice")
    page.click("#new-account button")
    page.wait_for_selector("#created-key")
    shoot(page, "accounts")

    page.click("#sign-out")
    page.wait_for_selector("#api_key")
    page.goto(f"{served}/ui/jobs")
    assert page.url.startswith(f"{served}/ui/sign-in")
    page.context.close()


def _admin(live):
    return live.extensions["orchestrator.accounts"].authenticate(f"Bearer {ADMIN_KEY}")


def test_a_form_with_a_wrong_token_is_refused(browser, served, live):
    page = new_page(browser)
    sign_in(page, served, make_account(live, "mallory"))
    page.goto(f"{served}/ui/jobs/new")
    page.fill("#url", "http://127.0.0.1:9/x")
    page.eval_on_selector("#job-form input[name=csrf_token]", "field => field.value = 'forged'")
    page.click("#save")
    page.wait_for_selector(".error-page")
    assert "did not come from this dashboard" in page.inner_text(".error-page")
    assert live.extensions["orchestrator.jobs"].list(_admin(live)) == []
    page.context.close()


def test_revoking_the_key_signs_its_browser_out(browser, served, live):
    accounts = live.extensions["orchestrator.accounts"]
    key = make_account(live, "bob")
    page = new_page(browser)
    sign_in(page, served, key)
    page.goto(f"{served}/ui/clouds")
    assert page.is_visible("#sign-out")
    accounts.revoke_key(accounts.authenticate(f"Bearer {key}").key_id)
    page.reload()
    assert page.url.startswith(f"{served}/ui/sign-in") and page.is_visible("#api_key")
    page.fill("#api_key", key)
    page.click("form[action='/ui/sign-in'] button")
    assert "revoked" in page.inner_text(".error")
    page.context.close()


def test_another_accounts_job_and_run_are_not_found(browser, served, live):
    jobs = live.extensions["orchestrator.jobs"]
    accounts = live.extensions["orchestrator.accounts"]
    owner = accounts.authenticate(f"Bearer {make_account(live, 'carol')}")
    from dispatcher.lib.jobs import JobSpec
    from dispatcher.lib.timespec import parse_schedule
    from datetime import datetime, timezone
    spec = JobSpec(name="carols-job", group=None, schedule=parse_schedule({"cron": "0 3 * * *"}, datetime.now(timezone.utc)),
                   action={"type": "url", "url": "http://127.0.0.1:9/x"}, paused=True)
    job = jobs.create(owner, spec, lambda held, adding: None)
    run_id = jobs.run_now(owner, job["id"])
    page = new_page(browser)
    sign_in(page, served, make_account(live, "dave"))
    for path in (f"/ui/jobs/{job['id']}", f"/ui/runs/{run_id}", f"/ui/jobs/{job['id']}/edit"):
        answer = page.goto(served + path)
        assert answer.status == 404 and page.is_visible(".error-page"), path
        assert "carols-job" not in page.content()
    page.goto(f"{served}/ui/jobs")
    assert "carols-job" not in page.content()
    page.context.close()


def test_the_administrators_pages_are_the_administrators(browser, served, live):
    page = new_page(browser)
    sign_in(page, served, make_account(live, "erin"))
    assert page.locator("nav a:text('Accounts')").count() == 0
    for path in ("/ui/admin/accounts", "/ui/admin/plans"):
        answer = page.goto(served + path)
        assert answer.status == 403 and "only the administrator" in page.inner_text(".error-page"), path
    page.context.close()


def test_the_main_pages_fit_a_phone(browser, served, live, target):
    page = new_page(browser, PHONE)
    sign_in(page, served, ADMIN_KEY)
    page.goto(f"{served}/ui/jobs/new")
    page.fill("#name", "phone check")
    page.fill("#interval", "1")
    page.select_option("#frequency", "secondly")
    page.fill("#url", f"{target.url}/phone")
    expect(page.locator("#preview-of")).to_contain_text("every second (UTC)")
    expect(page.locator("#preview .fire-times li")).to_have_count(5)
    fits(page, "phone-job-form")
    page.click("#save")
    page.wait_for_selector("text=Job scheduled.")
    wait_for(lambda: page.reload() and page.locator("#timeline .run-bar").count() >= 2, timeout=30, step=0.5)
    fits(page, "phone-job")
    for path, name in (("/ui/jobs", "phone-jobs"), ("/ui/clouds/default", "phone-cloud"),
                       ("/ui/admin/accounts", None), ("/ui/clouds", None)):
        page.goto(served + path)
        fits(page, name)
    page.context.close()


def fits(page, screenshot=None):
    """The page scrolls only down: nothing is wider than the phone's screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width} px wide"
    if screenshot:
        shoot(page, screenshot)

"""The dashboard's server side, through Flask's test client: sessions, CSRF, and the API's
access rules on every page (the browser tests, in test_ui_browser.py, drive the pages)."""
import re

import pytest

from conftest import ADMIN_KEY

URL_ACTION = {"type": "url", "url": "http://127.0.0.1:9/x"}
JOB_FORM = {"name": "nightly", "schedule_kind": "every", "frequency": "minutely", "interval": "5", "timezone": "UTC",
            "action_kind": "url", "url": "http://127.0.0.1:9/x", "method": "GET", "overlap": "skip"}


def csrf_of(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def sign_in_token(page):
    """The token of the sign-in form (the page may also hold a session's sign-out form)."""
    return re.search(r'action="/ui/sign-in">\s*<input type="hidden" name="csrf_token" value="([^"]+)"',
                     page.get_data(as_text=True)).group(1)


def sign_in(client, key, next_page=""):
    """Sign ``client`` in with ``key``; returns the session's CSRF token."""
    form = client.get("/ui/sign-in")
    answer = client.post("/ui/sign-in", data={"api_key": key, "csrf_token": sign_in_token(form), "next": next_page})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return csrf_of(client.get("/ui/jobs"))


def key_of(headers):
    return headers["Authorization"].split()[1]


@pytest.fixture
def admin_ui(app):
    client = app.test_client()
    return client, sign_in(client, ADMIN_KEY)


def test_pages_send_whoever_has_no_session_to_sign_in(client):
    answer = client.get("/ui/jobs/abc?x=1")
    assert answer.status_code == 302 and answer.headers["Location"] == "/ui/sign-in?next=/ui/jobs/abc?x%3D1"
    assert client.get("/ui/").status_code == 302
    assert client.post("/ui/jobs/new", data=JOB_FORM).status_code == 302


def test_a_key_opens_a_session_whose_cookie_holds_only_a_random_id(app, client):
    form = client.get("/ui/sign-in")
    assert form.status_code == 200 and ADMIN_KEY not in form.get_data(as_text=True)
    answer = client.post("/ui/sign-in", data={"api_key": ADMIN_KEY, "csrf_token": sign_in_token(form), "next": "/ui/clouds"})
    assert answer.status_code == 302 and answer.headers["Location"] == "/ui/clouds"
    [cookie] = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("orchestrator_session=")]
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40 and ADMIN_KEY not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/ui/" in cookie and "Secure" not in cookie
    assert client.get("/ui/clouds").status_code == 200


def test_the_cookie_is_secure_over_https(app):
    client = app.test_client()
    form = client.get("/ui/sign-in", base_url="https://localhost")
    answer = client.post("/ui/sign-in", base_url="https://localhost",
                         data={"api_key": ADMIN_KEY, "csrf_token": sign_in_token(form)})
    assert all("Secure" in c for c in answer.headers.getlist("Set-Cookie"))


def test_a_wrong_key_is_refused_with_the_apis_message(client, new_account):
    form = client.get("/ui/sign-in")
    answer = client.post("/ui/sign-in", data={"api_key": "orc_not-a-key-of-this-service", "csrf_token": sign_in_token(form)})
    assert answer.status_code == 401 and "unknown API key" in answer.get_data(as_text=True)
    assert not [c for c in answer.headers.getlist("Set-Cookie") if c.startswith("orchestrator_session=")]
    assert client.get("/ui/jobs").status_code == 302


def test_signing_in_needs_the_forms_token(client):
    client.get("/ui/sign-in")
    answer = client.post("/ui/sign-in", data={"api_key": ADMIN_KEY, "csrf_token": "forged"})
    assert answer.status_code == 403 and "text/html" in answer.content_type
    assert client.get("/ui/jobs").status_code == 302


def test_after_sign_in_only_pages_of_the_dashboard(client):
    for target in ("https://evil.example/ui/", "//evil.example/ui/", "/api/v1/jobs"):
        form = client.get("/ui/sign-in")
        answer = client.post("/ui/sign-in", data={"api_key": ADMIN_KEY, "csrf_token": sign_in_token(form), "next": target})
        assert answer.headers["Location"] == "/ui/"


def test_every_post_needs_the_sessions_token_and_changes_nothing_without(app, admin_ui, admin):
    client, token = admin_ui
    job = client.application.test_client().post("/api/v1/jobs", headers=admin,
                                                json={"schedule": {"cron": "0 3 * * *"}, "action": URL_ACTION}).json
    for sent in ({}, {"csrf_token": "forged"}, {"csrf_token": token + "x"}):
        answer = client.post(f"/ui/jobs/{job['id']}/pause", data=sent)
        assert answer.status_code == 403 and "did not come from this dashboard" in answer.get_data(as_text=True)
    assert client.post("/ui/jobs/new", data=JOB_FORM).status_code == 403
    api = app.test_client()
    assert api.get(f"/api/v1/jobs/{job['id']}", headers=admin).json["paused"] is False
    assert api.get("/api/v1/jobs", headers=admin).json["total"] == 1
    # Another session's token is no good either.
    other = app.test_client()
    assert client.post(f"/ui/jobs/{job['id']}/pause", data={"csrf_token": sign_in(other, ADMIN_KEY)}).status_code == 403
    assert client.post(f"/ui/jobs/{job['id']}/pause", headers={"X-CSRF-Token": token}).status_code == 302
    assert api.get(f"/api/v1/jobs/{job['id']}", headers=admin).json["paused"] is True


def test_signing_out_ends_the_session_in_the_store(app, admin_ui):
    client, token = admin_ui
    cookie = client.get_cookie("orchestrator_session", path="/ui/").value
    answer = client.post("/ui/sign-out", data={"csrf_token": token})
    assert answer.status_code == 302 and answer.headers["Location"] == "/ui/sign-in"
    assert client.get("/ui/jobs").status_code == 302
    again = app.test_client()          # the old cookie, replayed
    again.set_cookie("orchestrator_session", cookie, path="/ui/")
    assert again.get("/ui/jobs").status_code == 302


def test_a_revoked_key_ends_its_sessions(app, new_account):
    account_id, headers = new_account()
    browser = app.test_client()
    sign_in(browser, key_of(headers))
    assert browser.get("/ui/jobs").status_code == 200
    [key] = app.test_client().get(f"/api/v1/accounts/{account_id}/keys", headers=headers).json["items"]
    assert app.test_client().delete(f"/api/v1/keys/{key['id']}", headers=headers).status_code == 204
    assert browser.get("/ui/jobs").status_code == 302


def test_the_administrator_revoking_a_key_from_the_dashboard_ends_its_sessions(app, admin_ui, new_account):
    client, token = admin_ui
    account_id, headers = new_account()
    browser = app.test_client()
    sign_in(browser, key_of(headers))
    page = client.get(f"/ui/admin/accounts/{account_id}").get_data(as_text=True)
    key_id = re.search(r'data-key="([^"]+)"', page).group(1)
    assert client.post(f"/ui/admin/keys/{key_id}/revoke", data={"csrf_token": token}).status_code == 302
    assert browser.get("/ui/jobs").status_code == 302
    assert app.test_client().get("/api/v1/accounts/me", headers=headers).status_code == 401


def test_another_accounts_job_and_run_are_404_here_too(app, new_account):
    _, alice = new_account()
    _, bob = new_account()
    api = app.test_client()
    job = api.post("/api/v1/jobs", headers=alice, json={"name": "alices", "schedule": {"cron": "0 3 * * *"},
                                                        "action": URL_ACTION}).json
    run_id = api.post(f"/api/v1/jobs/{job['id']}/run", headers=alice).json["run_id"]
    browser = app.test_client()
    token = sign_in(browser, key_of(bob))
    for path in (f"/ui/jobs/{job['id']}", f"/ui/jobs/{job['id']}/edit", f"/ui/jobs/{job['id']}/delete",
                 f"/ui/runs/{run_id}"):
        answer = browser.get(path)
        assert answer.status_code == 404 and "text/html" in answer.content_type, path
        assert "alices" not in answer.get_data(as_text=True)
    for path in (f"/ui/jobs/{job['id']}/pause", f"/ui/jobs/{job['id']}/run", f"/ui/jobs/{job['id']}/delete",
                 f"/ui/jobs/{job['id']}/edit"):
        assert browser.post(path, data={**JOB_FORM, "csrf_token": token}).status_code == 404, path
    assert "alices" not in browser.get("/ui/jobs").get_data(as_text=True)
    assert api.get(f"/api/v1/jobs/{job['id']}", headers=alice).json["paused"] is False
    mine = app.test_client()
    sign_in(mine, key_of(alice))
    assert mine.get(f"/ui/jobs/{job['id']}").status_code == 200 and mine.get(f"/ui/runs/{run_id}").status_code == 200


def test_another_accounts_node_is_404_here_too(app, new_account):
    _, alice = new_account()
    _, bob = new_account()
    api = app.test_client()
    [node] = api.post("/api/v1/clouds/default/nodes", headers=alice,
                      json={"name": "alices-node", "image": "1", "size": "1"}).json["nodes"]
    browser = app.test_client()
    token = sign_in(browser, key_of(bob))
    assert "alices-node" not in browser.get("/ui/clouds/default").get_data(as_text=True)
    assert browser.get(f"/ui/clouds/default/nodes/{node['id']}/destroy").status_code == 404
    for action in ("reboot", "destroy"):
        answer = browser.post(f"/ui/clouds/default/nodes/{node['id']}/{action}", data={"csrf_token": token})
        assert answer.status_code == 404 and "text/html" in answer.content_type
    assert api.get(f"/api/v1/clouds/default/nodes/{node['id']}", headers=alice).status_code == 200


def test_only_the_administrator_sees_the_administrators_pages(app, new_account, admin_ui):
    account_id, headers = new_account()
    browser = app.test_client()
    token = sign_in(browser, key_of(headers))
    for path in ("/ui/admin/accounts", "/ui/admin/plans", f"/ui/admin/accounts/{account_id}"):
        answer = browser.get(path)
        assert answer.status_code == 403 and "only the administrator" in answer.get_data(as_text=True), path
    assert browser.post("/ui/admin/accounts", data={"name": "sneaky", "plan": "unlimited",
                                                    "csrf_token": token}).status_code == 403
    assert "/ui/admin/" not in browser.get("/ui/jobs").get_data(as_text=True)
    client, _ = admin_ui
    assert client.get("/ui/admin/plans").status_code == 200
    assert app.test_client().get("/api/v1/accounts", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).json[
        "total"] == 2


def test_the_job_form_answers_the_apis_errors(app, admin_ui, admin):
    client, token = admin_ui
    api = app.test_client()
    for changes, schedule in (({"schedule_kind": "cron", "schedule_text": "61 * * * *"}, {"cron": "61 * * * *"}),
                              ({"frequency": "fortnightly"}, {"frequency": "fortnightly", "interval": 5}),
                              ({"timezone": "Mars/Olympus"}, {"frequency": "minutely", "interval": 5,
                                                              "timezone": "Mars/Olympus"})):
        answer = client.post("/ui/jobs/new", data={**JOB_FORM, **changes, "csrf_token": token})
        refused = api.post("/api/v1/jobs", headers=admin, json={"schedule": schedule, "action": URL_ACTION}).json
        page = answer.get_data(as_text=True)
        assert answer.status_code == 422
        assert escape(refused["error"]["message"]) in page
        for field in refused["error"]["details"]:
            assert f"<code>{field}</code>" in page
    answer = client.post("/ui/jobs/new", data={**JOB_FORM, "url": "ftp://example.com/", "csrf_token": token})
    assert answer.status_code == 422 and "action.url" in answer.get_data(as_text=True)
    assert 'value="ftp://example.com/"' in answer.get_data(as_text=True)   # what was typed stays
    assert api.get("/api/v1/jobs", headers=admin).json["total"] == 0


def escape(text):
    return text.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;").replace("<", "&lt;")


def test_the_quota_is_the_apis(app, new_account):
    _, headers = new_account(plan="free")
    browser = app.test_client()
    token = sign_in(browser, key_of(headers))
    for n in range(10):
        assert browser.post("/ui/jobs/new", data={**JOB_FORM, "name": f"j{n}", "csrf_token": token}).status_code == 302
    answer = browser.post("/ui/jobs/new", data={**JOB_FORM, "csrf_token": token})
    assert answer.status_code == 403 and "the free plan holds at most 10 jobs" in answer.get_data(as_text=True)


def test_a_job_made_and_changed_through_the_form_is_the_apis_job(app, admin_ui, admin):
    client, token = admin_ui
    answer = client.post("/ui/jobs/new", data={**JOB_FORM, "group": "nightly-jobs", "csrf_token": token})
    job_id = answer.headers["Location"].split("/")[3].split("?")[0]
    job = app.test_client().get(f"/api/v1/jobs/{job_id}", headers=admin).json
    assert (job["name"], job["group"], job["action"]["url"], job["action"]["method"]) == (
        "nightly", "nightly-jobs", URL_ACTION["url"], "GET")
    assert (job["schedule"]["frequency"], job["schedule"]["interval"], job["schedule"]["timezone"]) == (
        "minutely", 5, "UTC")
    form = client.get(f"/ui/jobs/{job_id}/edit").get_data(as_text=True)
    assert 'value="nightly-jobs"' in form and 'value="http://127.0.0.1:9/x"' in form
    assert '<option value="every" selected>' in form and f'value="{job["schedule"]["start"]}"' in form
    answer = client.post(f"/ui/jobs/{job_id}/edit", data={**JOB_FORM, "schedule_kind": "cron",
                                                          "schedule_text": "0 4 * * *", "csrf_token": token})
    assert answer.status_code == 302
    assert app.test_client().get(f"/api/v1/jobs/{job_id}", headers=admin).json["schedule"]["cron"] == "0 4 * * *"
    assert client.post(f"/ui/jobs/{job_id}/delete", data={"csrf_token": token}).status_code == 302
    assert app.test_client().get(f"/api/v1/jobs/{job_id}", headers=admin).status_code == 404


def test_the_preview_shows_five_fire_times_or_the_apis_error(admin_ui):
    client, token = admin_ui
    answer = client.post("/ui/schedules/preview", data={**JOB_FORM, "csrf_token": token})
    assert answer.status_code == 200 and answer.get_data(as_text=True).count("<li>") == 5
    answer = client.post("/ui/schedules/preview", data={**JOB_FORM, "schedule_kind": "cron",
                                                        "schedule_text": "61 * * * *", "csrf_token": token})
    assert "schedule.cron" in answer.get_data(as_text=True) and "<li><code>" in answer.get_data(as_text=True)


def test_unknown_pages_are_html_and_the_api_keeps_json(admin_ui, client, admin):
    ui, _ = admin_ui
    answer = ui.get("/ui/no/such/page")
    assert answer.status_code == 404 and "text/html" in answer.content_type
    api = client.get("/api/v1/no-such-thing", headers=admin)
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_a_new_accounts_key_is_shown_once(app, admin_ui):
    client, token = admin_ui
    answer = client.post("/ui/admin/accounts", data={"name": "carol", "plan": "free", "csrf_token": token})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 201
    key = re.search(r'<pre class="key">([^<]+)</pre>', page).group(1)
    assert app.test_client().get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {key}"}).json["name"] == "carol"
    account_id = re.search(r'/ui/admin/accounts/([0-9a-f]{32})">carol', page).group(1)
    for path in ("/ui/admin/accounts", f"/ui/admin/accounts/{account_id}"):
        assert key not in client.get(path).get_data(as_text=True)
    duplicate = client.post("/ui/admin/accounts", data={"name": "carol", "plan": "free", "csrf_token": token})
    assert duplicate.status_code == 409 and "exists already" in duplicate.get_data(as_text=True)


def test_static_files_are_cached_and_pages_are_not(admin_ui):
    client, _ = admin_ui
    page = client.get("/ui/jobs")
    assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Frame-Options"] == "DENY"
    css = re.search(r'href="(/ui/static/ui.css\?v=[0-9a-f]+)"', page.get_data(as_text=True)).group(1)
    static = client.get(css)
    assert static.status_code == 200 and "max-age=31536000" in static.headers["Cache-Control"]


def test_creating_nodes_follows_their_run(live, new_account):
    _, headers = new_account()
    browser = live.test_client()
    token = sign_in(browser, key_of(headers))
    answer = browser.post("/ui/clouds/default/nodes", data={"name": "web-{n}", "count": "2", "image": "1", "size": "1",
                                                           "csrf_token": token})
    assert answer.status_code == 302
    run_id = re.search(r"run=([0-9a-f-]+)", answer.headers["Location"]).group(1)
    from service import wait_for
    fragment = wait_for(lambda: (lambda f: f if "data-poll" not in f else None)(
        browser.get(f"/ui/clouds/default/nodes?run={run_id}").get_data(as_text=True)))
    assert "Completed" in fragment and fragment.count('class="state state-running"') == 2
    assert "web-1" in fragment and "web-2" in fragment
    bad = browser.post("/ui/clouds/default/nodes", data={"name": "web-{n}", "count": "500", "image": "1", "size": "1",
                                                        "csrf_token": token})
    assert bad.status_code == 422 and "count" in bad.get_data(as_text=True)

"""Jobs: the list, the form (with its schedule preview), a job's runs, one run."""
from flask import current_app, g, render_template, request, url_for

from dispatcher.api import job_schemas as schemas, jobs as jobs_api
from dispatcher.api.contract import load
from dispatcher.api.schedules import fire_times
from dispatcher.errors import Forbidden, ValidationFailed
from dispatcher.ui import bp, charts, done, forms

RECENT_RUNS = 20        # in a job's sparkline
TIMELINE_RUNS = 100     # on a job's page


def service():
    return current_app.extensions["orchestrator.jobs"]


@bp.get("/jobs")
def jobs():
    """The caller's jobs (every account's for the administrator): the next run, the last run's
    status and a sparkline of the recent runs.

    :statuscode 200: the page
    :statuscode 302: no session: to sign in
    """
    listed = []
    for job in service().list(g.caller):
        runs, _ = service().runs(g.caller, job["id"], RECENT_RUNS, 0)
        listed.append({"job": job, "last": runs[0] if runs else None, "sparkline": charts.sparkline(runs)})
    return render_template("jobs.html", listed=listed)


def form_page(fields, job=None, error=None, status=200):
    return render_template("job_form.html", fields=fields, job=job, error=error, forms=forms), status


@bp.route("/jobs/new", methods=["GET", "POST"])
def new_job():
    """The job form, and scheduling the job it describes.

    The form's fields become the body of :http:post:`/api/v1/jobs`, checked by the same schema
    and service: the same quota, and the same error messages, shown in the form.

    :form schedule_kind: ``every`` (``interval``, ``frequency``), ``cron``, ``at`` or ``rrule``
        (``schedule_text``), or ``json`` (``schedule_json``); with ``timezone`` and ``tolerance``
    :form action_kind: ``url`` (``url``, ``method``) or ``json`` (``action_json``)
    :statuscode 200: the form
    :statuscode 302: scheduled: to the job's page
    :statuscode 403: the plan's quota is reached, the cloud is refused, or the form's token is wrong
    :statuscode 422: a field is invalid: the form again, with the API's message
    """
    if request.method == "GET":
        return form_page(forms.DEFAULTS)
    try:
        job = jobs_api.create(load(schemas.JobCreate, forms.job_body(request.form, creating=True), "body"))
    except (ValidationFailed, Forbidden) as exc:
        return form_page(request.form, error=exc, status=exc.status)
    return done("scheduled", "ui.job", job_id=job["id"])


@bp.route("/jobs/<job_id>/edit", methods=["GET", "POST"])
def edit_job(job_id):
    """Change a job's name, group, schedule, action and overlap, as
    :http:patch:`/api/v1/jobs/(job_id)` does.

    :statuscode 200: the form, filled in with the job
    :statuscode 302: changed: to the job's page
    :statuscode 404: no such job (or another account's)
    :statuscode 422: a field is invalid: the form again, with the API's message
    """
    job = service().get(g.caller, job_id)
    if request.method == "GET":
        return form_page(forms.job_form(job), job)
    try:
        jobs_api.change(job_id, load(schemas.JobPatch, forms.job_body(request.form, creating=False), "body"))
    except (ValidationFailed, Forbidden) as exc:
        return form_page(request.form, job, error=exc, status=exc.status)
    return done("changed", "ui.job", job_id=job_id)


@bp.post("/schedules/preview")
def preview():
    """The next five fire times of the form's schedule, or why it is refused: an HTML
    fragment the form shows as the schedule is typed (:http:post:`/api/v1/schedules/preview`'s
    answer).

    :statuscode 200: the fragment
    :statuscode 403: the session's token is missing or wrong
    """
    schedule = None
    try:
        schedule = forms.schedule_of(request.form)
        found, error = fire_times(schedule, 5), None
    except ValidationFailed as exc:
        found, error = None, exc
    return render_template("preview.html", preview=found, error=error, schedule=schedule)


@bp.get("/jobs/<job_id>")
def job(job_id):
    """A job with the timeline of its runs (when each was due, how late it started, its status)
    and the buttons to pause, resume, run now, edit and delete it.

    :statuscode 200: the page
    :statuscode 404: no such job (or another account's)
    """
    return job_page(job_id)


def job_page(job_id, error=None):
    found = service().get(g.caller, job_id)
    runs, total = service().runs(g.caller, job_id, TIMELINE_RUNS, 0)
    return render_template("job.html", job=found, runs=runs, total=total, timeline=charts.timeline(runs),
                           error=error), error.status if error else 200


@bp.post("/jobs/<job_id>/pause")
def pause_job(job_id):
    """Pause a job.

    :statuscode 302: to the job's page
    :statuscode 404: no such job
    """
    jobs_api.change(job_id, {"paused": True})
    return done("paused", "ui.job", job_id=job_id)


@bp.post("/jobs/<job_id>/resume")
def resume_job(job_id):
    """Resume a job, from now on.

    :statuscode 302: to the job's page
    :statuscode 404: no such job
    :statuscode 422: its schedule never fires again: the job's page says so
    """
    try:
        jobs_api.change(job_id, {"paused": False})
    except ValidationFailed as exc:     # its schedule never fires again: said on the job's page
        return job_page(job_id, exc)
    return done("resumed", "ui.job", job_id=job_id)


@bp.post("/jobs/<job_id>/run")
def run_job(job_id):
    """Run a job now, outside its schedule.

    :statuscode 302: to the new run's page
    :statuscode 404: no such job
    """
    run_id = service().run_now(g.caller, job_id)
    return done("submitted", "ui.run", run_id=run_id)


@bp.route("/jobs/<job_id>/delete", methods=["GET", "POST"])
def delete_job(job_id):
    """Ask first; delete the job on the confirmation's POST (its runs stay in the history).

    :statuscode 200: the confirmation
    :statuscode 302: deleted: to the jobs
    :statuscode 404: no such job
    """
    found = service().get(g.caller, job_id)
    if request.method == "GET":
        return render_template("confirm.html", title=f"Delete job {found['name']}?",
                               message="The job leaves the schedule; its runs stay in the history.",
                               action=url_for("ui.delete_job", job_id=job_id), button="Delete job",
                               back=url_for("ui.job", job_id=job_id))
    service().delete(g.caller, job_id)
    return done("deleted", "ui.jobs")


@bp.get("/runs/<run_id>")
def run(run_id):
    """One run: its events, its result and its error.

    :statuscode 200: the page
    :statuscode 404: no such run (or another account's)
    """
    found = service().run(g.caller, run_id)
    return render_template("run.html", run=found)

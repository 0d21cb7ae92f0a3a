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
    """The caller's jobs (everyone's for the administrator), each with its recent runs."""
    listed = []
    for job in service().list(g.caller):
        runs, _ = service().runs(g.caller, job["id"], RECENT_RUNS, 0)
        listed.append({"job": job, "last": runs[0] if runs else None, "sparkline": charts.sparkline(runs)})
    return render_template("jobs.html", listed=listed)


def form_page(fields, job=None, error=None, status=200):
    return render_template("job_form.html", fields=fields, job=job, error=error, forms=forms), status


@bp.route("/jobs/new", methods=["GET", "POST"])
def new_job():
    """Create a job; the body goes through the API's schema and service, errors shown in the form."""
    if request.method == "GET":
        return form_page(forms.DEFAULTS)
    try:
        job = jobs_api.create(load(schemas.JobCreate, forms.job_body(request.form, creating=True), "body"))
    except (ValidationFailed, Forbidden) as exc:
        return form_page(request.form, error=exc, status=exc.status)
    return done("scheduled", "ui.job", job_id=job["id"])


@bp.route("/jobs/<job_id>/edit", methods=["GET", "POST"])
def edit_job(job_id):
    """Change a job's name, group, schedule, action and overlap, as ``PATCH`` would."""
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
    """The next five fire times of the form's schedule, or why it is refused (a fragment)."""
    try:
        found, error = fire_times(forms.schedule_of(request.form), 5), None
    except ValidationFailed as exc:
        found, error = None, exc
    return render_template("preview.html", preview=found, error=error)


@bp.get("/jobs/<job_id>")
def job(job_id):
    """A job with the timeline of its runs."""
    return job_page(job_id)


def job_page(job_id, error=None):
    found = service().get(g.caller, job_id)
    runs, total = service().runs(g.caller, job_id, TIMELINE_RUNS, 0)
    return render_template("job.html", job=found, runs=runs, total=total, timeline=charts.timeline(runs),
                           error=error), error.status if error else 200


@bp.post("/jobs/<job_id>/pause")
def pause_job(job_id):
    jobs_api.change(job_id, {"paused": True})
    return done("paused", "ui.job", job_id=job_id)


@bp.post("/jobs/<job_id>/resume")
def resume_job(job_id):
    try:
        jobs_api.change(job_id, {"paused": False})
    except ValidationFailed as exc:     # its schedule never fires again: said on the job's page
        return job_page(job_id, exc)
    return done("resumed", "ui.job", job_id=job_id)


@bp.post("/jobs/<job_id>/run")
def run_job(job_id):
    run_id = service().run_now(g.caller, job_id)
    return done("submitted", "ui.run", run_id=run_id)


@bp.route("/jobs/<job_id>/delete", methods=["GET", "POST"])
def delete_job(job_id):
    """Ask first; delete on the confirmation's POST (the runs stay in the history)."""
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
    """One run: its events, result and error."""
    found = service().run(g.caller, run_id)
    return render_template("run.html", run=found)

"""``orch``: the Orchestrator API from the command line.

Exit codes: 0 success; 1 the API answered with an error (its message on stderr); 2 a usage
error (a missing or invalid option); 3 the server could not be reached; 4 ``nodes create
--wait`` gave up (a node failed, or they were not all running in time); 130 interrupted (Ctrl-C).
"""
import json
import re
import sys
import time

import click

from orchestrator_client.client import Client
from orchestrator_client.errors import ConnectionFailed, OrchestratorError

EXIT_API, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_NOT_READY, EXIT_INTERRUPTED = 1, 2, 3, 4, 130
RUN_STATUSES = ("Submitted", "Running", "Completed", "Failed", "Missed")
EVERY_UNITS = {"s": "secondly", "m": "minutely", "h": "hourly", "d": "daily", "w": "weekly"}
#: Node states from which a node will not come to run by waiting.
FAILED_STATES = frozenset({"error", "terminated"})
TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$")

EPILOG = """\b
Exit codes:
  0    success
  1    the API answered with an error (its message on stderr)
  2    usage error
  3    the server cannot be reached
  4    nodes create --wait: a node failed, or not all ran in time
  130  interrupted (Ctrl-C)"""


class NotReady(click.ClickException):
    """``nodes create --wait`` gave up on the nodes."""

    exit_code = EXIT_NOT_READY


class OrchGroup(click.Group):
    """A group that turns API errors into exit codes 1 and 3, and Ctrl-C into 130, with the
    message on stderr."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("orch: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except ConnectionFailed as exc:
            click.echo(f"orch: {exc}", err=True)
            ctx.exit(EXIT_UNREACHABLE)
        except OrchestratorError as exc:
            click.echo(f"orch: {exc}", err=True)
            if exc.details:
                click.echo(f"orch: details: {json.dumps(exc.details, sort_keys=True)}", err=True)
            ctx.exit(EXIT_API)


class Settings:
    """What the top-level options say; the client is opened on first use."""

    def __init__(self, url, key, timeout, as_json):
        self.url, self.key, self.timeout, self.as_json = url, key, timeout, as_json
        self._client = None

    @property
    def client(self):
        if self._client is None:
            if not self.url:
                raise click.UsageError("no server: set ORCHESTRATOR_URL or pass --url")
            if not self.key:
                raise click.UsageError("no API key: set ORCHESTRATOR_API_KEY or pass --key")
            self._client = Client(self.url, self.key, timeout=self.timeout)
            click.get_current_context().call_on_close(self._client.close)
        return self._client


def json_flag(command):
    """``--json`` on a command: the answer as JSON instead of a table (as ``orch --json``)."""
    def set_json(ctx, param, value):
        if value:
            ctx.find_object(Settings).as_json = True
    return click.option("--json", "as_json", is_flag=True, expose_value=False, callback=set_json,
                        help="Print JSON for scripts instead of a table.")(command)


def cell(value):
    """One value as table text on one line; timestamps to the second."""
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value) or "-"
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    text = " ".join(str(value).split())
    stamp = TIMESTAMP.match(text)
    return f"{stamp.group(1)}Z" if stamp else text


def line(values, widths):
    """One table line: each value padded to its column's width (None: the last, unpadded)."""
    return "  ".join(v if w is None else v.ljust(w) for v, w in zip(values, widths)).rstrip()


def table(rows, columns):
    """Rows of dicts as aligned text columns, headed by the column names in capitals."""
    cells = [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    return "\n".join([line([c.upper() for c in columns], widths)] + [line(r, widths) for r in cells])


def show_each(settings, item, text):
    """One result of a command that acts on several things: a JSON line, or ``text``."""
    click.echo(json.dumps(item, sort_keys=True) if settings.as_json else text)


def show(settings, data, columns=None):
    """Print ``data`` (a list of dicts, or one dict) as JSON or as a table."""
    if settings.as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    elif isinstance(data, list):
        click.echo(table(data, columns) if data else "(none)")
    else:
        for key in columns or sorted(data):
            click.echo(f"{key}: {cell(data.get(key))}")


pass_settings = click.make_pass_decorator(Settings)


@click.group(cls=OrchGroup, epilog=EPILOG)
@click.option("--url", envvar="ORCHESTRATOR_URL", help="The service's URL (env ORCHESTRATOR_URL).")
@click.option("--key", envvar="ORCHESTRATOR_API_KEY", help="An API key (env ORCHESTRATOR_API_KEY).")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds one request may take.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of tables.")
@click.version_option(package_name="orchestrator-client")
@click.pass_context
def cli(ctx, url, key, timeout, as_json):
    """Drive an Orchestrator service: clouds, nodes, jobs and their runs."""
    ctx.obj = Settings(url, key, timeout, as_json)


@cli.command(epilog=EPILOG)
@json_flag
@pass_settings
def clouds(settings):
    """List the clouds you may use."""
    show(settings, list(settings.client.clouds()), ["name", "engine", "driver", "default"])


@cli.command(epilog=EPILOG)
@json_flag
@pass_settings
def me(settings):
    """Show your account: plan, jobs scheduled and allowed."""
    show(settings, settings.client.me(), ["id", "name", "plan", "jobs_scheduled", "jobs_allowed"])


# -- nodes ---------------------------------------------------------------------------------------

NODE_COLUMNS = ["id", "name", "state", "public_ips", "private_ips", "size", "image"]
cloud_option = click.option("--cloud", default="default", show_default=True, help="The cloud's name.")


@cli.group(cls=OrchGroup, epilog=EPILOG)
def nodes():
    """List, create, reboot and destroy nodes."""


@nodes.command("list", epilog=EPILOG)
@cloud_option
@json_flag
@pass_settings
def nodes_list(settings, cloud):
    """List the nodes of a cloud."""
    show(settings, list(settings.client.nodes(cloud)), NODE_COLUMNS)


@nodes.command("create", epilog=EPILOG)
@cloud_option
@click.option("--name", default="node-{n}", show_default=True, help="Node name; {n} counts from 1.")
@click.option("--image", required=True, help="Image id (see the cloud's images).")
@click.option("--size", required=True, help="Size id (see the cloud's sizes).")
@click.option("--location", help="Location id.")
@click.option("--count", type=click.IntRange(1, 50), default=1, show_default=True)
@click.option("--wait", is_flag=True, help="Follow the nodes, with a progress bar, until they all run.")
@click.option("--timeout", "wait_timeout", type=float, default=600, show_default=True,
              help="Seconds --wait waits before giving up (exit 4).")
@json_flag
@pass_settings
def nodes_create(settings, cloud, name, image, size, location, count, wait, wait_timeout):
    """Create nodes."""
    client = settings.client
    created = client.create_nodes(name, image, size, cloud=cloud, location=location, count=count)["nodes"]
    if wait:
        created = wait_running(client, cloud, created, wait_timeout, quiet=settings.as_json)
    show(settings, created, NODE_COLUMNS)


def wait_running(client, cloud, created, timeout, quiet=False):
    """The nodes once each is running, polled once a second behind a progress bar on stderr;
    :class:`NotReady` when one fails or time runs out."""
    pending = {node["id"]: node for node in created}
    done = set()
    deadline = time.monotonic() + timeout
    with click.progressbar(length=len(pending), label="Waiting for the nodes to run", file=sys.stderr,
                           hidden=quiet, show_pos=True) as bar:
        while True:
            for node_id, node in pending.items():
                if node_id in done:
                    continue
                if node.get("state") in FAILED_STATES:
                    raise NotReady(f"node {node_id} is {node['state']}, it will not run")
                if node.get("state") == "running":
                    done.add(node_id)
                    bar.update(1)
            if len(done) == len(pending):
                return [pending[node["id"]] for node in created]
            if time.monotonic() > deadline:
                raise NotReady(f"{len(pending) - len(done)} of {len(pending)} nodes not running after {timeout:g} s")
            time.sleep(1.0)
            for node_id in set(pending) - done:
                pending[node_id] = client.node(node_id, cloud=cloud)


@nodes.command("reboot", epilog=EPILOG)
@cloud_option
@click.argument("node_ids", nargs=-1, required=True)
@json_flag
@pass_settings
def nodes_reboot(settings, cloud, node_ids):
    """Reboot nodes; with --json, each node's answer on a line of its own."""
    for node_id in node_ids:
        node = settings.client.reboot_node(node_id, cloud=cloud)
        show_each(settings, node, f"rebooting {node_id} ({node.get('state')})")


@nodes.command("destroy", epilog=EPILOG)
@cloud_option
@click.argument("node_ids", nargs=-1, required=True)
@json_flag
@pass_settings
def nodes_destroy(settings, cloud, node_ids):
    """Destroy nodes."""
    for node_id in node_ids:
        settings.client.destroy_node(node_id, cloud=cloud)
        show_each(settings, {"id": node_id, "destroyed": True}, f"destroyed {node_id}")


# -- jobs ----------------------------------------------------------------------------------------

JOB_COLUMNS = ["id", "name", "group", "paused", "next_run_at"]


def parse_every(value):
    """``30s``, ``5m``, ``2h``, ``1d``, ``1w`` (or plain seconds) as a recurrence schedule."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhdw]?)\s*", value or "")
    if not match or int(match.group(1)) < 1:
        raise click.BadParameter("a positive number with s, m, h, d or w, like 30s or 5m", param_hint="--every")
    return {"frequency": EVERY_UNITS[match.group(2) or "s"], "interval": int(match.group(1))}


def parse_pairs(pairs, hint):
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint=hint)
        result[key] = value
    return result


@cli.group(cls=OrchGroup, epilog=EPILOG)
def jobs():
    """Schedule, list, pause, resume, run and remove jobs."""


@jobs.command("list", epilog=EPILOG)
@click.option("--group", help="Only the jobs of this group.")
@json_flag
@pass_settings
def jobs_list(settings, group):
    """List your jobs."""
    rows = list(settings.client.jobs(group=group))
    show(settings, rows if settings.as_json else [{**job, "action": job["action"]["type"]} for job in rows],
         JOB_COLUMNS + ["action"])


@jobs.command("add", epilog=EPILOG)
@click.option("--name", help="A label.")
@click.option("--group", help="The group the job belongs to.")
@click.option("--cron", help='A cron expression, e.g. "*/5 * * * *".')
@click.option("--at", help='One time: ISO 8601 or a date like "1-jan-2027 9:00".')
@click.option("--every", help="A recurrence: 30s, 5m, 2h, 1d, 1w.")
@click.option("--timezone", help="The schedule's timezone (default UTC).")
@click.option("--url", help="Action: request this URL.")
@click.option("--http-method", default=None, help="The URL action's HTTP method (default GET).")
@click.option("--method", help="Action: call the method registered under this name.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="A parameter of the --method call.")
@click.option("--paused", is_flag=True, help="Create it paused.")
@click.option("--body", help="The whole job as JSON (instead of the options above); - reads it from stdin.")
@json_flag
@pass_settings
def jobs_add(settings, name, group, cron, at, every, timezone, url, http_method, method, params, paused, body):
    """Schedule a job: one of --cron/--at/--every and one of --url/--method, or --body JSON."""
    if body is not None:
        try:
            job = json.loads(sys.stdin.read() if body == "-" else body)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--body") from None
        if not isinstance(job, dict):
            raise click.BadParameter("a JSON object", param_hint="--body")
    else:
        given = [opt for opt, value in (("--cron", cron), ("--at", at), ("--every", every)) if value]
        if len(given) != 1:
            raise click.UsageError("give one of --cron, --at or --every (or --body)")
        if bool(url) == bool(method):
            raise click.UsageError("give one of --url or --method (or --body)")
        schedule = {"cron": cron} if cron else {"at": at} if at else parse_every(every)
        if timezone:
            schedule["timezone"] = timezone
        if url:
            action = {"type": "url", "url": url}
            if http_method:
                action["method"] = http_method.upper()
        else:
            action = {"type": "method", "name": method}
            if params:
                action["parameters"] = parse_pairs(params, "--param")
        job = {"schedule": schedule, "action": action}
    for key, value in (("name", name), ("group", group)):
        if value:
            job[key] = value
    if paused:
        job["paused"] = True
    created = settings.client.create_job(body=job)
    if settings.as_json:
        show(settings, created)
    else:
        click.echo(f"{created['id']}  next run {cell(created.get('next_run_at'))}")


def _each_job(settings, job_ids, change, verb):
    """Apply ``change`` to each job; with --json, each answer on a line of its own."""
    for job_id in job_ids:
        answer = change(job_id)
        show_each(settings, answer if answer is not None else {"id": job_id, verb: True}, f"{verb} {job_id}")


@jobs.command("pause", epilog=EPILOG)
@click.argument("job_ids", nargs=-1, required=True)
@json_flag
@pass_settings
def jobs_pause(settings, job_ids):
    """Pause jobs."""
    _each_job(settings, job_ids, settings.client.pause_job, "paused")


@jobs.command("resume", epilog=EPILOG)
@click.argument("job_ids", nargs=-1, required=True)
@json_flag
@pass_settings
def jobs_resume(settings, job_ids):
    """Resume jobs (from now on: no catch-up)."""
    _each_job(settings, job_ids, settings.client.resume_job, "resumed")


@jobs.command("run", epilog=EPILOG)
@click.argument("job_ids", nargs=-1, required=True)
@json_flag
@pass_settings
def jobs_run(settings, job_ids):
    """Run jobs now; prints each run's id."""
    for job_id in job_ids:
        run_id = settings.client.run_job(job_id)
        show_each(settings, {"job_id": job_id, "run_id": run_id}, run_id)


@jobs.command("rm", epilog=EPILOG)
@click.argument("job_ids", nargs=-1, required=True)
@json_flag
@pass_settings
def jobs_rm(settings, job_ids):
    """Delete jobs; their runs stay in the history."""
    _each_job(settings, job_ids, settings.client.delete_job, "deleted")


# -- runs ----------------------------------------------------------------------------------------

RUN_COLUMNS = ["id", "job_id", "status", "scheduled_for", "finished_at", "error"]
#: ``runs tail`` cannot measure rows it has not seen yet: fixed widths that fit the API's run
#: ids (UUIDs), job ids (32 hex digits), statuses and timestamps (to the second); the error last.
TAIL_WIDTHS = [36, 32, 9, 20, 20, None]


def status_choice(ctx, param, value):
    """``failed`` or ``Failed``: the API's spelling."""
    if value is None:
        return None
    for status in RUN_STATUSES:
        if status.lower() == value.lower():
            return status
    raise click.BadParameter(f"one of {', '.join(s.lower() for s in RUN_STATUSES)}")


run_filters = [click.option("--job", "job_id", help="Only the runs of this job."),
               click.option("--status", callback=status_choice, help="Only runs in this status (e.g. failed).")]


def with_run_filters(command):
    for option in reversed(run_filters):
        command = option(command)
    return command


@cli.group(cls=OrchGroup, invoke_without_command=True, epilog=EPILOG)
@with_run_filters
@click.option("--since", help="Only runs scheduled at or after this time (ISO 8601).")
@click.option("--until", help="Only runs scheduled before this time (ISO 8601).")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Show at most this many.")
@json_flag
@click.pass_context
def runs(ctx, job_id, status, since, until, limit):
    """List runs, newest first; `orch runs tail` follows new ones."""
    if ctx.invoked_subcommand is not None:
        return
    settings = ctx.find_object(Settings)
    found = settings.client.runs(status=status, job_id=job_id, since=since, until=until, page_size=min(limit, 1000))
    show(settings, [run for _, run in zip(range(limit), found)], RUN_COLUMNS)


@runs.command("tail", epilog=EPILOG)
@with_run_filters
@click.option("--interval", type=click.FloatRange(0.1), default=2.0, show_default=True, help="Seconds between polls.")
@click.option("--count", type=click.IntRange(1), help="Stop after printing this many lines.")
@click.option("--until-idle", type=click.FloatRange(0), help="Stop once nothing changed for this many seconds.")
@json_flag
@pass_settings
def runs_tail(settings, job_id, status, interval, count, until_idle):
    """Follow runs: print each new run, and each change of status, once; Ctrl-C stops (exit 0).

    Runs that exist when it starts are not printed, only their later changes. The table's
    columns have fixed widths, so that lines printed later line up with the heading; with
    --json each line is one run as a JSON object."""
    client = settings.client
    newest = lambda: list(zip(range(100), client.runs(status=status, job_id=job_id, page_size=100)))  # noqa: E731
    seen = {run["id"]: run["status"] for _, run in newest()}
    printed, quiet_since = 0, time.monotonic()
    if not settings.as_json:
        click.echo(line([c.upper() for c in RUN_COLUMNS], TAIL_WIDTHS))
    try:
        while count is None or printed < count:
            if until_idle is not None and time.monotonic() - quiet_since >= until_idle:
                break
            time.sleep(interval)
            for _, run in reversed(newest()):
                if seen.get(run["id"]) == run["status"]:
                    continue
                seen[run["id"]] = run["status"]
                quiet_since = time.monotonic()
                click.echo(json.dumps(run, sort_keys=True) if settings.as_json
                           else line([cell(run.get(c)) for c in RUN_COLUMNS], TAIL_WIDTHS))
                printed += 1
                if count is not None and printed >= count:
                    break
    except KeyboardInterrupt:
        pass


def main():
    """The ``orch`` console script."""
    cli(prog_name="orch")


if __name__ == "__main__":
    main()

"""The application factory: ``create_app(settings)`` builds and wires every component."""
import atexit
from datetime import datetime, timezone
import logging
import sys
import time

from flask import Flask, g, request
from sqlalchemy.exc import DBAPIError

from dispatcher import broker, ui
from dispatcher.api import (accounts as accounts_api, auth, clouds, errors, groups, jobs as jobs_api, meta, nodes,
                            notifications, runs, schedules)
from dispatcher.api.hotpages import HotPages
from dispatcher.api.jsonio import OrjsonProvider
from dispatcher.api.limiter import RateLimiter
from dispatcher.config import load_config
from dispatcher.errors import SettingsError
from dispatcher.lib import events, logs, metrics, migrate, notify, ratelimit, store
from dispatcher.lib.accounts import Accounts, check_plans
from dispatcher.lib.actions import RunContext
from dispatcher.lib.actions.network import NetworkPolicy
from dispatcher.lib.datastore import create_datastore
from dispatcher.lib.cloud_init import prepare_cloud_environment
from dispatcher.lib.executor import LocalExecutor
from dispatcher.lib.jobs import Jobs
from dispatcher.lib.ownership import NodeOwners
from dispatcher.lib.scheduler import Scheduler
from dispatcher.lib.secrets import install_log_filter, registry as secrets

log = logging.getLogger("dispatcher")

BLUEPRINTS = (meta.bp, clouds.bp, nodes.bp, jobs_api.bp, runs.bp, groups.bp, schedules.bp, accounts_api.bp,
              notifications.bp)


class Service(Flask):
    """Flask, deciding once per function whether it must be run as a coroutine: Flask asks
    ``inspect`` again for every hook and view of every request, which costs more than most of
    them. The answers kept are bounded, for functions made per request (``after_this_request``)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._callables = {}

    def ensure_sync(self, func):
        found = self._callables.get(func)
        if found is None:
            found = super().ensure_sync(func)
            if len(self._callables) < 1024:
                self._callables[func] = found
        return found


def create_app(settings=None):
    """Build the application from the layered settings (``settings`` overrides the rest)."""
    install_log_filter()
    config = load_config(settings)
    console = logs.configure(config)
    check_plans(config["PLANS"], config["ADMIN_PLAN"])
    NetworkPolicy.from_settings(config)  # a bad URL_*_NETWORKS stops the start, not each run
    publisher = events.from_settings(config)  # a bad EVENTS_URL too, before anything opens
    notifier = notify.from_settings(config)   # and a bad SMTP_URL or DISABLE_AFTER
    sync_seconds = ratelimit.sync_seconds(config)

    try:
        app = Service("dispatcher", instance_path=config.get("INSTANCE_PATH") or None)
    except ValueError as exc:  # a relative path
        raise SettingsError(f"INSTANCE_PATH {config['INSTANCE_PATH']!r}: {exc}") from None
    app.config.update(config)
    app.json = OrjsonProvider(app)

    setting = "DATABASE_URL" if config.get("DATABASE_URL") else "the default store"
    engine = store.make_engine(config.get("DATABASE_URL") or store.default_url(app.instance_path), setting)
    farm = prepare_cloud_environment(config, engine)
    try:
        migrate.upgrade(engine)
    except DBAPIError as exc:
        raise store.cannot_open(engine, exc, setting) from None
    accounts = Accounts(engine, config["PLANS"], config["ADMIN_PLAN"], config["AUTH_CACHE_SECONDS"])
    admin_key = config.get("ORCHESTRATOR_ADMIN_KEY")
    secrets.add(admin_key, config.get("METRICS_TOKEN"))  # kept out of every log line
    generated = accounts.bootstrap_admin(admin_key)
    if generated:
        announce_admin_key(generated, console if config["LOG_FORMAT"] == "json" else None)
    elif admin_key and not accounts.is_admin_key(admin_key):
        log.warning("ORCHESTRATOR_ADMIN_KEY is ignored: it makes the administrator's key only on the first "
                    "start, and this store's administrator does not have it. To replace a lost administrator "
                    "key, run 'orchestrator keys create --admin' on the server, with the service's settings.")

    datastore = create_datastore(engine)
    if publisher is not None:
        # Each process publishes the transitions it records: subscribed before anything runs.
        datastore.subscribe(publisher.enqueue)
        publisher.start()
        # Registered before the scheduler's stop, so it runs after it (atexit is last in, first
        # out) and publishes what the scheduler records as it stops.
        atexit.register(publisher.stop)
    # Counts failed runs, pauses jobs at their limit and notifies, in the process that records
    # the transition; it stops after the scheduler (registered first, so run last), as events do.
    notifier.attach(datastore)
    atexit.register(notifier.stop)
    owners = NodeOwners(engine)
    scheduler = Scheduler(datastore, make_executor(config),
                          run_context_factory(accounts, farm, owners, config), config)
    app.extensions.update({
        "orchestrator.jobs": Jobs(datastore, on_change=scheduler.wake),
        "orchestrator.datastore": datastore,
        "orchestrator.scheduler": scheduler,
        "orchestrator.engine": engine,
        "orchestrator.clouds": farm,
        "orchestrator.accounts": accounts,
        "orchestrator.owners": owners,
        "orchestrator.access": auth.Access(owners),
        "orchestrator.events": publisher,
        "orchestrator.notifier": notifier,
    })

    errors.init_app(app)
    storage_uri = config["RATELIMIT_STORAGE_URI"]
    # Order matters: the request has its id first; the caller is known before the limiter
    # counts, and refused after it.
    app.before_request(begin_request)
    app.after_request(answer_request_id)
    app.teardown_request(end_request)
    app.before_request(auth.resolve_caller)
    limiter = RateLimiter(app, config["RATE_LIMIT"], storage_uri, auth.rate_key,
                          {"datastore": datastore, "sync_seconds": sync_seconds}
                          if storage_uri.startswith(ratelimit.SCHEME) else {}, batch_seconds=sync_seconds)
    app.extensions["orchestrator.limiter"] = limiter
    app.before_request(auth.require_caller)
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    hot_pages = HotPages(accounts, limiter, auth.caller_rate_key)
    app.extensions["orchestrator.hot_pages"] = hot_pages
    app.wsgi_app = hot_pages.wrap(app.wsgi_app)
    broker.init_app(app)  # the Open Service Broker's /v2 routes, 404 unless BROKER_* credentials are set
    ui.init_app(app, datastore, accounts, limiter)  # the web dashboard at /ui/
    limiter.exempt(meta.healthz)
    limiter.exempt(meta.metrics)
    datastore.subscribe(metrics.observe_transitions)
    if config["SCHEDULER_ENABLED"]:
        scheduler.start()
        metrics.start_sampler(scheduler)
        atexit.register(scheduler.stop, wait=False)
    return app


def begin_request():
    """Give the request its id (the client's ``X-Request-Id`` if sensible) for the log lines."""
    here = g._get_current_object()  # the hooks run on every request: each proxy is looked up once
    here.started = time.perf_counter()
    here.request_id = logs.new_request_id(request.headers.get("X-Request-Id"))
    here.log_tokens = [(logs.request_id, logs.request_id.set(here.request_id))]


def answer_request_id(response):
    """Return the request's id, and count the request in the metrics (by route, not path)."""
    here = g._get_current_object()
    request_id = here.get("request_id")
    if request_id is not None:
        response.headers.add("X-Request-Id", request_id)
        rule = request.url_rule
        metrics.observe_request(rule.rule if rule is not None else "unmatched", request.method,
                                response.status_code, time.perf_counter() - here.started)
    return response


def end_request(_exc=None):
    for var, token in reversed(g.pop("log_tokens", [])):
        var.reset(token)


def make_executor(config):
    """The executor ``EXECUTOR`` names: the local thread pool, or Celery workers."""
    kind = config["EXECUTOR"]
    if kind == "local":
        return LocalExecutor(config["SCHEDULER_WORKERS"])
    if kind == "celery":
        try:
            from dispatcher.lib.executor import CeleryExecutor
            return CeleryExecutor(config)
        except ImportError as exc:
            raise SettingsError(f"EXECUTOR 'celery' needs Celery: pip install 'orchestrator[celery]' ({exc})") from None
    raise SettingsError(f"EXECUTOR {kind!r}: expected 'local' or 'celery'")


def run_context_factory(accounts, farm, owners, config):
    """What an action sees of the world when one of its runs executes."""
    admins = {}  # account id -> is administrator; fixed when the account is created

    def make(run):
        account_id = run["account_id"]
        if account_id not in admins:
            admins[account_id] = bool(accounts.account(account_id)["is_admin"])
        return RunContext(run_id=run["id"], job_id=run["job_id"], account_id=account_id,
                          is_admin=admins[account_id],
                          scheduled_for=datetime.fromtimestamp(run["scheduled_for"], timezone.utc),
                          clouds=farm, owners=owners, settings=config,
                          account=lambda: accounts.account(account_id))
    return make


def announce_admin_key(token, json_console=None):
    """Print the generated administrator key once, on the console that started the service: as
    plain lines, or as JSON lines in the format of ``json_console`` (the log handler, when
    ``LOG_FORMAT`` is ``json``)."""
    for message in (f"Orchestrator: the administrator's API key is {token}",
                    "Orchestrator: send it as 'Authorization: Bearer <key>'; it is stored only as a hash "
                    "and will not be shown again."):
        print(logs.unscrubbed(json_console, log.name, message) if json_console else message,
              file=sys.stderr, flush=True)

"""Default settings.

An operator overrides any of these names in a Python file named by the
``ORCHESTRATOR_SETTINGS`` environment variable; the clouds go either in a ``CloudConfig``
class, as here, or in a top-level ``CLOUD_FARM``. ``DATABASE_URL`` and
``ORCHESTRATOR_ADMIN_KEY`` may also come from the environment.
"""
from dispatcher.lib import Provider


class CloudConfig:
    """The clouds this middleware drives.

    Each entry maps a cloud name to ``ENGINE`` (a provider label), the credentials ``USER``
    and ``PASSWORD`` when the driver needs them, and ``EXTRA_PARAMS`` handed to the libcloud
    driver. Optional keys: ``TIMEOUT`` (seconds for one provider call, default
    ``CLOUD_TIMEOUT``) and ``ALLOW`` (plans or account names that may use the cloud; every
    account when absent). ``default`` is the cloud used when a request names none.
    """

    CLOUD_FARM = {
        "default": {
            "ENGINE": Provider.DUMMY,
            "USER": "",
            "PASSWORD": "",
            "EXTRA_PARAMS": {},
        },
    }


# The service's log lines on stderr: "text" or "json" (one object per line: time, level, logger,
# message, request_id, account_id, run_id), from LOG_LEVEL up.
LOG_FORMAT = "text"
LOG_LEVEL = "INFO"

# /metrics answers only scrapes that send "Authorization: Bearer <METRICS_TOKEN>" when set.
METRICS_TOKEN = ""

# SQLAlchemy URL of the store; empty means a SQLite file in the instance folder.
DATABASE_URL = ""

# Seconds one provider call may take before the API answers 504.
CLOUD_TIMEOUT = 30

# Connections kept open to each cloud: one provider call uses one at a time.
CLOUD_CONNECTIONS = 8

# Most items one page of a list holds, and how many it holds when the caller does not say.
PAGE_SIZE_MAX = 1000
PAGE_SIZE_DEFAULT = 100

# Largest request body accepted, in bytes (413 above it).
MAX_CONTENT_LENGTH = 1024 * 1024

# Nodes one create request may ask for, and the longest wait for them to run.
NODES_PER_REQUEST_MAX = 50
NODE_WAIT_TIMEOUT_MAX = 1800

# Plans and their quotas: max_jobs is the most jobs an account may hold (None: no limit).
PLANS = {
    "free": {"max_jobs": 10},
    "standard": {"max_jobs": 1000},
    "unlimited": {"max_jobs": None},
}
# The administrator's plan.
ADMIN_PLAN = "unlimited"

# Seconds a process trusts a key it has checked before asking the store again: a key revoked
# through one worker is refused by the others within this time (by that worker at once).
AUTH_CACHE_SECONDS = 2.0

# Seconds a process reuses a cloud's node list, and its encoded pages, for list requests (0:
# ask the cloud every time). Its own creates, reboots and destroys drop it at once; those of
# other processes show within this time.
NODE_LIST_SECONDS = 1.0

# Seconds a sign-in to the web dashboard (/ui/) lasts; signing out, or revoking the API key it
# was made with, ends it sooner.
UI_SESSION_SECONDS = 8 * 3600

# Requests one API key (or one address, without a key) may make; "" turns limiting off.
RATE_LIMIT = "1200 per minute"
# Where the counts live: orchestrator+sql:// is the store itself, shared by every worker and
# host; a redis:// or memcached:// URL moves them off the store (memory:// counts per process).
RATELIMIT_STORAGE_URI = "orchestrator+sql://"
# Each process sends its counts to the store (or to Redis, memcached) in batches this often (seconds),
# holding at most 1% of a limit unsent per caller; 0 sends every count at once. See
# dispatcher/lib/ratelimit.py for how far a limit may then be passed.
RATELIMIT_SYNC_SECONDS = 0.05

# The scheduler. Every process runs one; the one holding the lease in the store is active.
# Set False on API servers when `orchestrator scheduler` processes do the scheduling.
SCHEDULER_ENABLED = True
# Where runs execute: "local" (a thread pool in the scheduler's process) or "celery" (workers
# started with `orchestrator worker`, fed through CELERY_BROKER_URL).
EXECUTOR = "local"
CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:5672//"
# The queues: url and method runs, and the actions that wait on a cloud (provision, ping,
# reboot, destroy), so that slow cloud calls never hold up the others.
CELERY_QUEUE = "orchestrator.runs"
CELERY_CLOUD_QUEUE = "orchestrator.cloud"
# Runs one worker process executes at once (threads: actions mostly wait on the network).
WORKER_CONCURRENCY = 32
# Seconds between two looks at the store: a job written by any worker fires at most this late.
SCHEDULER_POLL_INTERVAL = 0.05
# Seconds a scheduler's lease lasts without renewal; a dead scheduler is replaced after this.
SCHEDULER_LEASE_SECONDS = 5
# Runs executed at once by the active scheduler (threads: actions mostly wait on the network).
SCHEDULER_WORKERS = 64
# Due jobs claimed per transaction: smaller batches commit (and start running) sooner.
SCHEDULER_BATCH = 500
# Seconds ahead occurrences are claimed, so that only their start is left to do when they fall
# due; a job paused or changed within this window before a run still makes that run.
SCHEDULER_LOOKAHEAD = 0.5
# Missed occurrences recorded one by one for a job after downtime, before skipping ahead.
SCHEDULER_MAX_MISSED_RECORDED = 100
# Days finished runs are kept.
RUN_RETENTION_DAYS = 30

# Networks url jobs may not call (checked after DNS resolution and on every redirect), and,
# when not empty, the only networks they may call. Link-local and cloud metadata by default.
URL_DENY_NETWORKS = ["169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128"]
URL_ALLOW_NETWORKS = []
# Seconds the host name of a url job may take to resolve when the job is created or changed.
URL_VALIDATION_DNS_TIMEOUT = 2.0
# Connections url jobs keep alive and reuse: at most this many open to one host at once (a run
# waits, within its timeout, for one to be free), kept for at most this many hosts.
URL_POOL_CONNECTIONS_PER_HOST = 10
URL_POOL_HOSTS = 100

# Run events: every transition of a run (run.submitted, run.running, run.completed, run.failed,
# run.missed) published as JSON to a durable topic exchange, by the process that records it.
# An amqp:// (or amqps://) URL turns them on, e.g. "amqp://user:password@rabbit.example.com:5672//"
# (its password is never logged); empty: off. Needs kombu (pip install 'orchestrator[events]').
EVENTS_URL = ""
# The topic exchange, declared (durable) when the first event is published.
EVENTS_EXCHANGE = "orchestrator.events"
# Events a process keeps while the broker cannot take them (it is down, restarting, slow). Beyond
# this the oldest are dropped, counted and logged: the newest say where each run is now.
EVENTS_BUFFER = 10_000

# Notifications of jobs (notify: failure, recovery, disabled, missed; by webhook or e-mail) and
# auto-disabling. Failed runs in a row after which a job is paused, when neither the job nor its
# account says otherwise (its "disable_after").
DISABLE_AFTER = 25
# E-mail goes through this server: "smtp://user:password@host:25", "smtp+starttls://…:587" or
# "smtps://…:465" (its password is never logged); empty: no e-mail, and a job asking for it is
# refused. SMTP_FROM is the sender of every message.
SMTP_URL = ""
SMTP_FROM = "Orchestrator <orchestrator@localhost>"
# Attempts of one delivery, and the first wait between two (doubling, at most 60 s).
NOTIFY_ATTEMPTS = 4
NOTIFY_BACKOFF = 2.0
# Seconds one webhook call or one SMTP exchange may take.
NOTIFY_TIMEOUT = 10.0
# Threads of each process that deliver, and the finished runs (and deliveries) a process keeps
# waiting; beyond that the oldest are dropped, counted and logged.
NOTIFY_WORKERS = 4
NOTIFY_BUFFER = 10_000

# The Open Service Broker API (v2.13 to v2.17) under /v2/, for platforms (Cloud Foundry,
# Kubernetes) that offer these plans in their marketplace: each service instance is an account,
# each binding an API key. Off (404) unless both credentials are set; the platform sends them as
# HTTP basic auth on every request. See docs/broker.rst.
BROKER_USERNAME = ""
BROKER_PASSWORD = ""
# The service offering of the catalog. Platforms know instances by these ids: never change them
# once a platform has registered the broker. Plan ids are derived from this id and the plan's name.
BROKER_SERVICE_ID = "7044b22d-6c5e-4a88-9182-10be68abb411"
BROKER_SERVICE_NAME = "orchestrator-jobs"
# The plans of PLANS the catalog offers (None: all of them), and those it marks free (None: the
# plans holding at most 10 jobs).
BROKER_PLANS = None
BROKER_FREE_PLANS = None
# The URL a binding hands to applications, e.g. "https://orchestrator.example.com" (the API is
# under /api/v1 there); empty: the URL the platform called the broker on.
BROKER_API_URL = ""

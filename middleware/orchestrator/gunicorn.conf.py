"""Production serving: ``gunicorn -c gunicorn.conf.py dispatcher:app`` (read from this folder
by default). Each setting may be overridden on the command line or by the environment."""
import multiprocessing
import os
import shutil
import tempfile

bind = os.environ.get("ORCHESTRATOR_BIND", "0.0.0.0:5070")
# Threads serve concurrent slow cloud calls without a process each; workers add CPU.
workers = int(os.environ.get("ORCHESTRATOR_WORKERS", min(4, multiprocessing.cpu_count())))
worker_class = "gthread"
threads = int(os.environ.get("ORCHESTRATOR_THREADS", "8"))
# Node creation with wait=true may take minutes; the API bounds it with its own timeout.
timeout = int(os.environ.get("ORCHESTRATOR_WORKER_TIMEOUT", "1900"))
graceful_timeout = 30
keepalive = 5
# Each worker listens on its own socket (SO_REUSEPORT) and the kernel spreads new connections
# over them; with one shared socket, the worker that wakes first takes most keep-alive
# connections and serves them on one CPU. (So a second server started by the same user on the
# same port shares it instead of failing to bind: give each its own port.)
reuse_port = True
accesslog = os.environ.get("ORCHESTRATOR_ACCESS_LOG", "-")
errorlog = "-"
loglevel = os.environ.get("ORCHESTRATOR_LOG_LEVEL", "info")
# The query string may carry nothing secret, but the Authorization header is never logged.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# gunicorn's lines in the service's LOG_FORMAT: JSON lines, with the request's id, when "json".
logger_class = "dispatcher.lib.gunicorn_logger.Logger"

# Metrics of every worker, added up at /metrics: each process writes its values in one folder
# (prometheus-client's multiprocess mode), made here, before any worker starts, unless the
# operator names one; a worker's files are marked dead when it exits.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="orchestrator-metrics-")
    _made_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _made_metrics_dir = None


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)

"""Runs on Celery workers over the real RabbitMQ: at least once from the broker, at most once
from the store, a worker killed mid-run reaped, cloud actions on their own queue."""
import time

from cluster import BROKER
from service import wait_for

def runs_of(service, job_id):
    status, page = service.call("GET", f"/api/v1/runs?job_id={job_id}&limit=1000")
    assert status == 200, page
    return page["items"]


def logs(service):
    return "\n".join(p.read_text()[-1500:] for p in service.folder.glob("*.log"))


def url_job(target, tag, schedule, **extra):
    return {"name": tag, "schedule": schedule, "action": {"type": "url", "url": f"{target.url}/{tag}"}, **extra}


def test_workers_run_what_the_scheduler_hands_over(cluster, target):
    cluster.worker("-c", "8")
    status, job = cluster.call("POST", "/api/v1/jobs", url_job(target, "tick", {"frequency": "secondly",
                                                                                "tolerance": 30}))
    assert status == 201, job
    assert wait_for(lambda: target.hits.get("/tick", 0) >= 3, 30)
    status, _ = cluster.call("PATCH", f"/api/v1/jobs/{job['id']}", {"paused": True})
    assert wait_for(lambda: all(r["status"] in ("Completed", "Missed") for r in runs_of(cluster, job["id"])), 20)
    runs = runs_of(cluster, job["id"])
    completed = [r for r in runs if r["status"] == "Completed"]
    assert len(completed) == target.hits["/tick"]  # each hit recorded, none twice
    status, run = cluster.call("GET", f"/api/v1/runs/{completed[0]['id']}")
    assert [e["status"] for e in run["events"]] == ["Submitted", "Running", "Completed"]
    status, state = cluster.call("GET", f"/api/v1/last-events/{completed[0]['id']}")
    assert state["state"]["status"] == "Completed" and "completion_date" in state["state"]


def test_a_message_delivered_twice_runs_once(cluster, target, broker):
    from dispatcher.worker import make_celery

    cluster.worker("-c", "8")
    status, job = cluster.call("POST", "/api/v1/jobs", url_job(target, "once", {"cron": "0 0 1 1 *"}))
    status, started = cluster.call("POST", f"/api/v1/jobs/{job['id']}/run")
    assert wait_for(lambda: target.hits.get("/once") == 1, 30, context=lambda: logs(cluster))
    celery = make_celery({"CELERY_BROKER_URL": BROKER, **broker})
    for _ in range(3):  # the broker delivering the same run again
        celery.send_task("orchestrator.run", args=[started["run_id"]], queue=broker["CELERY_QUEUE"])
    time.sleep(2.0)
    celery.close()
    assert target.hits["/once"] == 1
    assert [r["status"] for r in runs_of(cluster, job["id"])] == ["Completed"]


def test_a_worker_killed_mid_run_leaves_it_failed_and_it_never_runs_again(cluster, target):
    first = cluster.worker("-c", "8")
    status, job = cluster.call("POST", "/api/v1/jobs", url_job(target, "slow", {"cron": "0 0 1 1 *"}))
    status, started = cluster.call("POST", f"/api/v1/jobs/{job['id']}/run")
    run_id = started["run_id"]
    status_of = lambda: cluster.call("GET", f"/api/v1/runs/{run_id}")[1]["status"]  # noqa: E731
    wait_for(lambda: status_of() == "Running", 30, context=lambda: logs(cluster))
    assert wait_for(lambda: target.hits.get("/slow") == 1, 10)
    first.kill()
    cluster.worker("-c", "8")  # takes the message the broker delivers again
    # Reaped within two lease periods of the worker's last heartbeat (SCHEDULER_LEASE_SECONDS = 2 here).
    wait_for(lambda: status_of() == "Failed", 20, context=lambda: logs(cluster))
    run = cluster.call("GET", f"/api/v1/runs/{run_id}")[1]
    assert run["error"] == "interrupted"
    time.sleep(2.0)
    assert target.hits["/slow"] == 1


def test_cloud_actions_wait_on_their_own_queue(cluster, target, broker):
    cluster.worker("-Q", broker["CELERY_QUEUE"])      # no worker takes cloud actions yet
    provision = {"name": "boot", "schedule": {"cron": "0 0 1 1 *", "tolerance": 600},
                 "action": {"type": "provision", "image": "1", "size": "1", "name": "queued-{n}", "count": 2}}
    status, job = cluster.call("POST", "/api/v1/jobs", provision)
    assert status == 201, job
    status, cloud_run = cluster.call("POST", f"/api/v1/jobs/{job['id']}/run")
    status, url = cluster.call("POST", "/api/v1/jobs", url_job(target, "quick", {"cron": "0 0 1 1 *"}))
    cluster.call("POST", f"/api/v1/jobs/{url['id']}/run")
    assert wait_for(lambda: target.hits.get("/quick") == 1, 30, context=lambda: logs(cluster))
    assert cluster.call("GET", f"/api/v1/runs/{cloud_run['run_id']}")[1]["status"] == "Submitted"
    cluster.worker("-Q", broker["CELERY_CLOUD_QUEUE"])
    assert wait_for(lambda: cluster.call("GET", f"/api/v1/runs/{cloud_run['run_id']}")[1]["status"] == "Completed",
                    30, context=lambda: logs(cluster))
    result = cluster.call("GET", f"/api/v1/runs/{cloud_run['run_id']}")[1]["result"]
    assert [n["name"] for n in result["created"]] == ["queued-1", "queued-2"]

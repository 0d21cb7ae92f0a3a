"""One contract for every data store backend: SQLite and PostgreSQL run the same tests.

As APScheduler runs one suite over its data stores, each test here gets a fresh, migrated
store from the ``datastore`` fixture, parametrized over the backends by ``store_url``.
"""
from dataclasses import dataclass
import json
import threading
import uuid

import pytest
from sqlalchemy import insert, update

from dispatcher.errors import Conflict, NotFound, QuotaExceeded
from dispatcher.lib import migrate, store
from dispatcher.lib.datastore import RunFilter, create_datastore


@dataclass(frozen=True)
class Scope:
    account_id: str
    is_admin: bool = False


ALICE, BOB, ADMIN = Scope("alice"), Scope("bob"), Scope("root", is_admin=True)


@pytest.fixture
def datastore(store_url, tmp_path):
    engine = store.make_engine(store_url or f"sqlite:///{tmp_path / 'store.sqlite3'}")
    migrate.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(insert(store.accounts), [
            {"id": s.account_id, "name": s.account_id, "plan": "free", "is_admin": s.is_admin, "created_at": 0.0}
            for s in (ALICE, BOB, ADMIN)])
    yield create_datastore(engine)
    engine.dispose()


def job_row(account="alice", next_run_at=100.0, group=None, name="job", paused=False, created_at=1.0):
    return {"id": uuid.uuid4().hex, "account_id": account, "name": name, "group": group,
            "schedule": '{"cron": "* * * * *"}', "action": '{"type": "url"}', "overlap": "skip",
            "paused": paused, "next_run_at": next_run_at, "created_at": created_at, "updated_at": created_at}


def run_row(job, scheduled_for, status="Submitted", now=50.0, **extra):
    return {"id": str(uuid.uuid4()), "job_id": job["id"], "account_id": job["account_id"],
            "scheduled_for": scheduled_for, "deadline": scheduled_for + 10, "action": job["action"],
            "overlap": "skip", "status": status, "submitted_at": now, "started_at": None, "finished_at": None,
            "error": None, "holder": None, **extra}


def no_quota(held):
    return None


def full(held):
    raise QuotaExceeded("the plan is full")


# -- jobs ----------------------------------------------------------------------------------
def test_jobs_are_scoped_to_their_account(datastore):
    mine, theirs = job_row("alice"), job_row("bob")
    datastore.add_job(mine, no_quota)
    datastore.add_job(theirs, no_quota)
    assert [j["id"] for j in datastore.list_jobs(ALICE)] == [mine["id"]]
    assert {j["id"] for j in datastore.list_jobs(ADMIN)} == {mine["id"], theirs["id"]}
    with pytest.raises(NotFound):
        datastore.get_job(ALICE, theirs["id"])
    with pytest.raises(NotFound):
        datastore.delete_job(ALICE, theirs["id"])
    assert datastore.get_job(ADMIN, theirs["id"])["account_id"] == "bob"
    assert datastore.count_jobs("alice") == 1


def test_the_quota_check_sees_the_jobs_held_and_stops_the_insert(datastore):
    seen = []

    def at_most_two(held):
        seen.append(held)
        if held >= 2:
            raise QuotaExceeded("full")
    for _ in range(2):
        datastore.add_job(job_row(), at_most_two)
    with pytest.raises(QuotaExceeded):
        datastore.add_job(job_row(), at_most_two)
    assert seen == [0, 1, 2] and datastore.count_jobs("alice") == 2


def test_concurrent_adds_cannot_both_pass_the_quota(datastore):
    errors, start = [], threading.Barrier(6)

    def one_slot(held):
        if held >= 1:
            raise QuotaExceeded("full")

    def add():
        start.wait()
        try:
            datastore.add_job(job_row(), one_slot)
        except QuotaExceeded as exc:
            errors.append(exc)
    threads = [threading.Thread(target=add) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert datastore.count_jobs("alice") == 1 and len(errors) == 5


def test_update_applies_changes_computed_from_the_current_row(datastore):
    job = datastore.add_job(job_row(name="old"), no_quota)
    changed = datastore.update_job(ALICE, job["id"], lambda row: {"name": row["name"] + "-new", "paused": True})
    assert (changed["name"], changed["paused"]) == ("old-new", True)
    with pytest.raises(NotFound):
        datastore.update_job(BOB, job["id"], lambda row: {"name": "stolen"})


def test_groups_are_replaced_all_or_nothing(datastore):
    for name in ("a1", "a2"):
        datastore.add_job(job_row(group="a", name=name), no_quota)
    datastore.add_job(job_row(group="b", name="b1"), no_quota)
    datastore.add_job(job_row("bob", group="b", name="bobs"), no_quota)
    assert datastore.groups(ALICE) == [("a", 2), ("b", 1)]
    with pytest.raises(Conflict):
        datastore.replace_group("alice", "a", "b", [job_row(group="b", name="new")], False, no_quota)
    assert datastore.groups(ALICE) == [("a", 2), ("b", 1)]
    datastore.replace_group("alice", "a", "b", [job_row(group="b", name="new")], True, no_quota)
    assert datastore.groups(ALICE) == [("b", 1)] and datastore.groups(BOB) == [("b", 1)]
    with pytest.raises(QuotaExceeded):
        datastore.replace_group("alice", "b", "b", [job_row(group="b"), job_row(group="b")], False, full)
    assert [j["name"] for j in datastore.list_jobs(ALICE, group="b")] == ["new"]
    assert datastore.delete_group(ALICE, "b") == 1 and datastore.delete_group(ALICE, "b") == 0


# -- claiming and running ------------------------------------------------------------------
def test_a_claim_runs_each_occurrence_once(datastore):
    job = datastore.add_job(job_row(next_run_at=100.0), no_quota)
    with datastore.transaction() as tx:
        [due] = tx.acquire_due_jobs(100.5, 10)
        first = run_row(due, 100.0)
        assert tx.add_runs([first], 99.6) == {first["id"]}
        tx.move_jobs([{"jid": job["id"], "old": 100.0, "nxt": 160.0, "claimed": 1}])
    with datastore.transaction() as tx:  # a second scheduler claiming the same occurrence
        again = run_row(job, 100.0)
        assert tx.add_runs([again], 99.7) == set()
        tx.move_jobs([{"jid": job["id"], "old": 100.0, "nxt": 999.0, "claimed": 1}])  # stale: not applied
        assert tx.acquire_due_jobs(150.0, 10) == []
        assert tx.next_fire_time() == 160.0
    assert datastore.get_job(ALICE, job["id"])["run_count"] == 1
    run, events = datastore.get_run(ALICE, first["id"])
    assert run["status"] == "Submitted" and [e["status"] for e in events] == ["Submitted"]


def test_due_jobs_come_soonest_first_and_skip_paused_ones(datastore):
    late = datastore.add_job(job_row(next_run_at=105.0), no_quota)
    soon = datastore.add_job(job_row(next_run_at=101.0), no_quota)
    datastore.add_job(job_row(next_run_at=100.0, paused=True), no_quota)
    datastore.add_job(job_row(next_run_at=300.0), no_quota)
    with datastore.transaction() as tx:
        assert [j["id"] for j in tx.acquire_due_jobs(110.0, 10)] == [soon["id"], late["id"]]
        assert [j["id"] for j in tx.acquire_due_jobs(110.0, 1)] == [soon["id"]]


def test_a_job_without_occurrences_left_is_dropped(datastore):
    job = datastore.add_job(job_row(next_run_at=100.0), no_quota)
    with datastore.transaction() as tx:
        tx.add_runs([run_row(job, 100.0)], 100.0)
        tx.drop_jobs([{"jid": job["id"], "old": 100.0}])
    assert datastore.list_jobs(ALICE) == []
    assert datastore.runs_of_job(ALICE, job["id"], 10, 0)[1] == 1  # its runs outlive it


def test_a_submitted_run_moves_on_only_once(datastore):
    job = datastore.add_job(job_row(), no_quota)
    with datastore.transaction() as tx:
        runs = [run_row(job, 100.0 + i) for i in range(3)]
        tx.add_runs(runs, 99.0)
    with datastore.transaction() as tx:
        assert [r["id"] for r in tx.submitted_runs(101.5, 10)] == [runs[0]["id"], runs[1]["id"]]
        moved = tx.transition_runs([(runs[0], "Running", None), (runs[1], "Missed", "late")], 101.5, holder="s1")
        assert moved == {runs[0]["id"], runs[1]["id"]}
    with datastore.transaction() as tx:
        assert tx.transition_runs([(runs[0], "Running", None)], 101.6, holder="s2") == set()
        assert [r["id"] for r in tx.submitted_runs(200.0, 10)] == [runs[2]["id"]]
    assert datastore.start_run(runs[2]["id"], 102.0, holder="w1")["holder"] == "w1"
    assert datastore.start_run(runs[2]["id"], 102.1, holder="w2") is None  # a redelivered task
    run, events = datastore.get_run(ALICE, runs[0]["id"])
    assert (run["status"], run["holder"]) == ("Running", "s1")
    assert [e["status"] for e in events] == ["Submitted", "Running"]


def test_finished_runs_keep_their_result_and_error(datastore):
    job = datastore.add_job(job_row(), no_quota)
    with datastore.transaction() as tx:
        ok, bad = run_row(job, 100.0), run_row(job, 101.0)
        tx.add_runs([ok, bad], 99.0)
        tx.transition_runs([(ok, "Running", None), (bad, "Running", None)], 101.0)
        tx.finish_runs([(ok, "Completed", 102.0, {"status": 200}, None), (bad, "Failed", 103.0, None, "boom")])
    run, events = datastore.get_run(ALICE, ok["id"])
    assert (run["status"], run["result"], run["finished_at"]) == ("Completed", '{"status": 200}', 102.0)
    run, events = datastore.get_run(ALICE, bad["id"])
    assert (run["status"], run["error"]) == ("Failed", "boom")
    assert [(e["status"], e["message"]) for e in events][-1] == ("Failed", "boom")


def test_runs_are_listed_across_jobs_newest_first_with_filters(datastore):
    first, second = datastore.add_job(job_row(), no_quota), datastore.add_job(job_row(), no_quota)
    bobs = datastore.add_job(job_row("bob"), no_quota)
    with datastore.transaction() as tx:
        rows = [run_row(first, 100.0, now=100.0), run_row(second, 200.0, now=200.0),
                run_row(first, 300.0, now=300.0, status="Missed"), run_row(bobs, 150.0, now=150.0)]
        tx.add_runs(rows, 1.0)
    ids = lambda page: [r["id"] for r in page[0]]  # noqa: E731
    assert ids(datastore.list_runs(ALICE, RunFilter(), 10, 0)) == [rows[2]["id"], rows[1]["id"], rows[0]["id"]]
    assert datastore.list_runs(ADMIN, RunFilter(), 10, 0)[1] == 4
    assert ids(datastore.list_runs(ALICE, RunFilter(status="Missed"), 10, 0)) == [rows[2]["id"]]
    assert ids(datastore.list_runs(ALICE, RunFilter(job_id=first["id"]), 10, 0)) == [rows[2]["id"], rows[0]["id"]]
    assert ids(datastore.list_runs(ALICE, RunFilter(since=150.0, until=300.0), 10, 0)) == [rows[1]["id"]]
    assert ids(datastore.list_runs(ALICE, RunFilter(), 1, 1)) == [rows[1]["id"]]
    assert datastore.list_runs(BOB, RunFilter(job_id=first["id"]), 10, 0) == ([], 0)
    with pytest.raises(NotFound):
        datastore.runs_of_job(BOB, first["id"], 10, 0)
    with pytest.raises(NotFound):
        datastore.get_run(BOB, rows[0]["id"])


def test_run_totals_add_up_the_runs_a_filter_selects(datastore):
    job, bobs = datastore.add_job(job_row(), no_quota), datastore.add_job(job_row("bob"), no_quota)
    assert datastore.run_totals(ALICE, RunFilter()) == {"runs": 0, "by_status": {}, "first_started": None,
                                                        "last_started": None, "last_finished": None}
    with datastore.transaction() as tx:
        done, failed, late, waiting = (run_row(job, 100.0), run_row(job, 101.0), run_row(job, 102.0),
                                       run_row(job, 103.0))
        theirs = run_row(bobs, 100.0)
        tx.add_runs([done, failed, late, waiting, theirs], 99.0)
        tx.transition_runs([(done, "Running", None), (failed, "Running", None), (theirs, "Running", None)], 101.5)
        tx.transition_runs([(late, "Missed", "late")], 102.5)
        tx.finish_runs([(done, "Completed", 103.0, None, None), (failed, "Failed", 104.0, None, "boom"),
                        (theirs, "Completed", 109.0, None, None)])
    assert datastore.run_totals(ALICE, RunFilter()) == {
        "runs": 4, "by_status": {"Completed": 1, "Failed": 1, "Missed": 1, "Submitted": 1},
        "first_started": 101.5, "last_started": 101.5, "last_finished": 104.0}
    assert datastore.run_totals(ADMIN, RunFilter())["last_finished"] == 109.0
    assert datastore.run_totals(ALICE, RunFilter(status="Failed"))["runs"] == 1
    assert datastore.run_totals(ALICE, RunFilter(since=102.0))["by_status"] == {"Missed": 1, "Submitted": 1}
    assert datastore.run_totals(BOB, RunFilter(job_id=job["id"]))["runs"] == 0


def test_submit_run_makes_a_submitted_run_from_the_job(datastore):
    job = datastore.add_job(job_row(), no_quota)
    run = datastore.submit_run(ALICE, job["id"], lambda row: run_row(row, 50.0), "asked for")
    stored, events = datastore.get_run(ALICE, run["id"])
    assert stored["status"] == "Submitted" and events[0]["message"] == "asked for"
    with pytest.raises(NotFound):
        datastore.submit_run(BOB, job["id"], lambda row: run_row(row, 50.0), "asked for")


def test_purge_forgets_old_finished_runs_and_their_events(datastore):
    job = datastore.add_job(job_row(), no_quota)
    with datastore.transaction() as tx:
        old, recent = run_row(job, 10.0), run_row(job, 20.0)
        tx.add_runs([old, recent], 5.0)
        tx.finish_runs([(old, "Completed", 11.0, None, None), (recent, "Completed", 21.0, None, None)])
        tx.purge_runs(before=15.0)
    assert datastore.runs_of_job(ALICE, job["id"], 10, 0)[1] == 1
    with pytest.raises(NotFound):
        datastore.get_run(ALICE, old["id"])


def test_a_run_claimed_ahead_is_running_and_says_so_once_it_has_started(datastore):
    heard = []
    datastore.subscribe(heard.extend)
    job = datastore.add_job(job_row(), no_quota)
    ahead = run_row(job, 100.0, status="Running", started_at=100.0, holder="s1")
    with datastore.transaction() as tx:
        assert tx.add_runs([ahead], 99.6) == {ahead["id"]}
    assert [e["status"] for e in heard] == ["Submitted"]          # not Running before it starts
    with datastore.transaction() as tx:
        assert tx.submitted_runs(101.0, 10) == []                   # the holder starts it, nobody else
        assert tx.busy_jobs([job["id"]]) == {job["id"]}
        tx.record_starts([(ahead, 100.004)])
        tx.finish_runs([(ahead, "Completed", 100.01, None, None)])
    run, events = datastore.get_run(ALICE, ahead["id"])
    assert (run["status"], run["started_at"], run["holder"]) == ("Completed", 100.004, "s1")
    assert [(e["status"], e["at"]) for e in events] == [("Submitted", 99.6), ("Running", 100.004),
                                                        ("Completed", 100.01)]
    assert [e["status"] for e in heard] == ["Submitted", "Running", "Completed"]


def test_runs_claimed_ahead_are_given_back_by_their_holder_only(datastore):
    job = datastore.add_job(job_row(), no_quota)
    mine, theirs = (run_row(job, 100.0, status="Running", started_at=100.0, holder="s1"),
                    run_row(job, 101.0, status="Running", started_at=101.0, holder="s2"))
    with datastore.transaction() as tx:
        tx.add_runs([mine, theirs], 99.6)
    assert datastore.release_runs("s1", [mine["id"], theirs["id"]]) == [mine["id"]]
    assert datastore.release_runs("s1", [mine["id"]]) == []
    run = datastore.get_run_row(mine["id"])
    assert (run["status"], run["started_at"], run["holder"]) == ("Submitted", None, None)
    assert datastore.get_run_row(theirs["id"])["status"] == "Running"
    with datastore.transaction() as tx:
        assert [r["id"] for r in tx.submitted_runs(100.0, 10)] == [mine["id"]]


def test_a_silent_holders_runs_claimed_ahead_go_back_to_submitted_not_failed(datastore):
    job = datastore.add_job(job_row(), no_quota)
    passed, ahead = (run_row(job, 100.0, status="Running", started_at=100.0, holder="gone"),
                     run_row(job, 102.0, status="Running", started_at=102.0, holder="gone"))
    with datastore.transaction() as tx:
        tx.add_runs([passed, ahead], 99.6)
    datastore.heartbeat("gone", 90.0)
    # Its planned start passed: it may have begun, so it is not run again; the other never began.
    assert datastore.reap_abandoned(101.0, grace=5.0) == [passed["id"]]
    assert datastore.get_run_row(passed["id"])["error"] == "interrupted"
    run = datastore.get_run_row(ahead["id"])
    assert (run["status"], run["started_at"], run["holder"]) == ("Submitted", None, None)
    with datastore.transaction() as tx:
        assert [r["id"] for r in tx.submitted_runs(102.0, 10)] == [ahead["id"]]


# -- reaping -------------------------------------------------------------------------------
def test_runs_of_a_silent_holder_are_reaped_and_a_live_ones_kept(datastore):
    job = datastore.add_job(job_row(), no_quota)
    with datastore.transaction() as tx:
        runs = [run_row(job, 100.0 + i) for i in range(3)]
        tx.add_runs(runs, 99.0)
    datastore.heartbeat("alive", 1000.0)
    datastore.heartbeat("silent", 900.0)
    datastore.start_run(runs[0]["id"], 950.0, holder="alive")
    datastore.start_run(runs[1]["id"], 950.0, holder="silent")
    assert datastore.reap_abandoned(1005.0, grace=30.0) == [runs[1]["id"]]
    run, events = datastore.get_run(ALICE, runs[1]["id"])
    assert (run["status"], run["error"]) == ("Failed", "interrupted")
    assert events[-1]["message"].startswith("interrupted")
    assert datastore.get_run(ALICE, runs[0]["id"])[0]["status"] == "Running"
    assert datastore.reap_abandoned(1005.0, grace=0.0, keep="alive") == []  # never the caller's own
    assert datastore.reap_abandoned(1005.0, grace=30.0, holders=["alive"]) == [runs[0]["id"]]
    assert datastore.get_run(ALICE, runs[2]["id"])[0]["status"] == "Submitted"  # never started: not reaped


# -- failures in a row and notifications --------------------------------------------------
def limit_of(job):
    """The contract's own rule: the account's default, else 3."""
    return json.loads(job["defaults"] or "{}").get("disable_after", 3)


def reason_of(limit):
    return f"disabled after {limit} failed runs in a row"


def test_failures_add_up_and_pause_the_job_once_at_its_limit(datastore):
    job = datastore.add_job(job_row(), no_quota)
    gone = uuid.uuid4().hex
    assert datastore.count_failures({job["id"]: 2, gone: 1}, limit_of, reason_of, 60.0) == {job["id"]: (2, False)}
    assert datastore.count_failures({job["id"]: 1}, limit_of, reason_of, 61.0) == {job["id"]: (3, True)}
    row = datastore.get_job(ALICE, job["id"])
    assert (row["paused"], row["paused_reason"], row["failures"]) == (True, "disabled after 3 failed runs in a row", 3)
    # Paused already: counted, not paused again.
    assert datastore.count_failures({job["id"]: 1}, limit_of, reason_of, 62.0) == {job["id"]: (4, False)}


def test_the_limit_sees_the_accounts_defaults(datastore):
    with datastore.engine.begin() as conn:
        conn.execute(update(store.accounts).where(store.accounts.c.id == "bob")
                     .values(defaults=json.dumps({"disable_after": 1})))
    job = datastore.add_job(job_row("bob"), no_quota)
    assert datastore.count_failures({job["id"]: 1}, limit_of, reason_of, 60.0) == {job["id"]: (1, True)}
    assert json.loads(datastore.notice_jobs([job["id"]])[job["id"]]["defaults"]) == {"disable_after": 1}


def test_concurrent_failures_are_all_counted(datastore):
    job = datastore.add_job(job_row(), no_quota)
    start = threading.Barrier(6)
    paused = []

    def fail():
        start.wait()
        paused.append(datastore.count_failures({job["id"]: 1}, lambda job: 6, reason_of, 60.0)[job["id"]][1])
    threads = [threading.Thread(target=fail) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert datastore.get_job(ALICE, job["id"])["failures"] == 6 and paused.count(True) == 1


def test_a_reset_answers_the_jobs_that_were_failing_to_one_caller(datastore):
    failing, healthy = datastore.add_job(job_row(), no_quota), datastore.add_job(job_row(), no_quota)
    datastore.count_failures({failing["id"]: 2}, limit_of, reason_of, 60.0)
    assert datastore.reset_failures([failing["id"], healthy["id"], uuid.uuid4().hex]) == {failing["id"]}
    assert datastore.reset_failures([failing["id"]]) == set()
    assert datastore.get_job(ALICE, failing["id"])["failures"] == 0


def notification_row(job, created_at, **extra):
    return {"id": uuid.uuid4().hex, "job_id": job["id"], "account_id": job["account_id"], "run_id": None,
            "event": "failure", "channel": "webhook", "target": "https://hooks.example/x", "status": "delivered",
            "attempts": 1, "last_error": None, "created_at": created_at, "delivered_at": created_at, **extra}


def test_notifications_are_listed_newest_first_to_their_owner_and_purged(datastore):
    job = datastore.add_job(job_row(), no_quota)
    for at in (10.0, 30.0, 20.0):
        datastore.add_notification(notification_row(job, at))
    rows, total = datastore.notifications_of_job(ALICE, job["id"], 2, 0)
    assert total == 3 and [r["created_at"] for r in rows] == [30.0, 20.0]
    assert datastore.notifications_of_job(ADMIN, job["id"], 10, 2)[0][0]["created_at"] == 10.0
    with pytest.raises(NotFound):
        datastore.notifications_of_job(BOB, job["id"], 10, 0)
    datastore.delete_job(ALICE, job["id"])     # the history outlives the job
    assert datastore.notifications_of_job(ALICE, job["id"], 10, 0)[1] == 3
    assert datastore.purge_notifications(25.0) == 2
    assert datastore.notifications_of_job(ALICE, job["id"], 10, 0)[1] == 1
    with pytest.raises(NotFound):
        datastore.notifications_of_job(ALICE, uuid.uuid4().hex, 10, 0)


# -- leases --------------------------------------------------------------------------------
def test_a_lease_has_one_holder_until_it_lapses(datastore):
    assert datastore.acquire_lease("scheduler", "a", 5.0, 100.0)
    assert not datastore.acquire_lease("scheduler", "b", 5.0, 101.0)
    assert datastore.acquire_lease("scheduler", "a", 5.0, 102.0)        # extended
    assert not datastore.acquire_lease("scheduler", "b", 5.0, 106.0)    # still a's until 107
    assert datastore.lease_holder("scheduler", 106.0) == "a"
    assert datastore.acquire_lease("scheduler", "b", 5.0, 107.5)        # lapsed: b takes it
    assert datastore.lease_holder("scheduler", 108.0) == "b"
    datastore.release_lease("scheduler", "a")                            # not a's: no effect
    assert datastore.lease_holder("scheduler", 108.0) == "b"
    datastore.release_lease("scheduler", "b")
    assert datastore.lease_holder("scheduler", 108.0) is None


def test_concurrent_claims_of_a_free_lease_give_it_to_one(datastore):
    results, start = [], threading.Barrier(8)

    def claim(holder):
        start.wait()
        results.append((holder, datastore.acquire_lease("race", holder, 5.0, 100.0)))
    threads = [threading.Thread(target=claim, args=(f"h{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    winners = [h for h, won in results if won]
    assert len(winners) == 1 and datastore.lease_holder("race", 101.0) == winners[0]


# -- rate-limit counts ---------------------------------------------------------------------
def test_limit_counts_add_up_within_a_window_and_restart_after_it(datastore):
    assert datastore.incr_limits({"k": (1, 60), "j": (5, 10)}, 100.0) == {"k": (1, 160.0), "j": (5, 110.0)}
    assert datastore.incr_limits({"k": (3, 60)}, 110.0) == {"k": (4, 160.0)}
    assert datastore.get_limit("k", 120.0) == 4 and datastore.limit_expiry("k", 120.0) == 160.0
    assert datastore.get_limit("j", 120.0) == 0                      # lapsed at 110
    assert datastore.incr_limits({"j": (2, 10)}, 120.0) == {"j": (2, 130.0)}  # a new window
    assert datastore.clear_limits("k") == 1 and datastore.get_limit("k", 120.0) == 0
    assert datastore.clear_limits() == 1
    datastore.ping()


def test_transitions_are_announced_in_order_once_committed(datastore):
    heard = []
    datastore.subscribe(heard.extend)
    job = datastore.add_job(job_row(), no_quota)
    run = run_row(job, 100.0)
    with datastore.transaction() as tx:
        tx.add_runs([run], 99.0)
        assert heard == []  # not before the commit
    assert datastore.start_run(run["id"], 100.1, holder="w")["status"] == "Running"
    with datastore.transaction() as tx:
        tx.finish_runs([(run, "Failed", 100.5, None, "boom")])
    try:
        with datastore.transaction() as tx:
            tx.add_runs([run_row(job, 200.0)], 150.0)
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
    assert [(e["status"], e["at"], e["message"]) for e in heard] == [
        ("Submitted", 99.0, None), ("Running", 100.1, None), ("Failed", 100.5, "boom")]
    assert {(e["run_id"], e["job_id"], e["account_id"], e["scheduled_for"]) for e in heard} == {
        (run["id"], job["id"], "alice", 100.0)}


def test_a_transition_recorded_by_another_thread_is_heard_after_the_commit_it_follows(datastore):
    # The API's thread commits a Submitted run; the scheduler's thread sees it at once and
    # starts it. Its Running must not reach the listeners before the Submitted it follows.
    heard, submitted_heard = [], threading.Event()
    started = threading.Thread(target=lambda: datastore.start_run(run["id"], 100.1, holder="w"))

    def listener(events):
        if events[0]["status"] == "Submitted" and not submitted_heard.is_set():
            started.start()             # the run is committed: the other thread can start it
            started.join(0.5)           # and would be heard first, were commit and announce apart
            submitted_heard.set()
        heard.extend(e["status"] for e in events)

    datastore.subscribe(listener)
    job = datastore.add_job(job_row(), no_quota)
    run = run_row(job, 100.0)
    with datastore.transaction() as tx:
        tx.add_runs([run], 99.0)
    started.join(10)
    assert not started.is_alive()
    assert heard == ["Submitted", "Running"]
    assert datastore.get_run_row(run["id"])["status"] == "Running"


def test_runs_handed_to_a_queue_are_busy_started_once_or_expire(datastore):
    job, other = datastore.add_job(job_row(), no_quota), datastore.add_job(job_row(), no_quota)
    with datastore.transaction() as tx:
        runs = [run_row(job, 100.0), run_row(job, 101.0), run_row(other, 100.0)]
        tx.add_runs(runs, 99.0)
    with datastore.transaction() as tx:
        assert tx.busy_jobs([job["id"], other["id"]]) == set()
        assert tx.queue_runs(runs[:2], "queued:t1") == {runs[0]["id"], runs[1]["id"]}
        assert tx.queue_runs(runs[:1], "queued:t2") == set()           # handed over once
        assert tx.busy_jobs([job["id"], other["id"]]) == {job["id"]}
        assert [r["id"] for r in tx.submitted_runs(200.0, 10)] == [runs[2]["id"]]  # the queued are the workers'
    assert datastore.start_run(runs[0]["id"], 100.2, holder="w1")["status"] == "Running"
    assert datastore.expire_queued(105.0) == []                          # deadline 111 not passed
    assert datastore.expire_queued(112.0) == [runs[1]["id"]]             # deadline 111: no worker took it
    assert datastore.start_run(runs[1]["id"], 112.1, holder="w2") is None
    late = run_row(other, 200.0)
    with datastore.transaction() as tx:
        tx.add_runs([late], 199.0)
    assert datastore.start_run(late["id"], 211.0, holder="w3", in_time=True) is None    # deadline 210
    assert datastore.get_run_row(late["id"])["status"] == "Submitted"
    assert datastore.start_run(late["id"], 209.0, holder="w3", in_time=True)["holder"] == "w3"
    run, events = datastore.get_run(ALICE, runs[1]["id"])
    assert (run["status"], run["error"]) == ("Missed", "missed: no worker started it within the tolerance")
    assert datastore.get_run_row(runs[0]["id"])["holder"] == "w1" and datastore.get_run_row("nope") is None


# -- dashboard sessions --------------------------------------------------------------------
def add_key(datastore, key_id, account="alice"):
    with datastore.engine.begin() as conn:
        conn.execute(insert(store.api_keys).values(id=key_id, account_id=account, digest="d" * 64, created_at=0.0))


def session_row(digest, key_id, expires_at=200.0):
    return {"digest": digest, "key_id": key_id, "csrf": "c" * 43, "created_at": 100.0, "expires_at": expires_at}


def test_a_session_signs_in_its_key_account_until_it_expires_or_ends(datastore):
    add_key(datastore, "k1")
    datastore.add_session(session_row("s1", "k1"))
    found = datastore.session("s1", 150.0)
    assert (found["account_id"], found["name"], found["plan"], bool(found["is_admin"])) == ("alice", "alice", "free",
                                                                                           False)
    assert found["key_id"] == "k1" and found["csrf"] == "c" * 43
    assert datastore.session("s1", 200.0) is None          # expired
    assert datastore.session("other", 150.0) is None
    datastore.delete_session("s1")
    assert datastore.session("s1", 150.0) is None
    datastore.delete_session("s1")                          # again: harmless


def test_a_revoked_or_deleted_key_ends_its_sessions(datastore):
    add_key(datastore, "k1")
    add_key(datastore, "k2", "bob")
    datastore.add_session(session_row("s1", "k1"))
    datastore.add_session(session_row("s2", "k2"))
    datastore.add_session(session_row("s3", "k2", expires_at=120.0))
    with datastore.engine.begin() as conn:
        conn.execute(update(store.api_keys).where(store.api_keys.c.id == "k1").values(revoked_at=110.0))
    assert datastore.session("s1", 150.0) is None and datastore.session("s2", 150.0)["account_id"] == "bob"
    assert datastore.purge_sessions(150.0) == 2             # s1 (revoked key) and s3 (expired)
    with datastore.engine.begin() as conn:
        conn.execute(store.api_keys.delete().where(store.api_keys.c.id == "k2"))
    assert datastore.session("s2", 150.0) is None and datastore.purge_sessions(150.0) == 0

"""Background jobs: submitted as rows, run in the background, progress and results kept."""
from __future__ import annotations

import pytest

from engine.errors import FormflowError
from workflows import jobs


@pytest.fixture(scope="module", autouse=True)
def handlers():
    def count(ff, job):
        for i in range(job.params["n"]):
            job.progress(i + 1, job.params["n"])
        return {"counted": job.params["n"]}

    def broken(ff, job):
        raise FormflowError("cannot do that", [{"location": "x", "message": "bad", "code": "bad"}])
    jobs.job_handlers.add("test.count", count)
    jobs.job_handlers.add("test.broken", broken)
    yield
    jobs.job_handlers._items.pop("test.count")
    jobs.job_handlers._items.pop("test.broken")


def test_a_job_runs_in_the_background_and_reports_progress(ff):
    job_id = jobs.submit(ff, "test.count", {"n": 3}, actor="u1")
    done = jobs.wait(ff, job_id)
    assert done["status"] == "done" and done["progress"] == 3 and done["total"] == 3
    assert done["result"] == {"counted": 3} and done["created_by"] == "u1"


def test_a_failing_job_keeps_its_located_errors(ff):
    done = jobs.wait(ff, jobs.submit(ff, "test.broken", {}))
    assert done["status"] == "failed"
    assert done["error"]["errors"][0]["location"] == "x"


def test_unknown_job_kinds_are_refused(ff):
    with pytest.raises(FormflowError):
        jobs.submit(ff, "test.nope", {})


def test_queued_jobs_resume_after_a_restart(ff):
    job_id = jobs.submit(ff, "test.count", {"n": 1}, run=False)
    assert jobs.state(ff, job_id)["status"] == "queued"
    assert jobs.resume_pending(ff) == 1
    assert jobs.wait(ff, job_id)["status"] == "done"

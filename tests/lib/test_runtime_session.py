"""Ray's session: who starts Ray stops it, a failed start is retried, then one clear line.

One embedded Ray is started in the whole file (it takes seconds on a small machine).
"""

import subprocess
import sys

import pytest

ray = pytest.importorskip("ray")

from gradkit import runtime
from gradkit.runtime import session
from gradkit.runtime.session import RaySession, RayStartError, ray_session

pytestmark = pytest.mark.slow   # starts and stops Ray: left to make test-all


@pytest.fixture(autouse=True)
def no_ray_before_or_after():
    if ray.is_initialized():
        pytest.skip("another test left Ray running in this process")
    yield
    assert not ray.is_initialized(), "a session left Ray running"


def test_a_failed_start_is_retried_and_the_starter_alone_stops_ray(monkeypatch):
    real_init, calls, shutdowns, left_behind = ray.init, [], [], []
    real_shutdown = ray.shutdown

    def flaky_init(**options):
        # The first start fails half-way, as on an overloaded machine: it has started a
        # process (as Ray starts its GCS) that nothing else will stop.
        calls.append(options)
        if len(calls) == 1:
            left_behind.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]))
            raise RuntimeError("The current node timed out during startup.")
        return real_init(**options)

    def counted_shutdown():
        shutdowns.append(True)
        real_shutdown()

    monkeypatch.setattr(ray, "init", flaky_init)
    monkeypatch.setattr(ray, "shutdown", counted_shutdown)
    monkeypatch.setattr(session, "_RETRY_PAUSE_S", 0.0)
    # Several attempts: on a busy machine real starts fail too (the fixed waits inside Ray).
    with ray_session(num_cpus=1, attempts=4, what="test") as outer:
        assert isinstance(outer, RaySession) and outer.started
        assert left_behind[0].poll() is not None, "the failed start's process is still running"
        # Each failed attempt (ours, and any real one on a busy machine) was shut down.
        started_after = len(calls)
        assert started_after >= 2 and len(shutdowns) == started_after - 1
        options = calls[-1]
        assert options["address"] == "local" and options["include_dashboard"] is False
        assert options["num_cpus"] == 1
        assert outer.resources()["CPU"] == 1.0
        assert outer.address == ray.get_runtime_context().gcs_address
        with ray_session(what="inner") as inner:  # Ray is up: join it, never stop it
            assert not inner.started and inner.address == outer.address
        assert ray.is_initialized()
        runtime.ensure_ray()  # joins too, and so shutdown_ray leaves it alone
        runtime.shutdown_ray()
        assert ray.is_initialized() and len(calls) == started_after
    assert not ray.is_initialized()


def test_the_last_failure_is_one_line_that_says_what_to_try():
    with pytest.raises(RayStartError) as caught:
        # Nothing listens on port 1, so each attempt fails at once.
        with ray_session("127.0.0.1:1", attempts=2, what="gradkit grade"):
            pass  # pragma: no cover - never entered
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("gradkit grade: could not join the Ray at '127.0.0.1:1' in 2 attempt(s)")
    assert "leave --address out" in message


def test_bad_attempts_are_refused():
    with pytest.raises(ValueError, match="attempts must be an integer >= 1, got 0"):
        with ray_session(attempts=0, what="test"):
            pass  # pragma: no cover


FSIZE_CHILD = """
import resource, sys
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 2**20, 64 * 2**20))
from gradkit.runtime.session import RayStartError, ray_session
import ray
for store in (80 * 2**20, None):
    try:
        with ray_session(num_cpus=1, object_store_memory=store, attempts=1):
            print("STARTED")
    except RayStartError as error:
        print("REFUSED", ray.is_initialized(), error)
"""


def test_an_object_store_larger_than_the_file_size_limit_is_refused_before_starting():
    """Ray's object store is one file in /dev/shm: under RLIMIT_FSIZE (as in a grading
    kernel) the raylet would die creating it; the start is refused with the reason."""
    done = subprocess.run([sys.executable, "-c", FSIZE_CHILD], capture_output=True, text=True, timeout=120)
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("REFUSED False") for line in lines), done.stdout + done.stderr
    assert "80 MiB" in lines[0] and "64 MiB" in lines[0] and "RLIMIT_FSIZE" in lines[0]
    assert "object_store_memory" in lines[1]

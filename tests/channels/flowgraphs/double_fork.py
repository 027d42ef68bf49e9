"""A test flowgraph that leaves a daemon behind: at its start it double-forks a process that calls ``os.setsid()``
(a session and a process group of its own, out of reach of a signal to the flowgraph's group), writes its process
id to the file ``$MFCOMM_TEST_DAEMON_PID_FILE`` names, and sleeps ten minutes; then it runs ``relay.py`` with the
same options (mfcomm's contract, and relay's faults on request). Nothing a flowgraph starts may outlive its stop
(``tests/channels/test_flowgraph_session.py``)."""

import os
import runpy
import time
from pathlib import Path

PID_FILE = "MFCOMM_TEST_DAEMON_PID_FILE"


def leave_a_daemon(pid_file: Path) -> None:
    """Fork a child that starts a session of its own and forks the daemon, then exits: the daemon is an orphan.
    Returns once the daemon has written its process id."""
    if os.fork():
        os.wait()
        while not pid_file.exists():
            time.sleep(0.01)
        return
    os.setsid()
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    pid_file.with_suffix(".tmp").write_text(str(os.getpid()))
    os.replace(pid_file.with_suffix(".tmp"), pid_file)  # whole, for a reader polling it
    time.sleep(600)
    os._exit(0)


if __name__ == "__main__":
    leave_a_daemon(Path(os.environ[PID_FILE]))
    runpy.run_path(str(Path(__file__).with_name("relay.py")), run_name="__main__")

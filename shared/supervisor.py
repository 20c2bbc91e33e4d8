"""`crm supervise`: run a Procfile's processes like compose's `restart: unless-stopped`.

honcho stops every process as soon as one exits; this keeps the others serving and starts the
one that died again, after a backoff that doubles with each quick death (1 s, 2 s, 4 s... up to
30 s) and falls back to 1 s once a process has stayed up for 30 s. Every start, death and restart
is logged. SIGINT, SIGTERM or SIGHUP stop everything: SIGTERM to each process group, SIGKILL to
what is still there after the grace period, so no process is left behind.

Each process runs in its own session (`/bin/sh -c <line>`), so that the whole group it forms
(gunicorn's master and workers, nginx's master and workers) is signalled together, and what a
process killed with SIGKILL leaves behind (orphaned workers still holding its port) is killed
before it is started again. Children also get SIGTERM if the supervisor itself dies
(PR_SET_PDEATHSIG on Linux).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

INITIAL_BACKOFF = 1.0
MAX_BACKOFF = 30.0
HEALTHY_AFTER = 30.0  # a process up this long restarts after INITIAL_BACKOFF again
STOP_GRACE = 25.0  # gunicorn's graceful timeout is 20 s


def read_procfile(path: Path) -> dict[str, str]:
    """The `name: command` lines of a Procfile, in order (comments and blank lines skipped)."""
    processes: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise ValueError(f"{path}:{number}: expected 'name: command'")
        processes[name.strip()] = command.strip()
    return processes


def next_backoff(previous: float, uptime: float) -> float:
    """The wait before the next start of a process that ran `uptime` seconds."""
    if uptime >= HEALTHY_AFTER or previous <= 0:
        return INITIAL_BACKOFF
    return min(previous * 2, MAX_BACKOFF)


try:  # bound before any fork: the child only calls it
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover
    _PRCTL = None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to send SIGTERM to this child when the supervisor dies (PR_SET_PDEATHSIG)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _kill_group(pgid: int, sig: int) -> bool:
    """Signal a whole process group; False when nothing is left in it."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class _Process:
    name: str
    command: str
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    backoff: float = 0.0
    restart_at: float | None = None
    restarts: int = 0
    readers: list[threading.Thread] = field(default_factory=list)


class Supervisor:
    """Starts the processes, restarts those that die, stops them all on a signal."""

    def __init__(
        self,
        processes: Mapping[str, str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        out: IO[str] | None = None,
        grace: float = STOP_GRACE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.processes = [_Process(name, command) for name, command in processes.items()]
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.out = out or sys.stdout
        self.grace = grace
        self.clock = clock
        self.width = max((len(name) for name in processes), default=0)
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    # --- output ----------------------------------------------------------------------------
    def log(self, name: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            self.out.write(f"{stamp} {name.ljust(self.width)} | {message}\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.log(name, raw.decode(errors="replace").rstrip("\n"))
        stream.close()

    # --- lifecycle -------------------------------------------------------------------------
    def _start(self, process: _Process) -> None:
        popen = subprocess.Popen(
            ["/bin/sh", "-c", process.command],
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        process.popen, process.started_at, process.restart_at = popen, self.clock(), None
        assert popen.stdout is not None
        reader = threading.Thread(target=self._pump, args=(process.name, popen.stdout), daemon=True)
        reader.start()
        process.readers.append(reader)
        self.log("supervise", f"{process.name} started (pid {popen.pid})")

    def _reap(self, process: _Process) -> None:
        """Handle a process that exited on its own: clean its group, schedule its restart."""
        assert process.popen is not None
        code, pid = process.popen.returncode, process.popen.pid
        # Orphans of the group (gunicorn or nginx workers of a killed master) hold its port.
        _kill_group(pid, signal.SIGKILL)
        uptime = self.clock() - process.started_at
        process.backoff = next_backoff(process.backoff, uptime)
        process.restart_at = self.clock() + process.backoff
        process.popen = None
        process.restarts += 1
        how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        self.log(
            "supervise",
            f"{process.name} (pid {pid}) {how} after {uptime:.1f} s; "
            f"restart {process.restarts} in {process.backoff:.0f} s",
        )

    def stop(self, *_: object) -> None:
        """Ask the run loop to stop everything (signal handler)."""
        self._stopping.set()

    def run(self, poll: float = 0.2) -> int:
        """Run until stopped by a signal; returns the exit code."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self.stop)
        try:
            for process in self.processes:
                self._start(process)
            while not self._stopping.is_set():
                now = self.clock()
                for process in self.processes:
                    if process.popen is not None and process.popen.poll() is not None:
                        self._reap(process)
                    elif process.popen is None and now >= (process.restart_at or float("inf")):
                        self._start(process)
                self._stopping.wait(poll)
        finally:
            self._stop_all()
        return 0

    def _stop_all(self) -> None:
        running = [p for p in self.processes if p.popen is not None]
        self.log("supervise", f"stopping {len(running)} processes")
        groups = [p.popen.pid for p in running if p.popen is not None]
        for pgid in groups:
            _kill_group(pgid, signal.SIGTERM)
        deadline = self.clock() + self.grace
        for process in running:
            assert process.popen is not None
            try:
                process.popen.wait(max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                self.log("supervise", f"{process.name} still running after {self.grace:.0f} s")
        # Whatever is left in any group (a leader that ignored SIGTERM, or its stray children).
        for pgid in groups:
            _kill_group(pgid, signal.SIGKILL)
        for process in running:
            assert process.popen is not None
            process.popen.wait()
            code = process.popen.returncode
            self.log("supervise", f"{process.name} stopped ({code})")
        for process in self.processes:
            for reader in process.readers:
                reader.join(timeout=2)


def supervise(
    procfile: Path, names: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> int:
    """Run the named processes of `procfile` (every one when none is named) until a signal."""
    processes = read_procfile(procfile)
    unknown = [name for name in names if name not in processes]
    if unknown:
        raise ValueError(f"not in {procfile}: {', '.join(unknown)}")
    chosen = {name: processes[name] for name in (names or processes)}
    return Supervisor(chosen, env=env, cwd=procfile.resolve().parent).run()

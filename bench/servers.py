"""The app under load: one gunicorn (sync workers) on 127.0.0.1, and a plain GET to probe it."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Collection
from pathlib import Path

from bench.harness import free_port

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2


def get(port: int, path: str, headers: dict[str, str], timeout: float = 30) -> tuple[int, bytes]:
    """One GET on a new connection (sync workers close each one); its status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Gunicorn:
    """`WORKERS` sync gunicorn workers serving `target` (module:factory()); `stop` ends them."""

    def __init__(
        self, target: str, env: dict[str, str], log: Path, worker_timeout: int = 30
    ) -> None:
        self.target, self.env, self.log = target, env, log
        self.worker_timeout = worker_timeout
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(
        self,
        probe: str,
        headers: dict[str, str],
        ready: Collection[int] = (200,),
        wait: float = 30.0,
    ) -> Gunicorn:
        """Start gunicorn and wait until `probe` answers one of `ready` (`wait` s at most)."""
        env = {**os.environ, **self.env}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log_tail()}")
            try:
                if get(self.port, probe, headers)[0] in ready:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.target} did not answer within {wait:.0f} s:\n{self.log_tail()}")

    def command(self) -> list[str]:
        """The command line that starts the server on `self.port`."""
        return [
            sys.executable, "-m", "gunicorn", "--workers", str(WORKERS), "--worker-class", "sync",
            "--bind", f"127.0.0.1:{self.port}", "--log-level", "warning",
            "--timeout", str(self.worker_timeout), self.target,
        ]  # fmt: skip

    def log_tail(self) -> str:
        """The end of gunicorn's log."""
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop gunicorn gracefully, then by force."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

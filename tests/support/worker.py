"""``licensing worker`` as a real process, driven and observed from a test."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

LICENSING = str(Path(sys.executable).parent / "licensing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerProcess:
    """One worker process with its own log file and HTTP port."""

    def __init__(self, env: dict[str, str], log_path: Path, name: str) -> None:
        self.port = free_port()
        self.name = name
        self.env = {
            **os.environ,
            **env,
            "LICENSING_HTTP_PORT": str(self.port),
            "LICENSING_LOG_FORMAT": "json",
            "LICENSING_WORKER_ID": name,
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> "WorkerProcess":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [LICENSING, "worker"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def get(self, path: str, timeout: float = 3.0) -> tuple[int, bytes]:
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_until(self, check: Any, timeout: float = 30.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise AssertionError(f"{self.name} exited:\n{self.logs_text()[-3000:]}")
            try:
                if check():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(
            f"{self.name}: {what or check} not reached in {timeout}s\n"
            f"{self.logs_text()[-3000:]}"
        )

    def partitions(self) -> list[int]:
        status, body = self.get("/livez")
        return list(json.loads(body)["partitions"]) if status == 200 else []

    def wait_owning(self, count: int = 1, timeout: float = 30.0) -> None:
        self.wait_until(
            lambda: len(self.partitions()) >= count,
            timeout,
            f"owning {count} partitions",
        )

    def logs_text(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.logs_text().splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(line))
        return lines

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if not self.alive():
            assert self.process is not None
            return self.process.returncode
        self.signal(signal.SIGTERM)
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        if self.alive():
            self.signal(signal.SIGKILL)
            assert self.process is not None
            self.process.wait(10)

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

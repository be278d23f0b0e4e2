"""A private PostgreSQL cluster on a free port, for tests that stop and restart the server under load."""

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.servers import free_port
from tests.services import unavailable


def _binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PrivateCluster:
    """One cluster in a temporary folder, run as the `postgres` user (initdb refuses root)."""

    def __init__(self, binaries: Path, folder: Path) -> None:
        self.port = free_port()
        self._binaries = binaries
        self._data = folder / "data"
        self._log = folder / "server.log"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of its `postgres` database."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def initdb(self) -> None:
        """Create the cluster with trust authentication on loopback."""
        self._as_postgres("initdb", "-D", str(self._data), "-A", "trust", "-U", "postgres")

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        options = f"-p {self.port} -k {self._data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_postgres("pg_ctl", "-D", str(self._data), "-l", str(self._log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop it at once, cutting every connection (as a crash or a restart would)."""
        self._as_postgres("pg_ctl", "-D", str(self._data), "-m", "immediate", "-w", "stop")

    def _as_postgres(self, tool: str, *args: str) -> None:
        command = [str(self._binaries / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster, removed afterwards; skipped (or failed under REQUIRE_SERVICES=1) without one."""
    binaries = _binaries()
    if binaries is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        unavailable("PostgreSQL server binaries (and runuser, as root) are needed for a private cluster")
        raise AssertionError("unreachable")
    folder = Path(tempfile.mkdtemp(prefix="perfshop-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        cluster = PrivateCluster(binaries, folder)
        cluster.initdb()
        cluster.start()
        try:
            yield cluster
        finally:
            with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
                cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

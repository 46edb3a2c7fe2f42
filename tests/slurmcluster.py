"""A real one-node SLURM on 127.0.0.1 for the SLURM test (tests/test_slurm.py).

Debian's `slurm-wlm` and `munge` (installed with apt-get when missing, as root), no accounting, a
slurm.conf and every state, spool, log and socket file in one temporary folder. The config is
also linked at /etc/slurm/slurm.conf (when nothing is there yet): the executor plugin runs `srun`
inside each batch job after stripping every SLURM_* variable, SLURM_CONF too, so jobs find the
config only at its default path. Every daemon started here is stopped by its PID in
:meth:`Cluster.stop` (also at exit).
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")
DAEMONS = ("munged", "slurmctld", "slurmd")
ROOT = Path(__file__).resolve().parents[1]
ETC_CONF = Path("/etc/slurm/slurm.conf")
PARTITION = "debug"
# The README's command on a cluster without accounting (python -m: this interpreter's Snakemake).
SLURM_FLAGS = ("--profile", "profiles/slurm", "--slurm-no-account", "--slurm-status-command", "squeue")

CONF = """\
ClusterName=axillatest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge.socket
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=3600
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName={partition} Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def install() -> None:
    """slurm-wlm and munge from Debian when their daemons are missing (needs root)."""
    if all(shutil.which(d) for d in DAEMONS) and shutil.which("sbatch"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES],
                   check=True, env=env, capture_output=True, timeout=900)


def install_plugin() -> None:
    """The README's plugin install (`make slurm-plugin`) into this interpreter's environment, when missing."""
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-r",
                        str(ROOT / "profiles" / "slurm" / "requirements.txt")], check=True, timeout=600)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mem_mb() -> int:
    """What the node offers: 80 % of this machine's memory (slurmd refuses a node that has less
    than its RealMemory)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(int(line.split()[1]) / 1024 * 0.8)
    raise RuntimeError("no MemTotal in /proc/meminfo")


class Cluster:
    """One node (this machine's CPUs, 80 % of its memory), one default partition, no accounting."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="axilla-slurm-"))
        self.conf = self.dir / "slurm.conf"
        self.host = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        self.procs: dict[str, subprocess.Popen] = {}
        self._linked = False

    def start(self) -> "Cluster":
        atexit.register(shutil.rmtree, self.dir, ignore_errors=True)  # runs after stop (LIFO)
        atexit.register(self.stop)
        for sub in ("state", "spool"):
            (self.dir / sub).mkdir()
        os.chmod(self.dir, 0o755)  # jobs read the config and reach the munge socket
        self.conf.write_text(CONF.format(host=self.host, dir=self.dir, cpus=self.cpus, mem_mb=_mem_mb(),
                                         ctld_port=_free_port(), d_port=_free_port(), partition=PARTITION))
        self._link_conf()
        self._start_munge()
        self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait_idle()
        return self

    def _link_conf(self) -> None:
        if ETC_CONF.exists() or ETC_CONF.is_symlink():
            raise RuntimeError(f"{ETC_CONF} exists: this machine has a SLURM of its own; the test builds one")
        ETC_CONF.parent.mkdir(parents=True, exist_ok=True)
        ETC_CONF.symlink_to(self.conf)
        self._linked = True

    def _start_munge(self) -> None:
        key = self.dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._spawn("munged", ["munged", "-F", "--force", f"--socket={self.dir}/munge.socket",
                               f"--key-file={key}", f"--log-file={self.dir}/munged.log",
                               f"--pid-file={self.dir}/munged.pid", f"--seed-file={self.dir}/munged.seed"])
        self._wait_for(lambda: (self.dir / "munge.socket").exists(), "munged's socket")

    def _spawn(self, name: str, cmd: list[str]) -> None:
        log = open(self.dir / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env())

    def env(self) -> dict:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _wait_for(self, ok, what: str, timeout: float = 60) -> None:
        end = time.time() + timeout
        while time.time() < end:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited: {(self.dir / f'{name}.out').read_text()[-2000:]}")
            if ok():
                return
            time.sleep(0.5)
        raise TimeoutError(f"{what} not ready after {timeout} s; logs in {self.dir}")

    def _wait_idle(self) -> None:
        def idle():
            r = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, env=self.env())
            return r.returncode == 0 and r.stdout.strip() in ("idle", "mix")
        self._wait_for(idle, "the node")

    def log(self) -> str:
        """slurmctld's log (job ids are given out there: `_slurm_rpc_submit_batch_job: JobId=...`)."""
        p = self.dir / "slurmctld.log"
        return p.read_text() if p.exists() else ""

    def stop(self) -> None:
        """SIGTERM then SIGKILL to each daemon started here, by PID; the /etc link removed."""
        for name in reversed(list(self.procs)):
            p = self.procs.pop(name)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=30)
        if self._linked and ETC_CONF.is_symlink():
            ETC_CONF.unlink()
            self._linked = False


def submit(d: Path, cluster: Cluster, extra: tuple[str, ...] = (), timeout: int = 1500) -> tuple[str, float]:
    """The study in ``d`` through the SLURM profile (plus ``extra`` flags): its console output and
    wall seconds; the output is also kept as ``d/snakemake-console.log``."""
    start = time.time()
    r = subprocess.run([sys.executable, "-m", "snakemake", *SLURM_FLAGS, *extra], cwd=d, env=cluster.env(),
                       capture_output=True, text=True, timeout=timeout)
    wall = time.time() - start
    out = r.stdout + r.stderr
    (Path(d) / "snakemake-console.log").write_text(out)
    assert r.returncode == 0, out[-6000:]
    return out, wall

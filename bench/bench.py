#!/usr/bin/env python3
"""echod benchmark harness (issues 6 and 15). Python 3 standard library only.

  bench.py run   [--quick] [--reps N] [--duration S] [--peers go,socat,asyncio,seed] ...
                                                            timed scenarios, echod vs reference and peers
  bench.py cost  [--count N]                                callgrind instructions and syscalls/msg
  bench.py cost-conn [--conn-count N] [--native-count N]    the same per connection, plus native CPU
  bench.py smoke --out-dir DIR                              15-30 s self-check (a CTest test)
  bench.py cost-tls [--tls-count N] [--tls-conn-count M]   the same over TLS: per 4 KiB message, per handshake
  bench.py build-baseline [--rev REV]                       echod at REV (BASELINE_REV, default ed7191e)
  bench.py markdown [RUN.json...]                           tables of the newest results (or pooled runs)

`run` starts echod (`--workers 1`, admin port and metrics on) and bench/reference_echo
and the peers (bench/peers/, PEERS) alternately, once per scenario and repetition (the order
flips every repetition), after a bounded conformance check of each; drives each
with echo-probe (bench_client for bulk streaming and idle connections), reads the server's CPU
time from /proc/PID/stat around each measured window, and prints medians and echod/reference
ratios. JSON goes to bench/results/. Every child is killed on exit; traffic stays on 127.0.0.1.

`cost` runs each server under `valgrind --tool=callgrind`, then under `strace -c -f` (and `perf
stat` when it works), with a fixed-count client at 50 connections and two workload sizes: the
marginal cost (X(2N) - X(N)) / (M(2N) - M(N)) cancels start-up and shutdown.
"""
import argparse
import atexit
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

_children = []  # every process this harness started, killed on exit
PIN = {"server": None, "client": None, "nice": 0}  # CPU sets and priority, see --pin, --nice


def _pinned(role):
    cpus, nice = PIN.get(role), PIN["nice"]

    def setup():
        if cpus:
            os.sched_setaffinity(0, cpus)
        if nice:
            try:
                os.nice(nice)
            except OSError:
                pass
    return setup if cpus or nice else None


def _kill_children():
    for p in _children:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=5)
            except Exception:
                pass


atexit.register(_kill_children)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, lambda s, f: sys.exit(128 + s))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    _children.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=20):
    """Stops one child we started: `sig`, then SIGKILL after `timeout` seconds."""
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if p in _children:
        _children.remove(p)
    return p.returncode


# ----------------------------------------------------------------------------- /proc readers

def proc_cpu_s(pid):
    """utime + stime of the whole process (all threads), seconds, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_tree_cpu_s(pid):
    """CPU seconds of `pid` and every descendant: its own utime + stime, plus cutime + cstime
    (children it has reaped), plus the same for each live child. A forking server (socat
    forks a process per connection, which runs cat) is measured whole; for a one-process
    server this equals proc_cpu_s."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    total = sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLK_TCK
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return total + sum(proc_tree_cpu_s(k) for k in kids)


def proc_rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def proc_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def proc_threads(pid):
    return len(os.listdir(f"/proc/{pid}/task"))


def child_of(pid):
    """The first child process of `pid` (the traced server under strace)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = f.read().split()
        return int(kids[0]) if kids else None
    except OSError:
        return None


# ----------------------------------------------------------------------------- servers

# Peers (issue 15): what users would run instead, started the way their users start them.
# Every one runs on the pinned server CPU (the affinity is inherited by threads and forked
# children); the notes say how each is held to one core.
PEERS = {
    "go": "Go 1.19 (golang-go), goroutine per connection + io.Copy; GOMAXPROCS=1",
    "socat": "socat TCP-LISTEN:PORT,reuseaddr,fork EXEC:cat: a socat + cat process pair per "
             "connection, all on the server CPU",
    "asyncio": "Python asyncio Protocol, one thread, default (epoll) loop",
    "seed": "blocking Python socket: accept, one recv(1024), send, close (one client at a time)",
}
# echod variants (issues 12, 13): other builds or settings of echod itself, started with
# echod's flags. Named in PEERS like a peer, never part of PEERS=all.
VARIANTS = {
    "baseline": "echod built from BASELINE_REV (default ed7191e, before fault injection) by "
                "bench.py build-baseline, RelWithDebInfo like the bench build, same flags",
    "echod-tls-on": "this echod with --tls-listen on a second port (EC P-256 certificate), "
                    "measured on its plain port",
}
DEFAULT_BASELINE_REV = "ed7191e"
PEER_DIR = os.path.join(HERE, "peers")
# 10,000 idle connections would be 20,000 socat/cat processes; the seed pattern closes each
# connection after one message, so neither has idle connections to measure.
IDLE_SKIP = {"socat": "a process pair per connection", "seed": "closes after one message"}
# Go's io.Copy holds a splice pipe pair per waiting connection (3 descriptors each): 10,000
# would pass the 20,000-descriptor limit, so it holds 5,000.
IDLE_MAX = {"go": 5000}


def parse_peers(spec):
    """PEERS=go,socat (default: all; 'none' or '' for echod and the reference only)."""
    spec = (spec or "").strip()
    if spec in ("", "none", "0"):
        return []
    if spec == "all":
        return list(PEERS)
    names = []
    for n in (n.strip() for n in spec.split(",")):
        if n in ("none", "0"):  # PEERS=none appended to a make target's own (baseline,none)
            continue
        if n == "all":
            names += [p for p in PEERS if p not in names]
        elif n and n not in names:
            names.append(n)
    bad = [n for n in names if n not in PEERS and n not in VARIANTS]
    if bad:
        sys.exit(f"bench: unknown peer(s) {bad}; known: {','.join(list(PEERS) + list(VARIANTS))}")
    return names


def build_peers(names, bin_dir):
    """Builds or finds each peer; returns (bins additions, {name: reason} for skipped ones).
    The Go peer is built from bench/peers/go_echo.go with Debian's go, standard library only:
    GOPROXY=off and GO111MODULE=off, so nothing is ever downloaded."""
    extra, skipped = {}, {}
    for name in names:
        if name == "baseline":
            try:
                extra["baseline"] = build_baseline(bin_dir)
            except RuntimeError as e:
                skipped[name] = str(e)
        elif name == "echod-tls-on":
            if not echod_has_tls(os.path.join(bin_dir, "echod")):
                skipped[name] = NO_TLS
        elif name == "go":
            go = shutil.which("go")
            if not go:
                skipped[name] = "no `go` (Debian golang-go; scripts/deps.sh bench installs it)"
                continue
            out_dir = os.path.join(os.path.dirname(bin_dir), "peers")
            os.makedirs(out_dir, exist_ok=True)
            exe = os.path.join(out_dir, "go_echo")
            src = os.path.join(PEER_DIR, "go_echo.go")
            if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
                env = dict(os.environ, GOPROXY="off", GO111MODULE="off", GOFLAGS="",
                           GOCACHE=os.path.join(out_dir, "gocache"),
                           GOPATH=os.path.join(out_dir, "gopath"), CGO_ENABLED="0")
                r = subprocess.run([go, "build", "-o", exe, src], env=env, capture_output=True,
                                   text=True, timeout=300)
                if r.returncode != 0:
                    skipped[name] = f"go build failed: {r.stderr.strip()[-300:]}"
                    continue
            extra["go_echo"] = exe
        elif name == "socat":
            if not shutil.which("socat"):
                skipped[name] = "no `socat` (Debian socat; scripts/deps.sh bench installs it)"
                continue
            if not shutil.which("cat"):
                skipped[name] = "no `cat` for EXEC:cat"
                continue
            extra["socat"] = shutil.which("socat")
        else:  # asyncio, seed: the harness's own interpreter
            extra[name] = sys.executable
    return extra, skipped


def baseline_rev():
    return os.environ.get("BASELINE_REV") or DEFAULT_BASELINE_REV


def baseline_dir(bin_dir):
    """build-bench-baseline/ beside build-bench/ for build-bench/bin (BASELINE_DIR overrides)."""
    bin_dir = os.path.abspath(bin_dir)
    top = os.path.dirname(bin_dir) if os.path.basename(bin_dir) == "bin" else bin_dir
    return os.environ.get("BASELINE_DIR") or top + "-baseline"


def baseline_info(bin_dir):
    """What the JSON records of the baseline build: the revision asked for and the commit built."""
    with open(os.path.join(baseline_dir(bin_dir), "revision")) as f:
        return {"rev": baseline_rev(), "commit": f.read().strip()}


def build_baseline(bin_dir, rev=None, jobs=None):
    """echod at git revision `rev` (BASELINE_REV, default ed7191e), built like the bench build
    (RelWithDebInfo, no tests, no bench/) from `git archive` of that revision into
    build-bench-baseline/src, object files in build-bench-baseline/build. Rebuilt only when the
    revision resolves to another commit than the one built. Returns the echod binary's path."""
    rev = rev or baseline_rev()
    top = baseline_dir(bin_dir)
    r = subprocess.run(["git", "-C", REPO, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                       capture_output=True, text=True)
    sha = r.stdout.strip()
    if r.returncode != 0 or not sha:
        raise RuntimeError(f"BASELINE_REV {rev!r} is not a commit of {REPO}")
    src, build = os.path.join(top, "src"), os.path.join(top, "build")
    exe, stamp = os.path.join(build, "bin", "echod"), os.path.join(top, "revision")
    built = open(stamp).read().strip() if os.path.exists(stamp) else ""
    if built == sha and os.access(exe, os.X_OK):
        return exe
    log(f">> baseline: echod at {rev} ({sha[:12]}) -> {exe}")
    if os.path.exists(stamp):
        os.unlink(stamp)
    shutil.rmtree(src, ignore_errors=True)
    os.makedirs(src)
    # git archive, not a worktree: nothing is added to the repository's own bookkeeping.
    archive = subprocess.Popen(["git", "-C", REPO, "archive", "--format=tar", sha], stdout=subprocess.PIPE)
    untar = subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, capture_output=True, text=True)
    archive.stdout.close()
    if archive.wait() != 0 or untar.returncode != 0:
        raise RuntimeError(f"git archive {sha[:12]} | tar failed: {untar.stderr.strip()[-300:]}")
    jobs = str(jobs or os.environ.get("JOBS") or os.cpu_count() or 1)
    # The revision is passed in: inside this worktree CMake's own `git rev-parse` would name HEAD.
    steps = [["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
              "-DECHOD_BUILD_TESTS=OFF", "-DECHOD_BUILD_BENCH=OFF", f"-DECHOD_VERSION_REVISION={sha[:12]}"],
             ["cmake", "--build", build, "-j", jobs, "--target", "echod"]]
    for cmd in steps:
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"baseline build failed ({' '.join(cmd[:3])}...):\n"
                               f"{(r.stdout + r.stderr).strip()[-1500:]}")
    with open(stamp, "w") as f:
        f.write(sha + "\n")
    return exe


NO_TLS = "echod has no TLS listener in this build (no --tls-listen in echod --help)"
_tls_support = {}


def echod_has_tls(exe):
    """Whether this echod binary offers --tls-listen (asked once per binary)."""
    if exe not in _tls_support:
        try:
            r = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=10)
            _tls_support[exe] = "--tls-listen" in (r.stdout + r.stderr)
        except (OSError, subprocess.TimeoutExpired):
            _tls_support[exe] = False
    return _tls_support[exe]


def free_port():
    """An ephemeral port that was free a moment ago (for servers that cannot bind port 0)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True when /proc/net/tcp has a LISTEN socket on 127.0.0.1 or 0.0.0.0 at `port`."""
    want = f":{port:04X}"
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[1].endswith(want) and parts[3] == "0A":
                return True
    return False


_certs = {}


def tls_files(workdir):
    """A self-signed certificate for 127.0.0.1 and its key, made once per run with the openssl
    CLI: EC P-256 (prime256v1) key, ecdsa-with-SHA256 signature, valid 2 days."""
    if workdir not in _certs:
        cert, key = os.path.join(workdir, "tls-cert.pem"), os.path.join(workdir, "tls-key.pem")
        if not shutil.which("openssl"):
            raise RuntimeError("no `openssl` CLI (Debian openssl; scripts/deps.sh build installs it)")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-sha256", "-nodes", "-days", "2",
                            "-subj", "/CN=echod-bench", "-addext",
                            "subjectAltName=IP:127.0.0.1,DNS:localhost",
                            "-keyout", key, "-out", cert], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"openssl req failed: {r.stderr.strip()[-500:]}")
        _certs[workdir] = (cert, key)
    return _certs[workdir]


ECHOD_KINDS = ("echod", "baseline", "echod-tls-on")


class Server:
    """One server process on 127.0.0.1 ephemeral ports. `wrap` prefixes a tool (valgrind...).
    `kind` is echod, reference, an echod variant (VARIANTS) or a peer name (PEERS). With `tls`
    the server speaks TLS: echod on its --tls-listen port (addr; plain_addr is its plain
    port), the reference is bench/reference_tls_echo."""

    def __init__(self, kind, bins, workdir, wrap=None, tag="", tls=False):
        self.kind = kind
        self.admin = None
        self.port = None
        self.tls = tls
        self.want_tls_addr = tls or kind == "echod-tls-on"
        self.plain_addr = self.tls_addr = None
        self.log_path = os.path.join(workdir, f"{kind}{'-tls' if tls else ''}{tag}.log")
        env = None
        if kind in ECHOD_KINDS:
            cmd = [bins["baseline" if kind == "baseline" else "echod"], "--workers", "1",
                   "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                   "--max-connections", "20000"]
            if self.want_tls_addr:
                cert, key = tls_files(workdir)
                cmd += ["--tls-listen", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                        "--tls-min-version", "1.3"]
        elif kind == "reference" and tls:
            cert, key = tls_files(workdir)
            cmd = [bins["reference_tls_echo"], "--port", "0", "--cert", cert, "--key", key,
                   "--min-version", "1.3"]
        elif kind == "reference":
            cmd = [bins["reference_echo"], "--port", "0"]
        elif kind == "go":
            cmd = [bins["go_echo"], "-port", "0"]
            env = dict(os.environ, GOMAXPROCS="1")
        elif kind == "socat":
            self.port = free_port()
            cmd = [bins["socat"], f"TCP-LISTEN:{self.port},bind=127.0.0.1,reuseaddr,fork,backlog=4096",
                   "EXEC:cat"]
        elif kind in ("asyncio", "seed"):
            cmd = [bins[kind], "-u", os.path.join(PEER_DIR, f"{kind}_echo.py"), "--port", "0"]
        else:
            raise ValueError(f"unknown server kind {kind}")
        self.cmd = (wrap or []) + cmd
        self.wrapped = bool(wrap)
        self.logf = open(self.log_path, "w")
        # Own session: a forking peer's children are stopped with it (killpg of our own child).
        self.proc = spawn(self.cmd, stdout=self.logf, stderr=subprocess.STDOUT, env=env,
                          stdin=subprocess.DEVNULL, preexec_fn=_pinned("server"),
                          start_new_session=True)
        self.pid = self.proc.pid
        self.addr = self._wait_ready(120 if wrap else 15)
        if wrap and wrap[0].endswith("strace"):
            self.pid = child_of(self.proc.pid) or self.proc.pid

    def cpu_s(self):
        return proc_tree_cpu_s(self.pid)

    def _wait_ready(self, timeout):
        deadline = time.time() + timeout
        text = ""
        while time.time() < deadline:
            with open(self.log_path, errors="replace") as f:
                text = f.read()
            if self.kind in ECHOD_KINDS:
                m = re.search(r'"echo_address"\s*:\s*"([^"]+)"', text)
                a = re.search(r'"admin_address"\s*:\s*"([^"]+)"', text)
                t = re.search(r'"tls_address"\s*:\s*"([^"]+)"', text)
                if m and a and (t or not self.want_tls_addr):
                    self.admin = a.group(1)
                    self.plain_addr = m.group(1)
                    self.tls_addr = t.group(1) if t else None
                    return self.tls_addr if self.tls else self.plain_addr
            elif self.port is not None:
                if listening(self.port):
                    return f"127.0.0.1:{self.port}"
            else:
                m = re.search(r"^port (\d+)$", text, re.M)
                if m:
                    return f"127.0.0.1:{m.group(1)}"
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.kind} did not start (see {self.log_path}):\n{text[-2000:]}")

    def _killpg(self, sig):
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def stop(self, timeout=60):
        rc = stop(self.proc, timeout=timeout) if not self.wrapped else None
        if self.wrapped:  # signal the server itself so the tool writes its report
            if self.proc.poll() is None:
                try:
                    os.kill(self.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc in _children:
                _children.remove(self.proc)
            rc = self.proc.returncode
        if self.kind == "socat":
            self._killpg(signal.SIGKILL)  # per-connection children still running
        self.logf.close()
        return rc


# ----------------------------------------------------------------------------- drivers

class Driver:
    def __init__(self, bins, mode, probe_threads):
        self.bins = bins
        self.mode = mode  # "probe" or "builtin"
        self.threads = probe_threads

    def pingpong(self, addr, conns, size, duration=None, count=None, newconn=False):
        if self.mode == "probe":
            cmd = [self.bins["echo-probe"], "tcp", "-c", str(conns), "-s", str(size),
                   "--json", "-q", "--timeout", "10s"]
            if self.threads:
                cmd += ["-t", str(self.threads)]
            cmd += ["-d", f"{int(duration * 1000)}ms"] if duration else ["-n", str(count)]
            if newconn:
                cmd.append("--new-connection")
        else:
            cmd = [self.bins["bench_client"], "newconn" if newconn else "pingpong",
                   "-c", str(conns), "-s", str(size)]
            cmd += ["-d", str(duration)] if duration else ["-n", str(count)]
        return cmd + [addr]

    def stream(self, addr, conns, size, duration):
        return [self.bins["bench_client"], "stream", "-c", str(conns), "-s", str(size),
                "-d", str(duration), addr]

    def tls(self, addr, mode, conns, size, duration=None, count=None):
        """bench_client over TLS 1.3 (echo-probe has no TLS mode here): every handshake full."""
        cmd = [self.bins["bench_client"], mode, "--tls", "-c", str(conns), "-s", str(size)]
        cmd += ["-d", str(duration)] if duration else ["-n", str(count)]
        return cmd + [addr]


def run_client(cmd, timeout):
    """Runs a driver; returns (parsed JSON or None, rc, client CPU seconds, stderr tail)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
              preexec_fn=_pinned("client"))
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    _children.remove(p)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    doc = None
    for line in reversed(out.decode(errors="replace").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
                break
            except ValueError:
                pass
    return doc, p.returncode, cpu, err.decode(errors="replace")[-500:]


def messages_of(doc):
    if doc.get("received") is not None:
        return float(doc["received"])
    return float(doc.get("msgs_per_sec", 0)) * float(doc.get("duration_s", 0))


# ----------------------------------------------------------------------------- scenarios

SCENARIOS = [
    # name, kind, connections, size, note
    ("pingpong_64B_c1", "pingpong", 1, 64, "one connection: round-trip latency bound"),
    ("pingpong_64B_c50", "pingpong", 50, 64, "client saturates its core: compare CPU/msg"),
    ("pingpong_64B_c1000", "pingpong", 1000, 64, "many connections: epoll batching"),
    ("pingpong_4KiB_c50", "pingpong", 50, 4096, "4 KiB messages: buffer sizes, TCP_NODELAY"),
    ("pingpong_64KiB_c4", "pingpong", 4, 65536, "large messages, echo-probe ping-pong"),
    ("bulk_stream_c4", "stream", 4, 65536, "bulk streaming (bench_client stream, 1 MiB window)"),
    ("conn_rate_c32", "newconn", 32, 64, "connect, 64 B, echo, close; 32 concurrent"),
    ("idle_10k", "idle", 10000, 64, "idle connections: user-space RSS and fds per connection"),
    ("scrape_100ms", "scrape", 50, 64, "echod only: /metrics every 100 ms vs none"),
    # TLS (issue 12): echod's --tls-listen port vs bench/reference_tls_echo, bench_client --tls,
    # TLS 1.3 only, EC P-256 certificate; run when asked (TLS=1, --tls, make bench-tls, ONLY=).
    ("tls_4k_c50", "tls_pingpong", 50, 4096, "TLS 4 KiB ping-pong, 50 connections"),
    ("tls_bulk", "tls_stream", 4, 65536, "TLS bulk streaming (1 MiB window per connection)"),
    ("tls_handshakes", "tls_newconn", 32, 64,
     "full TLS 1.3 handshake (no resumption), 64 B echoed, close_notify, close; 32 at a time"),
]
TLS_KINDS = {"tls_pingpong": "pingpong", "tls_stream": "stream", "tls_newconn": "newconn"}

HIGHER_IS_BETTER = {"msgs_per_sec", "bytes_per_sec"}


class Scraper(threading.Thread):
    def __init__(self, admin, period):
        super().__init__(daemon=True)
        self.url = f"http://{admin}/metrics"
        self.period = period
        self.halt = threading.Event()
        self.ok = self.failed = 0

    def run(self):
        while not self.halt.is_set():
            t0 = time.time()
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:
                    r.read()
                self.ok += 1
            except Exception:
                self.failed += 1
            self.halt.wait(max(0.0, self.period - (time.time() - t0)))


def measure_traffic(server, driver, scen, cfg, scrape=False):
    name, kind, conns, size, _ = scen
    if kind in TLS_KINDS:
        mk = lambda d: driver.tls(server.addr, TLS_KINDS[kind], conns, size, duration=d)
    elif kind == "stream":
        mk = lambda d: driver.stream(server.addr, conns, size, d)
    else:
        mk = lambda d: driver.pingpong(server.addr, conns, size, duration=d,
                                       newconn=(kind == "newconn"))
    scraper = None
    if scrape:
        scraper = Scraper(server.admin, 0.1)
        scraper.start()
    try:
        if cfg.warmup > 0:
            run_client(mk(cfg.warmup), cfg.warmup + 30)
        cpu0 = server.cpu_s()
        t0 = time.time()
        doc, rc, client_cpu, err = run_client(mk(cfg.duration), cfg.duration + 30)
        wall = time.time() - t0
        cpu1 = server.cpu_s()
    finally:
        if scraper:
            scraper.halt.set()
            scraper.join()
    if doc is None:
        return {"error": f"driver rc={rc}: {err.strip()}"}
    msgs = messages_of(doc)
    lat = doc.get("latency_us") or {}
    r = {
        "msgs_per_sec": float(doc.get("msgs_per_sec", 0)),
        "bytes_per_sec": float(doc.get("bytes_per_sec", 0)),
        "latency_p50_us": float(lat["p50"]) if lat.get("p50") else None,
        "latency_p99_us": float(lat["p99"]) if lat.get("p99") else None,
        "server_cpu_s": cpu1 - cpu0,
        "server_cpu_us_per_msg": (cpu1 - cpu0) * 1e6 / msgs if msgs else None,
        "server_cpu_util": (cpu1 - cpu0) / wall if wall else None,
        "client_cpu_util": client_cpu / wall if wall else None,
        "client_cpu_us_per_msg": client_cpu * 1e6 / msgs if msgs else None,
        "messages": msgs,
        "driver_errors": doc.get("errors", 0),
        "driver_rc": rc,
    }
    classes = {k: v for k, v in (doc.get("error_classes") or {}).items() if v}
    if doc.get("mismatches"):
        classes["mismatch"] = doc["mismatches"]
    if doc.get("errors") and not classes:  # bench_client counts errors without classes
        classes["errors"] = doc["errors"]
    if classes:
        r["error_classes"] = classes
    if rc != 0:
        r["driver_stderr"] = err.strip()
    if scraper:
        r["scrapes_ok"], r["scrapes_failed"] = scraper.ok, scraper.failed
    for k in ("tls_protocol", "tls_cipher", "tls_group", "resumed"):
        if doc.get(k) is not None:
            r[k] = doc[k]
    return r


def measure_scrape_cpu(server, scrapes=300):
    """echod's CPU time per GET /metrics, back to back with no echo traffic."""
    url = f"http://{server.admin}/metrics"
    cpu0, ok = proc_cpu_s(server.pid), 0
    for _ in range(scrapes):
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                r.read()
            ok += 1
        except Exception:
            pass
    return (proc_cpu_s(server.pid) - cpu0) * 1e6 / ok if ok else None


# What a user checks first: does it echo at all, on one connection, for two clients, whole?
# Every step has a bounded timeout, so a server that breaks shows a verdict, not a hang.
CONFORMANCE = [
    ("two_messages", "two 64 B messages on one connection"),
    ("two_clients", "second client answered while the first is connected and silent"),
    ("4KiB_whole", "a 4096 B message echoed whole"),
    ("1MiB_stream", "1 MiB written at once, echoed in order"),
]


def _recv_exactly(sock, n, timeout):
    got = bytearray()
    deadline = time.time() + timeout
    while len(got) < n:
        left = deadline - time.time()
        if left <= 0:
            return bytes(got), "timeout"
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(1 << 20, n - len(got)))
        except TimeoutError:
            return bytes(got), "timeout"
        except OSError as e:
            return bytes(got), type(e).__name__
        if not chunk:
            return bytes(got), "closed"
        got += chunk
    return bytes(got), None


def conformance(addr, timeout=2.0):
    """{check: "ok" | "FAIL: why"} for CONFORMANCE, each on fresh connections."""
    import socket
    host, port = addr.rsplit(":", 1)
    target = (host, int(port))
    out = {}

    def verdict(sock, payload, what):
        try:
            sock.sendall(payload)
        except OSError as e:
            return f"FAIL: {what}: send {type(e).__name__}"
        got, why = _recv_exactly(sock, len(payload), timeout)
        if got != payload[:len(got)]:
            return f"FAIL: {what}: bytes differ"
        if why:
            return f"FAIL: {what}: {len(got)} of {len(payload)} B echoed, then {why}"
        return None

    msg = bytes(range(64))
    try:
        with socket.create_connection(target, timeout=timeout) as a:
            out["two_messages"] = (verdict(a, msg, "first message")
                                   or verdict(a, msg[::-1], "second message") or "ok")
    except OSError as e:
        out["two_messages"] = f"FAIL: connect {type(e).__name__}"
    try:
        with socket.create_connection(target, timeout=timeout) as a, \
                socket.create_connection(target, timeout=timeout) as b:
            time.sleep(0.05)  # the first is accepted and waited on by a one-at-a-time server
            out["two_clients"] = verdict(b, msg, "second client") or "ok"
            del a
    except OSError as e:
        out["two_clients"] = f"FAIL: connect {type(e).__name__}"
    big = bytes((i * 31 + 7) & 0xFF for i in range(4096))
    try:
        with socket.create_connection(target, timeout=timeout) as a:
            a.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            out["4KiB_whole"] = verdict(a, big, "4096 B") or "ok"
    except OSError as e:
        out["4KiB_whole"] = f"FAIL: connect {type(e).__name__}"
    stream = big * 256
    try:
        with socket.create_connection(target, timeout=timeout) as a:
            sender = threading.Thread(target=lambda: _send_quietly(a, stream), daemon=True)
            sender.start()
            got, why = _recv_exactly(a, len(stream), timeout * 2)
            sender.join(timeout=timeout)
            out["1MiB_stream"] = ("ok" if not why and got == stream else
                                  f"FAIL: {len(got)} of {len(stream)} B echoed"
                                  + (f", then {why}" if why else ", bytes differ"))
    except OSError as e:
        out["1MiB_stream"] = f"FAIL: connect {type(e).__name__}"
    return out


TLS_CONFORMANCE = [
    ("tls13", "TLS 1.3 handshake (no resumption)"),
    ("two_messages", "two 64 B messages on one connection"),
    ("16KiB_whole", "a 16385 B message (two records) echoed whole"),
    ("1MiB_stream", "1 MiB written at once, echoed in order"),
    ("close_notify", "client close_notify: every byte back, then the server's close_notify"),
]


def tls_conformance(addr, timeout=5.0):
    """{check: "ok" | "FAIL: why"} for TLS_CONFORMANCE with Python's ssl module (OpenSSL too,
    but another client than bench_client), certificate not verified (self-signed)."""
    import socket
    import ssl
    host, port = addr.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    out = {k: "FAIL: not reached" for k, _ in TLS_CONFORMANCE}

    def echo(tls, payload):
        tls.sendall(payload)
        got = bytearray()
        while len(got) < len(payload):
            chunk = tls.recv(len(payload) - len(got))
            if not chunk:
                return f"{len(got)} of {len(payload)} B echoed, then closed"
            got += chunk
        return None if bytes(got) == payload else "bytes differ"

    step = "tls13"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as raw, \
                ctx.wrap_socket(raw, suppress_ragged_eofs=False) as tls:
            out["tls13"] = "ok" if tls.version() == "TLSv1.3" and not tls.session_reused else \
                f"FAIL: {tls.version()}, reused {tls.session_reused}"
            step = "two_messages"
            msg = bytes(range(64))
            why = echo(tls, msg) or echo(tls, msg[::-1])
            out[step] = f"FAIL: {why}" if why else "ok"
            step = "16KiB_whole"
            why = echo(tls, bytes((i * 31 + 7) & 0xFF for i in range(16385)))
            out[step] = f"FAIL: {why}" if why else "ok"
            step = "1MiB_stream"
            stream = bytes((i * 7 + (i >> 11)) & 0xFF for i in range(1 << 20))
            got = _tls_stream(tls, stream, timeout)
            out[step] = "ok" if got == stream else f"FAIL: {len(got)} of {len(stream)} B, or bytes differ"
        step = "close_notify"
        out[step] = _tls_close_notify(host, int(port), ctx, timeout)
    except (ssl.SSLError, OSError) as e:
        out[step] = f"FAIL: {type(e).__name__}: {e}"
    return out


def _tls_stream(tls, data, timeout, pause=0.0):
    """Writes `data` while reading the echo, in one thread (an SSL object is not for two):
    non-blocking, a blocked write retried with the same slice. With `pause`, reads nothing
    for that long first, so the server's writes block (its unsent tail, paused reading).
    Returns what came back."""
    import select
    import ssl
    tls.setblocking(False)
    sent, got = 0, bytearray()
    start = time.time()
    deadline = start + timeout * 4 + pause
    while len(got) < len(data) and time.time() < deadline:
        moved = False
        if sent < len(data):
            try:
                sent += tls.send(data[sent:sent + (1 << 16)])
                moved = True
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                pass
        if time.time() - start < pause:
            if not moved:
                time.sleep(0.01)
            continue
        try:
            chunk = tls.recv(1 << 16)
            if not chunk:
                break
            got += chunk
            moved = True
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        if not moved:
            select.select([tls], [tls] if sent < len(data) else [], [], 0.5)
    tls.setblocking(True)
    tls.settimeout(timeout)
    return bytes(got)


def _tls_close_notify(host, port, ctx, timeout):
    """4 KiB then close_notify at once (SSL_shutdown), then read (SSL_read after SSL_shutdown
    is allowed): all 4 KiB must come back, then the server's close_notify."""
    import socket
    import ssl
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        def flush():
            data = outg.read()
            if data:
                sock.sendall(data)

        def pump():
            data = sock.recv(1 << 16)
            if data:
                inc.write(data)
            else:
                inc.write_eof()

        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                flush()
                pump()
        flush()
        payload = bytes((i * 13 + 1) & 0xFF for i in range(4096))
        obj.write(payload)
        try:
            obj.unwrap()
        except ssl.SSLWantReadError:
            pass
        flush()
        got = bytearray()
        while True:
            try:
                chunk = obj.read(1 << 16)
                if not chunk:
                    break
                got += chunk
            except ssl.SSLWantReadError:
                pump()
            except ssl.SSLZeroReturnError:
                break
            except ssl.SSLEOFError:
                return f"FAIL: {len(got)} of {len(payload)} B, then EOF without close_notify"
    return "ok" if bytes(got) == payload else f"FAIL: {len(got)} of {len(payload)} B before close_notify"


def _send_quietly(sock, data):
    try:
        sock.sendall(data)
    except OSError:
        pass


def measure_idle(server, bins, conns):
    pid = server.pid
    time.sleep(0.2)
    rss0, fds0 = proc_rss_bytes(pid), proc_fds(pid)
    p = spawn([bins["bench_client"], "idle", "-c", str(conns), "-s", "64", server.addr],
              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              preexec_fn=_pinned("client"))
    try:
        import select
        line, opened = b"", 0
        deadline = time.time() + 60
        # Bounded: a server that stops answering (out of descriptors) must not hang the run.
        # Give up after 60 s, or once the server's descriptor count has not moved for 10 s.
        last_fds, still_since = -1, time.time()
        while time.time() < deadline and p.poll() is None:
            if not select.select([p.stdout], [], [], 0.5)[0]:
                fds = proc_fds(pid)
                if fds != last_fds:
                    last_fds, still_since = fds, time.time()
                elif time.time() - still_since > 10:
                    break
                continue
            line = p.stdout.readline()
            if line.startswith(b"ready"):
                opened = int(line.split()[1])
                break
        # Wait until the server holds them all (it may accept in batches).
        deadline = time.time() + 15
        while time.time() < deadline and proc_fds(pid) - fds0 < opened:
            time.sleep(0.05)
        time.sleep(0.5)
        rss1, fds1 = proc_rss_bytes(pid), proc_fds(pid)
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        _children.remove(p)
    if not opened:
        kinds = {}
        for fd in os.listdir(f"/proc/{pid}/fd") if os.path.exists(f"/proc/{pid}/fd") else []:
            try:
                k = os.readlink(f"/proc/{pid}/fd/{fd}").split(":")[0]
            except OSError:
                continue
            kinds[k] = kinds.get(k, 0) + 1
        top = {k: v for k, v in kinds.items() if v > 10}
        return {"error": f"idle opener stalled or failed (server fds by kind {top}): "
                         f"{p.stderr.read().decode(errors='replace')[-300:]}"}
    return {
        "connections": opened,
        "rss_bytes_per_conn": (rss1 - rss0) / opened,
        "fds_per_conn": (fds1 - fds0) / opened,
        "rss_before": rss0, "rss_after": rss1, "fds_before": fds0, "fds_after": fds1,
        "server_threads": proc_threads(pid),
    }


def median(values):
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarize(raw):
    """raw[scenario][server] = [per-rep dicts] -> medians per metric."""
    out = {}
    for scen, by_server in raw.items():
        out[scen] = {}
        for server, reps in by_server.items():
            good = [r for r in reps if "error" not in r]
            keys = sorted({k for r in good for k, v in r.items()
                           if isinstance(v, (int, float)) and not isinstance(v, bool)})
            out[scen][server] = {k: median([r.get(k) for r in good]) for k in keys}
            out[scen][server]["reps"] = len(good)
            out[scen][server]["failed_reps"] = len(reps) - len(good)
    return out


def ratio(a, b):
    return a / b if a is not None and b else None


def paired_ratio(raw, scen, a_label, b_label, metric):
    """Median over repetitions of the ratio within each repetition (a and b ran back to back),
    which a slow drift of the shared machine disturbs less than the ratio of medians."""
    if not raw or scen not in raw:
        return None
    a, b = raw[scen].get(a_label, []), raw[scen].get(b_label, [])
    return median([ra.get(metric) / rb.get(metric) for ra, rb in zip(a, b)
                   if ra.get(metric) is not None and rb.get(metric)])


def evaluate(med, raw=None):
    """Ratios echod/reference and the issue's targets."""
    rows = []

    def add(scen, metric, target, ok_fn, a, b, r):
        labels = ("echod+scrape", "echod") if scen == "scrape_100ms" else ("echod", "reference")
        key = metric.split(" ")[0]
        key = "server_" + key if key == "cpu_us_per_msg" else key
        key = {"handshakes_per_sec": "msgs_per_sec",
               "server_cpu_us_per_handshake": "server_cpu_us_per_msg"}.get(key, key)
        rows.append({"scenario": scen, "metric": metric, "echod": a, "reference": b,
                     "ratio": r, "paired_ratio": paired_ratio(raw, scen, *labels, key),
                     "target": target, "ok": (ok_fn(r) if r is not None else None)})

    for scen, kind, _, _, _ in SCENARIOS:
        if scen not in med:
            continue
        m = med[scen]
        if kind in TLS_KINDS:
            # Issue 12: >= 0.9 of the reference's msgs/s (handshakes/s for tls_handshakes); CPU
            # per message (per handshake) is shown without a target.
            e, ref = m.get("echod", {}), m.get("reference", {})
            add(scen, "handshakes_per_sec" if kind == "tls_newconn" else "msgs_per_sec", ">= 0.9",
                lambda v: v >= 0.9, e.get("msgs_per_sec"), ref.get("msgs_per_sec"),
                ratio(e.get("msgs_per_sec"), ref.get("msgs_per_sec")))
            add(scen, "server_cpu_us_per_handshake" if kind == "tls_newconn" else "server_cpu_us_per_msg",
                "", lambda v: True, e.get("server_cpu_us_per_msg"), ref.get("server_cpu_us_per_msg"),
                ratio(e.get("server_cpu_us_per_msg"), ref.get("server_cpu_us_per_msg")))
            for k in ("latency_p50_us", "latency_p99_us") if ref.get("latency_p50_us") else ():
                add(scen, k, "", lambda v: True, e.get(k), ref.get(k), ratio(e.get(k), ref.get(k)))
            continue
        if scen == "idle_10k":
            e, ref = m.get("echod", {}), m.get("reference", {})
            add(scen, "rss_bytes_per_conn", "<= 256 B", lambda v: v <= 256,
                e.get("rss_bytes_per_conn"), ref.get("rss_bytes_per_conn"),
                e.get("rss_bytes_per_conn"))
            add(scen, "fds_per_conn", "<= 1", lambda v: v <= 1.0 + 1e-3,
                e.get("fds_per_conn"), ref.get("fds_per_conn"), e.get("fds_per_conn"))
            continue
        if scen == "scrape_100ms":
            w, wo = m.get("echod+scrape", {}), m.get("echod", {})
            r = ratio(w.get("msgs_per_sec"), wo.get("msgs_per_sec"))
            add(scen, "msgs_per_sec scraped/unscraped", ">= 0.97", lambda v: v >= 0.97,
                w.get("msgs_per_sec"), wo.get("msgs_per_sec"), r)
            r = ratio(w.get("server_cpu_us_per_msg"), wo.get("server_cpu_us_per_msg"))
            add(scen, "cpu_us_per_msg scraped/unscraped", "<= 1.03", lambda v: v <= 1.03,
                w.get("server_cpu_us_per_msg"), wo.get("server_cpu_us_per_msg"), r)
            # The bound that noise cannot blur: CPU of 10 scrapes/s over the worker's CPU/s.
            per, util = wo.get("cpu_us_per_scrape"), wo.get("server_cpu_util")
            share = per * 10 / 1e6 / util if per is not None and util else None
            add(scen, "scrape CPU / echo CPU (10/s)", "<= 0.03", lambda v: v <= 0.03,
                per, util, share)
            continue
        e, ref = m.get("echod", {}), m.get("reference", {})
        thr_target = (">= 1.0", lambda v: v >= 1.0) if scen == "conn_rate_c32" else \
            (">= 0.95", lambda v: v >= 0.95)
        add(scen, "msgs_per_sec", thr_target[0], thr_target[1], e.get("msgs_per_sec"),
            ref.get("msgs_per_sec"), ratio(e.get("msgs_per_sec"), ref.get("msgs_per_sec")))
        add(scen, "server_cpu_us_per_msg", "<= 1.10", lambda v: v <= 1.10,
            e.get("server_cpu_us_per_msg"), ref.get("server_cpu_us_per_msg"),
            ratio(e.get("server_cpu_us_per_msg"), ref.get("server_cpu_us_per_msg")))
        for k in ("latency_p50_us", "latency_p99_us") if e.get("latency_p50_us") else ():
            add(scen, k, "", lambda v: True, e.get(k), ref.get(k), ratio(e.get(k), ref.get(k)))
    return rows


def fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 1e5:
            return f"{v:,.0f}"
        if abs(v) >= 100:
            return f"{v:.1f}"
        return f"{v:.{digits}g}" if abs(v) < 1 else f"{v:.{digits}f}".rstrip("0").rstrip(".")
    return str(v)


def print_table(rows, med):
    hdr = (f"{'scenario':<20} {'metric':<34} {'echod':>13} {'reference':>13} {'ratio':>7} "
           f"{'paired':>7} {'target':>9} ok")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        ok = "" if not r["target"] else ("yes" if r["ok"] else ("NO" if r["ok"] is False else "?"))
        print(f"{r['scenario']:<20} {r['metric']:<34} {fmt(r['echod']):>13} "
              f"{fmt(r['reference']):>13} {fmt(r['ratio']):>7} {fmt(r.get('paired_ratio')):>7} "
              f"{r['target']:>9} {ok}")
    print()
    print("raw medians (msgs/s, MB/s, server CPU util, client CPU util, reps):")
    for scen, by in med.items():
        for server, m in by.items():
            if "msgs_per_sec" in m:
                print(f"  {scen:<20} {server:<13} {fmt(m.get('msgs_per_sec')):>12} msg/s "
                      f"{fmt((m.get('bytes_per_sec') or 0) / 1e6):>9} MB/s  "
                      f"srv {fmt(m.get('server_cpu_util'))} cli {fmt(m.get('client_cpu_util'))}  "
                      f"reps {m.get('reps')}")
            elif "rss_bytes_per_conn" in m:
                print(f"  {scen:<20} {server:<13} rss {fmt(m.get('rss_after'))} B with "
                      f"{fmt(m.get('connections'))} conns (before {fmt(m.get('rss_before'))}), "
                      f"fds {fmt(m.get('fds_after'))}, threads {fmt(m.get('server_threads'))}")


def broken_cell(reps):
    """A verdict for a server whose driver saw errors in any repetition, else None."""
    classes = {}
    for r in reps:
        if "error" in r:
            classes["no result"] = classes.get("no result", 0) + 1
        for k, v in (r.get("error_classes") or {}).items():
            classes[k] = classes.get(k, 0) + v
    if not classes:
        return None
    return "breaks: " + ", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=lambda kv: -kv[1]))


def peer_table(doc):
    """Markdown: one row per scenario, one column per server, paired ratios to the reference
    (msgs/s, then server CPU per message); the reference's own figure in the first column."""
    raw, med = doc.get("raw") or {}, doc.get("medians") or {}
    peers = (doc.get("peers") or {}).get("measured") or []
    cols = ["echod"] + peers
    lines = []
    for metric, label, unit in (("msgs_per_sec", "throughput (msgs/s or connections/s)", "msgs/s"),
                                ("server_cpu_us_per_msg", "server CPU per message (or connection)", "us")):
        lines.append(f"{label}, ratio to the reference (paired median; higher is "
                     f"{'better' if metric in HIGHER_IS_BETTER else 'worse'}):\n")
        lines.append(f"| scenario | reference ({unit}) | " + " | ".join(cols) + " |")
        lines.append("|---|---:|" + "---:|" * len(cols))
        for scen, kind, *_ in SCENARIOS:
            if scen not in raw or kind in ("idle", "scrape") or kind in TLS_KINDS:
                continue
            ref = (med.get(scen) or {}).get("reference", {})
            cells = []
            for c in cols:
                reps = raw[scen].get(c)
                if not reps:
                    cells.append("-")
                    continue
                bad = broken_cell(reps)
                cells.append(bad if bad else fmt(paired_ratio(raw, scen, c, "reference", metric)))
            lines.append(f"| {scen} | {fmt(ref.get(metric))} | " + " | ".join(cells) + " |")
        lines.append("")
    if "idle_10k" in med:
        m, r = med["idle_10k"], raw.get("idle_10k") or {}

        def idle_cell(c):
            if c not in r:
                return f"n/a ({IDLE_SKIP.get(c, 'not run')})"
            x = m.get(c) or {}
            if not x.get("reps"):
                return "breaks: " + (r[c][0].get("error") or "?")[:90]
            return (f"{fmt(x.get('rss_bytes_per_conn'))} B, {fmt(x.get('fds_per_conn'))} fd"
                    f" ({int(x.get('connections') or 0)} conns)")
        lines.append("idle connections, user-space RSS and descriptors per connection (absolute):\n")
        lines.append("| scenario | " + " | ".join(["reference"] + cols) + " |")
        lines.append("|---|" + "---:|" * (len(cols) + 1))
        lines.append("| idle_10k | " + " | ".join(idle_cell(c) for c in ["reference"] + cols) + " |")
        lines.append("")
    conf = (doc.get("peers") or {}).get("conformance") or {}
    if conf:
        lines.append("correctness (bench.py conformance, 2 s bounded timeouts):\n")
        lines.append("| check | reference | " + " | ".join(cols) + " |")
        lines.append("|---|---|" + "---|" * len(cols))
        for key, what in CONFORMANCE:
            cells = [(conf.get(c) or {}).get(key, "-") for c in ["reference"] + cols]
            lines.append(f"| {what} | " + " | ".join(cells) + " |")
    return lines


# Paired tables of one echod build or setting against another (issue 13: this echod against
# the baseline build; issue 12: TLS on another port against none): (numerator, denominator).
PAIRS = [("echod", "baseline", "this echod / baseline (BASELINE_REV)"),
         ("echod-tls-on", "echod", "echod with TLS on another port / echod, plain port")]


def pair_table(doc, a, b, title):
    """Markdown: per scenario, paired median of a/b for msgs/s and server CPU per message (the
    same pairing as the reference ratios: a and b ran back to back in each repetition)."""
    raw, med = doc.get("raw") or {}, doc.get("medians") or {}
    lines = [f"{title} (paired median of per-repetition ratios; msgs/s higher is better, "
             "CPU/msg lower is better):\n",
             f"| scenario | {b} msgs/s | msgs/s ratio | {b} CPU us/msg | CPU/msg ratio | reps |",
             "|---|---:|---:|---:|---:|---:|"]
    for scen, kind, *_ in SCENARIOS:
        if scen not in raw or a not in raw[scen] or b not in raw[scen] or kind in ("idle", "scrape"):
            continue
        bad = broken_cell(raw[scen][a]) or broken_cell(raw[scen][b])
        mb = (med.get(scen) or {}).get(b, {})
        if bad:
            lines.append(f"| {scen} | {fmt(mb.get('msgs_per_sec'))} | {bad} | | | |")
            continue
        n = min(len(raw[scen][a]), len(raw[scen][b]))
        lines.append(f"| {scen} | {fmt(mb.get('msgs_per_sec'))} | "
                     f"{fmt(paired_ratio(raw, scen, a, b, 'msgs_per_sec'))} | "
                     f"{fmt(mb.get('server_cpu_us_per_msg'))} | "
                     f"{fmt(paired_ratio(raw, scen, a, b, 'server_cpu_us_per_msg'))} | {n} |")
    lines.append("")
    if "idle_10k" in raw and a in raw["idle_10k"] and b in raw["idle_10k"]:
        ma, mb = med["idle_10k"].get(a, {}), med["idle_10k"].get(b, {})
        lines += [f"idle_10k, user-space RSS per idle connection: {a} {fmt(ma.get('rss_bytes_per_conn'))} B, "
                  f"{b} {fmt(mb.get('rss_bytes_per_conn'))} B (medians).", ""]
    return lines


def pair_tables(doc):
    measured = ["echod"] + ((doc.get("peers") or {}).get("measured") or [])
    out = []
    for a, b, title in PAIRS:
        if a in measured and b in measured:
            out += pair_table(doc, a, b, title)
    return out


def machine_info():
    info = {"kernel": platform.release(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s*:\s*(.*)", f.read())
            info["cpu_model"] = m.group(1) if m else None
        with open("/proc/meminfo") as f:
            info["mem_total_kb"] = int(f.readline().split()[1])
    except OSError:
        pass
    info["loadavg_start"] = os.getloadavg()
    try:
        info["git_revision"] = subprocess.run(["git", "-C", REPO, "rev-parse", "--short=12", "HEAD"],
                                              capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return info


def find_bins(bin_dir):
    bins = {n: os.path.join(bin_dir, n)
            for n in ("echod", "echo-probe", "reference_echo", "reference_tls_echo", "bench_client")}
    for n in ("echod", "reference_echo", "bench_client"):
        if not os.access(bins[n], os.X_OK):
            sys.exit(f"bench: {bins[n]} is missing: build first (make bench builds it)")
    return bins


def pick_driver(bins, requested, probe_threads):
    if requested == "probe" or (requested == "auto" and os.access(bins["echo-probe"], os.X_OK)):
        if not os.access(bins["echo-probe"], os.X_OK):
            sys.exit("bench: echo-probe is missing")
        # A probe that cannot talk yet (half-built) falls back with a warning in auto mode.
        ok = subprocess.run([bins["echo-probe"], "--help"], capture_output=True).returncode in (0,)
        if ok or requested == "probe":
            return Driver(bins, "probe", probe_threads)
        log("bench: echo-probe --help failed; using bench_client for every scenario")
    return Driver(bins, "builtin", probe_threads)


def cmd_run(cfg):
    t_start = time.time()
    load_start = os.getloadavg()
    bins = find_bins(cfg.bin_dir)
    driver = pick_driver(bins, cfg.driver, cfg.probe_threads)
    os.makedirs(cfg.out_dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="echod-bench-")
    only = [n for n in cfg.only.split(",") if n]
    if only:
        wanted = [s for s in SCENARIOS if s[0] in only]
    else:  # TLS=1: every scenario; TLS=only: the TLS ones; else the plain ones
        wanted = [s for s in SCENARIOS if (s[1] in TLS_KINDS and cfg.tls != "0") or
                  (s[1] not in TLS_KINDS and cfg.tls != "only")]
    tls_wanted = any(s[1] in TLS_KINDS for s in wanted)
    echod_tls = echod_has_tls(bins["echod"])
    tls_note = None
    if tls_wanted:
        if not os.access(bins["reference_tls_echo"], os.X_OK):
            sys.exit(f"bench: {bins['reference_tls_echo']} is missing: build first (make bench-tls builds it)")
        if not echod_tls:
            tls_note = NO_TLS + ": its TLS scenarios are skipped, the reference is measured alone"
            log(f"!! {tls_note}")
    peers = parse_peers(cfg.peers)
    extra, skipped = build_peers(peers, cfg.bin_dir)
    bins.update(extra)
    for name, why in skipped.items():
        log(f"   peer {name} skipped: {why}")
    peers = [p for p in peers if p not in skipped]
    log(f">> bench: {cfg.reps} rep(s), {cfg.duration}s runs after {cfg.warmup}s warm-up, "
        f"driver {driver.mode}, peers: {','.join(peers) or 'none'}, "
        f"scenarios: {' '.join(s[0] for s in wanted)}")
    def check(kinds, tls, fn, what):
        verdicts = {}
        for kind in kinds:
            server = Server(kind, bins, workdir, tag="-conformance", tls=tls)
            try:
                verdicts[kind] = fn(server.addr)
            finally:
                server.stop()
            bad = {k: v for k, v in verdicts[kind].items() if v != "ok"}
            log(f"   {what} {kind:<10} " + ("ok" if not bad else "; ".join(f"{k}: {v}" for k, v in bad.items())))
        return verdicts
    conf = check(["echod", "reference"] + peers, False, conformance, "conformance")
    tls_conf = check(((["echod"] if echod_tls else []) + ["reference"]) if tls_wanted else [],
                     True, tls_conformance, "TLS conformance")
    raw = {s[0]: {} for s in wanted}
    truncated = False
    for scen in wanted:
        name, kind = scen[0], scen[1]
        for rep in range(cfg.reps):
            if time.time() - t_start > cfg.max_runtime:
                truncated = True
                log(f"!! runtime bound {cfg.max_runtime}s reached: skipping the rest")
                break
            if kind == "scrape":
                order = [("echod", False), ("echod+scrape", True)]
            elif kind in TLS_KINDS:  # the peers and variants speak no TLS
                order = ([("echod", None)] if echod_tls else []) + [("reference", None)]
            else:
                order = [("echod", None), ("reference", None)]
                order += [(p, None) for p in peers if not (kind == "idle" and p in IDLE_SKIP)]
            if rep % 2:
                order.reverse()
            for label, scrape in order:
                server = Server("echod" if label == "echod+scrape" else label, bins, workdir,
                                tag=f"-{name}-{rep}", tls=kind in TLS_KINDS)
                try:
                    if kind == "idle":
                        r = measure_idle(server, bins, min(cfg.idle_conns, IDLE_MAX.get(label, cfg.idle_conns)))
                    else:
                        r = measure_traffic(server, driver, scen, cfg, scrape=bool(scrape))
                        if kind == "scrape" and not scrape and "error" not in r:
                            r["cpu_us_per_scrape"] = measure_scrape_cpu(server)
                finally:
                    server.stop()
                raw[name].setdefault(label, []).append(r)
                brief = (f"{fmt(r.get('msgs_per_sec'))} msg/s, cpu {fmt(r.get('server_cpu_us_per_msg'))} us/msg"
                         if "msgs_per_sec" in r else
                         f"{fmt(r.get('rss_bytes_per_conn'))} B/conn, {fmt(r.get('fds_per_conn'))} fd/conn"
                         if "rss_bytes_per_conn" in r else r.get("error", "?"))
                if r.get("error_classes"):
                    brief += f"  BROKEN {r['error_classes']}"
                if r.get("tls_cipher"):
                    brief += f"  ({r.get('tls_protocol')} {r['tls_cipher']} {r.get('tls_group')})"
                log(f"   {name:<20} rep {rep + 1} {label:<13} {brief}")
        if truncated:
            break
    med = summarize(raw)
    rows = evaluate(med, raw)
    runtime = time.time() - t_start
    info = machine_info()
    info["loadavg_start"], info["loadavg_end"] = load_start, os.getloadavg()
    doc = {
        "kind": "echod-bench", "version": 1,
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t_start)),
        "runtime_s": round(runtime, 1), "truncated": truncated,
        "config": {"reps": cfg.reps, "duration_s": cfg.duration, "warmup_s": cfg.warmup,
                   "driver": driver.mode, "probe_threads": cfg.probe_threads,
                   "idle_connections": cfg.idle_conns, "quick": cfg.quick, "pin": cfg.pin,
                   "nice": PIN["nice"]},
        "machine": info,
        "scenarios": {s[0]: {"kind": s[1], "connections": s[2], "size": s[3], "limits": s[4]}
                      for s in wanted},
        "medians": med, "ratios": rows, "raw": raw,
    }
    doc["peers"] = {"measured": peers, "skipped": skipped,
                    "notes": {p: PEERS.get(p) or VARIANTS[p] for p in peers}, "conformance": conf}
    if "baseline" in peers:
        doc["baseline"] = baseline_info(cfg.bin_dir)
    if tls_wanted or "echod-tls-on" in peers:
        doc["tls"] = {"echod_has_tls": echod_tls, "note": tls_note, "conformance": tls_conf,
                      "certificate": "self-signed, EC P-256 (prime256v1) key, ecdsa-with-SHA256, "
                                     "made by `openssl req -x509` at bench time",
                      "client": "bench_client --tls: TLS 1.3 only, no session cache, "
                                "certificate not verified"}
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t_start))
    path = os.path.join(cfg.out_dir, f"bench-{stamp}{'-quick' if cfg.quick else ''}.json")
    latest = "latest-quick.json" if cfg.quick else "latest.json"  # a smoke run never hides a full one
    for p in (path, os.path.join(cfg.out_dir, latest)):
        with open(p, "w") as f:
            json.dump(doc, f, indent=1)
    print()
    print(f"echod vs reference_echo, one worker each, medians of {cfg.reps} rep(s) x {cfg.duration}s "
          f"(driver: {driver.mode}; pin server,client: {cfg.pin}; nice {PIN['nice']}; machine: {info.get('cpus')} CPUs {info.get('cpu_model')}, "
          f"load {info['loadavg_start'][0]:.2f} -> {info['loadavg_end'][0]:.2f})")
    print()
    print_table(rows, med)
    if tls_note:
        print(f"\nNOTE: {tls_note}")
    if [p for p in peers if p in PEERS]:
        print()
        print("\n".join(peer_table(doc)))
    if pair_tables(doc):
        print()
        print("\n".join(pair_tables(doc)))
    print()
    print(f"results: {path}")
    print(f"total runtime: {runtime:.0f} s{' (TRUNCATED by the runtime bound)' if truncated else ''}")
    return doc


# ----------------------------------------------------------------------------- cost (callgrind/strace)

def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise RuntimeError(f"no totals in {path}")


def callgrind_functions(path):
    """Self instructions per function from callgrind_annotate."""
    try:
        out = subprocess.run(["callgrind_annotate", "--threshold=100", "--inclusive=no", "--auto=no", path],
                             capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    funcs = {}
    for line in out.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(\S.*?)\s*$", line)
        if m and ":" in m.group(2) and not m.group(2).startswith("PROGRAM TOTALS"):
            name = re.sub(r"\s+\[.*\]$", "", m.group(2))
            funcs[name] = funcs.get(name, 0) + int(m.group(1).replace(",", ""))
    return funcs


STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+)?\s*(\w+)\s*$")


def strace_counts(path):
    calls, errors = {}, {}
    with open(path) as f:
        for line in f:
            m = STRACE_ROW.match(line)
            if m and m.group(3) != "total":
                calls[m.group(3)] = int(m.group(1))
                errors[m.group(3)] = int(m.group(2) or 0)
    return calls, errors


def cost_client(driver, addr, count, newconn=False, tls=False):
    """Fixed work: 50 connections x `count` messages, or (newconn) 32 connection slots x
    `count` fresh connections, each connect, 64 B echoed, close. Returns messages echoed.
    With `tls`: bench_client --tls, 4 KiB messages (newconn: 64 B after a full handshake)."""
    if tls:
        cmd = driver.tls(addr, "newconn" if newconn else "pingpong", 32 if newconn else 50,
                         64 if newconn else 4096, count=count)
    else:
        cmd = driver.pingpong(addr, 32 if newconn else 50, 64, count=count, newconn=newconn)
    doc, rc, _, err = run_client(cmd, 600)
    if doc is None or rc != 0:
        raise RuntimeError(f"cost client failed rc={rc}: {err}")
    return messages_of(doc)


PERF_EVENTS = ["raw_syscalls:sys_enter", "syscalls:sys_enter_read", "syscalls:sys_enter_write",
               "syscalls:sys_enter_readv", "syscalls:sys_enter_writev",
               "syscalls:sys_enter_recvfrom", "syscalls:sys_enter_sendto",
               "syscalls:sys_enter_recvmsg", "syscalls:sys_enter_sendmsg",
               "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait",
               "syscalls:sys_enter_epoll_ctl", "syscalls:sys_enter_accept4"]


# Per connection the close, accept and option calls matter too.
PERF_EVENTS_CONN = PERF_EVENTS + ["syscalls:sys_enter_close", "syscalls:sys_enter_setsockopt",
                                  "syscalls:sys_enter_getsockopt", "syscalls:sys_enter_shutdown",
                                  "syscalls:sys_enter_accept"]


def perf_works():
    try:
        r = subprocess.run(["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"],
                           capture_output=True, text=True, timeout=20)
        return r.returncode == 0 and "raw_syscalls" in r.stderr
    except (OSError, subprocess.TimeoutExpired):
        return False


def cost_one(kind, bins, driver, counts, workdir, tools, newconn=False, tls=False):
    res = {"server": kind}
    # 1. callgrind: user-space instructions, marginal between two workload sizes.
    if "callgrind" in tools:
        totals, msgs, funcs = [], [], []
        for n in counts:
            out = os.path.join(workdir, f"callgrind.{kind}.{n}.out")
            s = Server(kind, bins, workdir,
                       wrap=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                             "--dump-instr=no", "-q"], tag=f"-cg-{n}", tls=tls)
            try:
                msgs.append(cost_client(driver, s.addr, n, newconn, tls))
            finally:
                s.stop(timeout=120)
            totals.append(callgrind_total(out))
            funcs.append(callgrind_functions(out))
            res.setdefault("callgrind_files", []).append(out)
        dm = msgs[1] - msgs[0]
        res["messages"] = msgs
        res["instructions_total"] = totals
        res["instructions_per_msg"] = (totals[1] - totals[0]) / dm
        per_fn = {f: (funcs[1].get(f, 0) - funcs[0].get(f, 0)) / dm
                  for f in set(funcs[0]) | set(funcs[1])}
        res["instructions_per_msg_by_function"] = dict(
            sorted(((f, round(v, 1)) for f, v in per_fn.items() if abs(v) >= 0.5),
                   key=lambda kv: -kv[1])[:30])
    # 2. strace -c -f: system calls by name (strace slows the server, so epoll_wait batches
    #    more events than it would natively; read/write/epoll_ctl/EAGAIN counts are exact).
    if "strace" in tools:
        calls, errs, msgs = [], [], []
        for n in counts:
            out = os.path.join(workdir, f"strace.{kind}.{n}.txt")
            s = Server(kind, bins, workdir, wrap=["strace", "-c", "-f", "-o", out], tag=f"-st-{n}", tls=tls)
            try:
                msgs.append(cost_client(driver, s.addr, n, newconn, tls))
            finally:
                s.stop(timeout=60)
            c, e = strace_counts(out)
            calls.append(c)
            errs.append(e)
        dm = msgs[1] - msgs[0]
        names = set(calls[0]) | set(calls[1])
        per = {k: (calls[1].get(k, 0) - calls[0].get(k, 0)) / dm for k in names}
        per_err = {k: (errs[1].get(k, 0) - errs[0].get(k, 0)) / dm for k in names}
        res["strace_syscalls_per_msg"] = sum(per.values())
        res["strace_by_syscall"] = {k: round(v, 4) for k, v in sorted(per.items(), key=lambda kv: -kv[1])
                                    if abs(v) >= 0.0005}
        res["strace_errors_by_syscall"] = {k: round(v, 4) for k, v in per_err.items() if abs(v) >= 0.0005}
    # 3. perf stat syscall tracepoints: near-native speed, so batching is realistic.
    if "perf" in tools:
        vals, msgs = [], []
        for n in counts:
            s = Server(kind, bins, workdir, tag=f"-perf-{n}", tls=tls)
            out = os.path.join(workdir, f"perf.{kind}.{n}.csv")
            perf = spawn(["perf", "stat", "-x,", "-o", out, "-e", ",".join(PERF_EVENTS_CONN if newconn else PERF_EVENTS),
                          "-p", str(s.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            try:
                msgs.append(cost_client(driver, s.addr, n, newconn, tls))
            finally:
                stop(perf, sig=signal.SIGINT)
                s.stop()
            v = {}
            with open(out) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) > 2 and parts[0].isdigit():
                        v[parts[2].split(":")[-1].replace("sys_enter_", "")] = int(parts[0])
            vals.append(v)
        dm = msgs[1] - msgs[0]
        per = {k: (vals[1].get(k, 0) - vals[0].get(k, 0)) / dm for k in vals[0]}
        res["perf_syscalls_per_msg"] = per.pop("sys_enter", None)
        res["perf_by_syscall"] = {k: round(v, 4) for k, v in sorted(per.items(), key=lambda kv: -kv[1])
                                  if abs(v) >= 0.0005}
    return res


def save_cost(doc, out_dir, prefix, t_start):
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t_start))
    path = os.path.join(out_dir, f"{prefix}-{stamp}.json")
    for p in (path, os.path.join(out_dir, f"{prefix}-latest.json")):
        with open(p, "w") as f:
            json.dump(doc, f, indent=1)
    print(f"\nresults: {path}\ntotal runtime: {time.time() - t_start:.0f} s")
    return doc


def print_breakdown(results, unit, top):
    """Syscalls by name (strace, perf) and instructions by function, per `unit`."""
    for kind, res in results.items():
        if "strace_by_syscall" in res:
            print(f"\n{kind} syscalls/{unit} by name (strace; errors in brackets):")
            for k, v in res["strace_by_syscall"].items():
                er = res["strace_errors_by_syscall"].get(k)
                print(f"  {k:<16} {v:8.4f}" + (f"  [{er:.4f} failed]" if er else ""))
        if "perf_by_syscall" in res:
            print(f"{kind} syscalls/{unit} by name (perf): " +
                  ", ".join(f"{k} {v:.3f}" for k, v in res["perf_by_syscall"].items() if v))
        if "instructions_per_msg_by_function" in res:
            print(f"\n{kind} instructions/{unit} by function (self, marginal; top {top}):")
            for f, v in list(res["instructions_per_msg_by_function"].items())[:top]:
                print(f"  {v:8.1f}  {f[:110]}")


def cmd_cost(cfg):
    t_start = time.time()
    bins = find_bins(cfg.bin_dir)
    driver = pick_driver(bins, cfg.driver, cfg.probe_threads)
    os.makedirs(cfg.out_dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="echod-cost-")
    tools = ["callgrind", "strace"] + (["perf"] if cfg.perf and perf_works() else [])
    counts = [cfg.count, 2 * cfg.count]
    kinds = [k for k in cfg.servers.split(",") if k]
    extra, skipped = build_peers([k for k in kinds if k in PEERS or k in VARIANTS], cfg.bin_dir)
    bins.update(extra)
    for name, why in skipped.items():
        log(f"   {name} skipped: {why}")
    kinds = [k for k in kinds if k not in skipped]
    log(f">> cost: 50 connections x {counts} messages, 64 B, driver {driver.mode}, tools {tools}, "
        f"servers {','.join(kinds)}")
    results = {}
    for kind in kinds:
        log(f"   {kind} ...")
        results[kind] = cost_one(kind, bins, driver, counts, workdir, tools)
    print()
    print(f"deterministic cost per echoed 64 B message, 50 connections, marginal between "
          f"{counts[0]} and {counts[1]} messages per connection:")
    # echod/reference always; echod/baseline too when both ran (issue 13: the cost of the
    # fault-injection hooks with no rules, from one run).
    pairs = [(a, b) for a, b in (("echod", "reference"), ("echod", "baseline")) if a in results and b in results]
    print(f"{'':<40} " + " ".join(f"{k:>10}" for k in kinds) + "".join(f" {a + '/' + b:>16}" for a, b in pairs)
          + f" {'target':>8}")
    for key, label, target in (("instructions_per_msg", "user-space instructions/msg (callgrind)", "<= 300"),
                               ("strace_syscalls_per_msg", "syscalls/msg (strace -c)", "<= 2.1"),
                               ("perf_syscalls_per_msg", "syscalls/msg (perf, native speed)", "<= 2.1")):
        if any(key in results[k] for k in kinds):
            print(f"{label:<40} " + " ".join(f"{fmt(results[k].get(key)):>10}" for k in kinds)
                  + "".join(f" {fmt(ratio(results[a].get(key), results[b].get(key))):>16}" for a, b in pairs)
                  + f" {target:>8}")
    print_breakdown(results, "msg", 15)
    doc = {"kind": "echod-cost", "version": 1, "runtime_s": round(time.time() - t_start, 1),
           "connections": 50, "size": 64, "counts_per_connection": counts,
           "driver": driver.mode, "machine": machine_info(), "results": results}
    if "baseline" in results:
        doc["baseline"] = baseline_info(cfg.bin_dir)
    return save_cost(doc, cfg.out_dir, "cost", t_start)


def cmd_cost_tls(cfg):
    """`cost` over TLS (issue 12): echod's --tls-listen port vs reference_tls_echo, callgrind
    instructions and syscalls per 4 KiB message (50 connections x N and 2N messages) and per
    full TLS 1.3 handshake (32 slots x M and 2M connections, each 64 B echoed), marginal."""
    t_start = time.time()
    bins = find_bins(cfg.bin_dir)
    driver = pick_driver(bins, cfg.driver, cfg.probe_threads)
    if not os.access(bins["reference_tls_echo"], os.X_OK):
        sys.exit(f"bench: {bins['reference_tls_echo']} is missing: build first (make bench-tls builds it)")
    os.makedirs(cfg.out_dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="echod-cost-tls-")
    tools = ["callgrind", "strace"] + (["perf"] if cfg.perf and perf_works() else [])
    kinds = ["echod", "reference"]
    if not echod_has_tls(bins["echod"]):
        log(f"!! {NO_TLS}: the reference is measured alone")
        kinds = ["reference"]
    work = {"msg": [cfg.tls_count, 2 * cfg.tls_count], "handshake": [cfg.tls_conn_count, 2 * cfg.tls_conn_count]}
    log(f">> cost-tls: 4 KiB messages, 50 connections x {work['msg']}; handshakes, 32 slots x "
        f"{work['handshake']}; tools {tools}")
    results = {}
    for unit, counts in work.items():
        for kind in kinds:
            log(f"   {kind} per {unit} ...")
            results.setdefault(unit, {})[kind] = cost_one(kind, bins, driver, counts, workdir, tools,
                                                          newconn=unit == "handshake", tls=True)
    print()
    print("deterministic cost over TLS 1.3 (marginal): per 4 KiB message at 50 connections, per full "
          "handshake (64 B echoed, close_notify) 32 at a time:")
    print(f"{'':<44} " + " ".join(f"{k:>10}" for k in kinds) + "   echod/reference")
    for unit in work:
        for key, label in (("instructions_per_msg", f"user-space instructions/{unit} (callgrind)"),
                           ("strace_syscalls_per_msg", f"syscalls/{unit} (strace -c)"),
                           ("perf_syscalls_per_msg", f"syscalls/{unit} (perf, native speed)")):
            r = results[unit]
            if any(key in r[k] for k in kinds):
                print(f"{label:<44} " + " ".join(f"{fmt(r[k].get(key)):>10}" for k in kinds) + "   " +
                      fmt(ratio((r.get("echod") or {}).get(key), r["reference"].get(key))))
    for unit in work:
        print_breakdown(results[unit], unit, 15)
    doc = {"kind": "echod-cost-tls", "version": 1, "runtime_s": round(time.time() - t_start, 1),
           "work": work, "echod_has_tls": "echod" in kinds, "driver": "bench_client --tls",
           "machine": machine_info(), "results": results}
    return save_cost(doc, cfg.out_dir, "cost-tls", t_start)


def native_cpu_per_conn(kinds, bins, driver, count, reps, workdir):
    """Server CPU (process tree, /proc) per connection at native speed: `reps` alternating
    runs of 32 x `count` fresh connections per server, median. Also the driver's own rate."""
    out = {k: {"cpu_us_per_conn": [], "conns_per_sec": [], "client_cpu_us_per_conn": []} for k in kinds}
    for rep in range(reps):
        order = kinds if rep % 2 == 0 else list(reversed(kinds))
        for kind in order:
            s = Server(kind, bins, workdir, tag=f"-native-{rep}")
            try:
                cpu0 = s.cpu_s()
                doc, rc, ccpu, err = run_client(driver.pingpong(s.addr, 32, 64, count=count, newconn=True), 300)
                cpu1 = s.cpu_s()
            finally:
                s.stop()
            if doc is None or rc != 0:
                raise RuntimeError(f"native run against {kind} failed rc={rc}: {err}")
            n = messages_of(doc)
            out[kind]["cpu_us_per_conn"].append((cpu1 - cpu0) * 1e6 / n)
            out[kind]["conns_per_sec"].append(float(doc.get("msgs_per_sec", 0)))
            out[kind]["client_cpu_us_per_conn"].append(ccpu * 1e6 / n)
    for kind in kinds:
        out[kind]["median_client_cpu_us_per_conn"] = median(out[kind]["client_cpu_us_per_conn"])
        out[kind]["median_cpu_us_per_conn"] = median(out[kind]["cpu_us_per_conn"])
        out[kind]["median_conns_per_sec"] = median(out[kind]["conns_per_sec"])
    return out


def cmd_cost_conn(cfg):
    """`cost` per connection (issue 15): connect, 64 B echoed, close, 32 at a time; marginal
    between 32 x N and 32 x 2N connections (N = --conn-count), so start-up and shutdown cancel."""
    t_start = time.time()
    bins = find_bins(cfg.bin_dir)
    driver = pick_driver(bins, cfg.driver, cfg.probe_threads)
    kinds = cfg.servers.split(",")
    peers = [k for k in kinds if k in PEERS or k in VARIANTS]
    extra, skipped = build_peers(peers, cfg.bin_dir)
    bins.update(extra)
    kinds = [k for k in kinds if k not in skipped]
    os.makedirs(cfg.out_dir, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="echod-cost-conn-")
    tools = ["callgrind", "strace"] + (["perf"] if cfg.perf and perf_works() else [])
    counts = [cfg.conn_count, 2 * cfg.conn_count]
    log(f">> cost-conn: 32 slots x {counts} fresh connections (connect, 64 B, close), "
        f"driver {driver.mode}, tools {tools}")
    results = {}
    for kind in kinds:
        log(f"   {kind} ...")
        results[kind] = cost_one(kind, bins, driver, counts, workdir, tools, newconn=True)
    log("   native CPU per connection ...")
    native = native_cpu_per_conn(kinds, bins, driver, cfg.native_count, cfg.reps, workdir)
    for kind in kinds:
        results[kind]["native"] = native[kind]
    print()
    print(f"deterministic cost per connection (connect, 64 B echoed, close; 32 concurrent), marginal "
          f"between {32 * counts[0]} and {32 * counts[1]} connections; native: median of {cfg.reps} x "
          f"{32 * cfg.native_count} connections:")
    print(f"{'':<40} " + " ".join(f"{k:>10}" for k in kinds) + "   ratio to reference")
    for key, label in (("instructions_per_msg", "user-space instructions/conn (callgrind)"),
                       ("strace_syscalls_per_msg", "syscalls/conn (strace -c -f)"),
                       ("perf_syscalls_per_msg", "syscalls/conn (perf, native speed)")):
        vals = [results[k].get(key) for k in kinds]
        ref = results.get("reference", {}).get(key)
        print(f"{label:<40} " + " ".join(f"{fmt(v):>10}" for v in vals) + "   " +
              " ".join(fmt(ratio(v, ref)) for v in vals))
    for key, label in (("median_cpu_us_per_conn", "server CPU us/conn (native, /proc)"),
                       ("median_client_cpu_us_per_conn", "driver CPU us/conn (native)"),
                       ("median_conns_per_sec", "connections/s (driver-bound)")):
        vals = [results[k]["native"].get(key) for k in kinds]
        ref = results.get("reference", {}).get("native", {}).get(key)
        print(f"{label:<40} " + " ".join(f"{fmt(v):>10}" for v in vals) + "   " +
              " ".join(fmt(ratio(v, ref)) for v in vals))
    print_breakdown(results, "conn", 30)
    doc = {"kind": "echod-cost-conn", "version": 1, "runtime_s": round(time.time() - t_start, 1),
           "slots": 32, "size": 64, "connections_per_slot": counts, "native_reps": cfg.reps,
           "driver": driver.mode, "machine": machine_info(), "results": results}
    return save_cost(doc, cfg.out_dir, "cost-conn", t_start)


# ----------------------------------------------------------------------------- smoke

def backpressure_check(addr, total=16 << 20):
    """Writes `total` bytes while not reading for 0.5 s: the server must keep its unsent tail,
    pause reading, and still echo every byte in order once the client reads."""
    import socket
    host, port = addr.rsplit(":", 1)
    data = bytes((i * 7 + (i >> 11)) & 0xFF for i in range(1 << 16)) * (total >> 16)
    sock = socket.create_connection((host, int(port)), timeout=20)
    sender = threading.Thread(target=sock.sendall, args=(data,), daemon=True)
    sender.start()
    time.sleep(0.5)
    got = bytearray()
    while len(got) < total:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        got += chunk
    sender.join(timeout=20)
    sock.close()
    if bytes(got) != data:
        sys.exit(f"smoke: backpressure echo mismatch ({len(got)} of {total} bytes)")


def smoke_peers(cfg, bins, workdir):
    """Each peer whose toolchain is installed starts and echoes one 64 B message exactly;
    a missing toolchain is a printed skip, not a failure."""
    import socket
    names = parse_peers(cfg.peers)
    extra, skipped = build_peers(names, cfg.bin_dir)
    for name, why in skipped.items():
        print(f"smoke: peer {name} skipped: {why}")
    for name in names:
        if name in skipped:
            continue
        s = Server(name, dict(bins, **extra), workdir, tag="-smoke")
        try:
            host, port = s.addr.rsplit(":", 1)
            msg = bytes(range(64))
            with socket.create_connection((host, int(port)), timeout=5) as c:
                c.sendall(msg)
                got, why = _recv_exactly(c, len(msg), 5)
            if got != msg:
                sys.exit(f"smoke: peer {name} echoed {got!r} ({why}) for one 64 B message")
        finally:
            s.stop()
        print(f"smoke: peer {name} ok")


def smoke_tls(bins, workdir):
    """reference_tls_echo (and echod's --tls-listen port, when this echod has one) echoes every
    byte over TLS 1.3: bench_client --tls in each mode, and the Python ssl conformance checks
    (a record split across reads, 1 MiB in flight, close_notify right after data)."""
    kinds = ["reference"] + (["echod"] if echod_has_tls(bins["echod"]) else [])
    if len(kinds) == 1:
        print(f"smoke: echod TLS skipped: {NO_TLS}")
    for kind in kinds:
        s = Server(kind, bins, workdir, tag="-smoke", tls=True)
        try:
            for cmd in (["pingpong", "-c", "8", "-s", "3000", "-n", "50"],
                        ["stream", "-c", "2", "-s", "65536", "-d", "0.3"],
                        ["newconn", "-c", "4", "-d", "0.2"]):
                doc, rc, _, err = run_client([bins["bench_client"], cmd[0], "--tls"] + cmd[1:] + [s.addr], 30)
                if (rc != 0 or not doc or doc.get("errors") or doc.get("mismatches") or not doc.get("received")
                        or doc.get("resumed") or doc.get("tls_protocol") != "TLSv1.3"):
                    sys.exit(f"smoke: {kind} TLS failed {cmd}: rc={rc} {doc} {err}")
            bad = {k: v for k, v in tls_conformance(s.addr).items() if v != "ok"}
            if bad:
                sys.exit(f"smoke: {kind} TLS conformance: {bad}")
            tls_backpressure_check(s.addr)
        finally:
            s.stop()
        print(f"smoke: {kind} TLS ok")


def tls_backpressure_check(addr, total=16 << 20):
    """backpressure_check over TLS: 16 MiB written while the client reads nothing for 0.5 s."""
    import socket
    import ssl
    host, port = addr.rsplit(":", 1)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    data = bytes((i * 7 + (i >> 11)) & 0xFF for i in range(1 << 16)) * (total >> 16)
    with socket.create_connection((host, int(port)), timeout=20) as raw, ctx.wrap_socket(raw) as tls:
        got = _tls_stream(tls, data, 20, pause=0.5)
    if got != data:
        sys.exit(f"smoke: TLS backpressure echo mismatch ({len(got)} of {total} bytes)")


def cmd_build_baseline(cfg):
    """Builds (or finds up to date) echod at BASELINE_REV into build-bench-baseline/."""
    exe = build_baseline(cfg.bin_dir, cfg.rev)
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
    print(f"baseline: {exe} ({(r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) else '?'})")


def cmd_smoke(cfg):
    """The reference echoes every byte (verified by bench_client), and a tiny run writes valid JSON."""
    bins = find_bins(cfg.bin_dir)
    workdir = tempfile.mkdtemp(prefix="echod-smoke-")
    s = Server("reference", bins, workdir)
    try:
        for cmd in (["pingpong", "-c", "8", "-s", "3000", "-n", "200"],
                    ["stream", "-c", "2", "-s", "65536", "-d", "0.3"],
                    ["newconn", "-c", "4", "-d", "0.2"]):
            doc, rc, _, err = run_client([bins["bench_client"]] + cmd + [s.addr], 30)
            if rc != 0 or not doc or doc.get("errors") or doc.get("mismatches") or not doc.get("received"):
                sys.exit(f"smoke: reference_echo failed {cmd}: rc={rc} {doc} {err}")
        backpressure_check(s.addr)
    finally:
        s.stop()
    smoke_peers(cfg, bins, workdir)
    smoke_tls(bins, workdir)
    cfg.reps, cfg.duration, cfg.warmup, cfg.idle_conns, cfg.quick = 1, 0.3, 0.1, 300, True
    cfg.tls, cfg.only = "0", ""
    cfg.peers = "none"  # the peers were checked above; timing them is make bench's job
    doc = cmd_run(cfg)
    with open(os.path.join(cfg.out_dir, "latest-quick.json")) as f:
        back = json.load(f)
    assert back["medians"] and back["ratios"], "empty results"
    missing = [s[0] for s in SCENARIOS if s[0] not in back["medians"] and s[1] not in TLS_KINDS]
    assert not missing, f"scenarios missing: {missing}"
    for row in back["ratios"]:
        # CPU figures have 10 ms resolution: a sub-second smoke run may see 0 ticks.
        assert row["ratio"] is not None or not row["target"] or "cpu" in row["metric"].lower(), \
            f"no ratio for {row['scenario']} {row['metric']}"
    print("smoke: ok")
    return doc


def pooled(paths):
    """Several runs' JSON as one: repetitions concatenated, medians and ratios recomputed."""
    docs = []
    for p in paths:
        with open(p) as f:
            docs.append(json.load(f))
    doc = dict(docs[-1])
    raw = {}
    for d in docs:
        for scen, by in d["raw"].items():
            for server, reps in by.items():
                raw.setdefault(scen, {}).setdefault(server, []).extend(reps)
    doc["raw"], doc["medians"] = raw, summarize(raw)
    for d in docs[:-1]:  # conformance verdicts of every pooled run: a FAIL anywhere shows
        for kind, checks in ((d.get("peers") or {}).get("conformance") or {}).items():
            mine = doc.setdefault("peers", {}).setdefault("conformance", {}).setdefault(kind, {})
            for k, v in checks.items():
                if v != "ok":
                    mine[k] = v
    doc["config"] = dict(doc["config"], reps=sum(d["config"]["reps"] for d in docs))
    doc["started_utc"] = " + ".join(d["started_utc"] for d in docs)
    doc["runtime_s"] = sum(d["runtime_s"] for d in docs)
    doc["machine"] = dict(doc["machine"], loadavg_start=docs[0]["machine"]["loadavg_start"],
                          git_revision=", ".join(d["machine"].get("git_revision") or "?" for d in docs))
    return doc


def cmd_markdown(cfg):
    """Markdown tables of the newest run and cost JSON (for docs/performance.md);
    `markdown FILE...` pools several runs."""
    run_path = os.path.join(cfg.out_dir, os.environ.get("BENCH_RESULT", "latest.json"))
    cost_path = os.path.join(cfg.out_dir, "cost-latest.json")
    if cfg.files or os.path.exists(run_path):
        if cfg.files:
            doc = pooled(cfg.files)
        else:
            with open(run_path) as f:
                doc = json.load(f)
        c = doc["config"]
        print(f"Run {doc['started_utc']}, {c['reps']} reps x {c['duration_s']} s after {c['warmup_s']} s "
              f"warm-up, medians; driver {c['driver']}; pinned server,client CPUs {c.get('pin')}; "
              f"load {doc['machine']['loadavg_start'][0]:.2f} -> {doc['machine']['loadavg_end'][0]:.2f}; "
              f"revision {doc['machine'].get('git_revision')}; runtime {doc['runtime_s']:.0f} s.\n")
        print("| scenario | metric | echod | reference | ratio | paired ratio | target | met |")
        print("|---|---|---:|---:|---:|---:|---|---|")
        for r in evaluate(doc["medians"], doc.get("raw")):
            ok = "" if not r["target"] else ("yes" if r["ok"] else ("**no**" if r["ok"] is False else "?"))
            print(f"| {r['scenario']} | {r['metric']} | {fmt(r['echod'])} | {fmt(r['reference'])} | "
                  f"{fmt(r['ratio'])} | {fmt(r.get('paired_ratio'))} | {r['target']} | {ok} |")
        print("\n| scenario | server | msgs/s | MB/s | p50 us | p99 us | server CPU us/msg | server CPU | client CPU |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for scen, by in doc["medians"].items():
            for server, m in by.items():
                if "msgs_per_sec" in m:
                    print(f"| {scen} | {server} | {fmt(m.get('msgs_per_sec'))} | "
                          f"{fmt((m.get('bytes_per_sec') or 0) / 1e6)} | {fmt(m.get('latency_p50_us'))} | "
                          f"{fmt(m.get('latency_p99_us'))} | {fmt(m.get('server_cpu_us_per_msg'))} | "
                          f"{fmt(m.get('server_cpu_util'))} | {fmt(m.get('client_cpu_util'))} |")
        if (doc.get("peers") or {}).get("measured"):
            p = doc["peers"]
            print("\nPeers (issue 15), same driver, same run, pinned to the server CPU: " +
                  "; ".join(f"**{k}**: {v}" for k, v in p["notes"].items()) +
                  ("; skipped: " + "; ".join(f"{k} ({v})" for k, v in p["skipped"].items())
                   if p.get("skipped") else "") + ".\n")
            print("\n".join(peer_table(doc)))
        if pair_tables(doc):
            print()
            print("\n".join(pair_tables(doc)))
    tls_path = os.path.join(cfg.out_dir, "cost-tls-latest.json")
    if os.path.exists(tls_path):
        with open(tls_path) as f:
            doc = json.load(f)
        kinds = list(doc["results"]["msg"])
        print(f"\nCost over TLS 1.3 (bench_client --tls), marginal: per 4 KiB message at 50 connections "
              f"({doc['work']['msg']} messages each), per full handshake 32 at a time "
              f"({doc['work']['handshake']} connections per slot); revision {doc['machine'].get('git_revision')}"
              + ("" if doc.get("echod_has_tls") else "; echod had no TLS listener") + ":\n")
        print("| TLS | " + " | ".join(kinds) + " | echod/reference |")
        print("|---|" + "---:|" * (len(kinds) + 1))
        for unit in ("msg", "handshake"):
            r = doc["results"][unit]
            for key, label in (("instructions_per_msg", "user-space instructions"),
                               ("strace_syscalls_per_msg", "system calls (strace -c -f)"),
                               ("perf_syscalls_per_msg", "system calls (perf stat)")):
                if any(key in r[k] for k in kinds):
                    print(f"| {label} per {'4 KiB message' if unit == 'msg' else 'handshake'} | "
                          + " | ".join(fmt(r[k].get(key)) for k in kinds) + " | "
                          + fmt(ratio((r.get("echod") or {}).get(key), r["reference"].get(key))) + " |")
    conn_path = os.path.join(cfg.out_dir, "cost-conn-latest.json")
    if os.path.exists(conn_path):
        with open(conn_path) as f:
            doc = json.load(f)
        kinds = list(doc["results"])
        print(f"\nCost per connection (connect, 64 B echoed, close; {doc['slots']} at a time), marginal "
              f"between {doc['slots'] * doc['connections_per_slot'][0]} and "
              f"{doc['slots'] * doc['connections_per_slot'][1]} connections; native CPU: median of "
              f"{doc['native_reps']} alternating runs; driver {doc['driver']}, revision "
              f"{doc['machine'].get('git_revision')}:\n")
        print("| per connection | " + " | ".join(kinds) + " |")
        print("|---|" + "---:|" * len(kinds))
        for key, label in (("instructions_per_msg", "user-space instructions (callgrind)"),
                           ("strace_syscalls_per_msg", "system calls (strace -c -f)"),
                           ("perf_syscalls_per_msg", "system calls (perf stat, native speed)")):
            print(f"| {label} | " + " | ".join(fmt(doc["results"][k].get(key)) for k in kinds) + " |")
        for key, label in (("median_cpu_us_per_conn", "server CPU, us (native, /proc)"),
                           ("median_client_cpu_us_per_conn", "driver CPU, us (native)"),
                           ("median_conns_per_sec", "connections/s (native)")):
            print(f"| {label} | " + " | ".join(fmt((doc["results"][k].get("native") or {}).get(key))
                                               for k in kinds) + " |")
        names = sorted({n for k in kinds for n in doc["results"][k].get("perf_by_syscall", {})},
                       key=lambda n: -max(doc["results"][k].get("perf_by_syscall", {}).get(n, 0) for k in kinds))
        for n in names:
            print(f"| `{n}` (perf) | " + " | ".join(fmt(doc["results"][k].get("perf_by_syscall", {}).get(n))
                                                  for k in kinds) + " |")
    if os.path.exists(cost_path):
        with open(cost_path) as f:
            doc = json.load(f)
        res = doc["results"]
        kinds = list(res)
        base = doc.get("baseline")
        print(f"\nCost, 50 connections x {doc['counts_per_connection']} messages of 64 B, marginal, "
              f"driver {doc['driver']}, revision {doc['machine'].get('git_revision')}"
              + (f", baseline {base['rev']} ({base['commit'][:12]})" if base else "") + ":\n")
        both = "echod" in res and "baseline" in res
        print("| per echoed message | " + " | ".join(kinds) + " |" + (" echod/baseline |" if both else "")
              + " target |")
        print("|---|" + "---:|" * (len(kinds) + both) + "---|")
        for key, label, target in (("instructions_per_msg", "user-space instructions (callgrind)", "<= 300"),
                                   ("strace_syscalls_per_msg", "system calls (strace -c -f)", "<= 2.1"),
                                   ("perf_syscalls_per_msg", "system calls (perf stat, native speed)", "<= 2.1")):
            print(f"| {label} | " + " | ".join(fmt(res[k].get(key)) for k in kinds) + " |"
                  + (f" {fmt(ratio(res['echod'].get(key), res['baseline'].get(key)))} |" if both else "")
                  + f" {target} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", nargs="?", default="run", choices=["run", "cost", "cost-conn", "cost-tls", "smoke",
                                                                    "markdown", "build-baseline"])
    ap.add_argument("files", nargs="*", help="markdown: run JSON files to pool")
    ap.add_argument("--bin-dir", default=os.environ.get("BENCH_BIN_DIR", os.path.join(REPO, "build-bench", "bin")))
    ap.add_argument("--out-dir", default=os.environ.get("BENCH_OUT_DIR", os.path.join(HERE, "results")))
    quick = os.environ.get("QUICK", "") not in ("", "0")
    ap.add_argument("--quick", action="store_true", default=quick, help="1 rep, 2 s runs (QUICK=1)")
    ap.add_argument("--reps", type=int, default=int(os.environ.get("REPS", 0)) or None)
    ap.add_argument("--duration", type=float, default=float(os.environ.get("DURATION", 0)) or None)
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--only", default=os.environ.get("ONLY", ""), help="comma-separated scenario names")
    ap.add_argument("--driver", default=os.environ.get("BENCH_DRIVER", "auto"),
                    choices=["auto", "probe", "builtin"])
    ap.add_argument("--probe-threads", type=int, default=int(os.environ.get("PROBE_THREADS", 1)),
                    help="echo-probe -t (default 1: one core for the client, one for the server)")
    ap.add_argument("--idle-conns", type=int, default=int(os.environ.get("IDLE_CONNS", 10000)))
    ap.add_argument("--max-runtime", type=float, default=float(os.environ.get("MAX_RUNTIME", 1200)))
    ap.add_argument("--count", type=int, default=int(os.environ.get("COST_COUNT", 1000)),
                    help="cost: messages per connection of the smaller workload (the larger is 2x)")
    ap.add_argument("--conn-count", type=int, default=int(os.environ.get("COST_CONN_COUNT", 100)),
                    help="cost-conn: fresh connections per slot (32 slots) of the smaller workload")
    ap.add_argument("--native-count", type=int, default=int(os.environ.get("COST_NATIVE_COUNT", 500)),
                    help="cost-conn: fresh connections per slot (32 slots) per native CPU run")
    ap.add_argument("--tls-count", type=int, default=int(os.environ.get("COST_TLS_COUNT", 200)),
                    help="cost-tls: 4 KiB messages per connection (50) of the smaller workload")
    ap.add_argument("--tls-conn-count", type=int, default=int(os.environ.get("COST_TLS_CONN_COUNT", 20)),
                    help="cost-tls: handshakes per slot (32 slots) of the smaller workload")
    ap.add_argument("--rev", default=None, help="build-baseline: revision (default BASELINE_REV or "
                    f"{DEFAULT_BASELINE_REV})")
    ap.add_argument("--servers", default=os.environ.get("SERVERS", "echod,reference"),
                    help="cost, cost-conn: comma-separated servers (echod, reference, baseline, "
                         "the peers); SERVERS=")
    ap.add_argument("--tls", default=os.environ.get("TLS") or "0", choices=["0", "1", "only"],
                    help="run: 1 adds the TLS scenarios (tls_4k_c50, tls_bulk, tls_handshakes), "
                         "only runs just them (TLS=); ONLY= names scenarios outright")
    ap.add_argument("--peers", default=os.environ.get("PEERS", "all"),
                    help="run: peers measured next to echod and the reference, comma-separated from "
                         f"{','.join(PEERS)} (default all; 'none' for echod and the reference only)")
    ap.add_argument("--nice", type=int, default=int(os.environ.get("BENCH_NICE", -10)),
                    help="nice value for servers and drivers (root only; default -10): on a shared"
                         " machine, background builds then take ~1/9 of a core instead of half")
    ap.add_argument("--pin", default=os.environ.get("BENCH_PIN", "auto"),
                    help="SERVER_CPU,CLIENT_CPU, 'auto' (0,1 when there are 2+ CPUs) or 0 (no pinning):"
                         " a latency-bound ping-pong runs twice as fast or slow depending on whether"
                         " the scheduler puts client and server on the same CPU")
    ap.add_argument("--no-perf", dest="perf", action="store_false")
    cfg = ap.parse_args()
    if cfg.tls not in ("0", "1", "only"):
        ap.error(f"TLS={cfg.tls}: 0, 1 or only")
    if cfg.reps is None:
        cfg.reps = 1 if cfg.quick else 3
    if cfg.duration is None:
        cfg.duration = 2.0 if cfg.quick else 3.0
    if cfg.warmup is None:
        cfg.warmup = 0.5
    cfg.bin_dir = os.path.abspath(cfg.bin_dir)
    PIN["nice"] = cfg.nice if os.geteuid() == 0 else 0
    cpus = sorted(os.sched_getaffinity(0))
    if cfg.pin == "auto":
        cfg.pin = f"{cpus[0]},{cpus[1]}" if len(cpus) >= 2 else "0"
    if cfg.pin not in ("0", "", "off"):
        srv, cli = cfg.pin.split(",")
        PIN["server"], PIN["client"] = {int(srv)}, {int(cli)}
    {"run": cmd_run, "cost": cmd_cost, "cost-conn": cmd_cost_conn, "smoke": cmd_smoke,
     "markdown": cmd_markdown, "build-baseline": cmd_build_baseline, "cost-tls": cmd_cost_tls}[cfg.command](cfg)


if __name__ == "__main__":
    main()

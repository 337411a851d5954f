#!/usr/bin/env python3
"""The chaos soak (run by bench/soak.sh, which starts the private engine and the tmpfs).

Twenty services (busybox httpd, --init, restart: unless-stopped) on the engine at
DOCKER_HOST. A timer thread starts `healwatch --quiet --watch 14s -c CONFIG` every 15 s
unless the last run still goes on, as healwatch.timer does. A fault thread injects a
random fault every 5-30 s on a service with none; a checker thread times each fault
until the service answers again (or marks it missed past its bound). A `docker events`
stream counts every container start: one on a service with no fault is a false restart.
Between runs no healwatch or docker process may be left. After each run the state file
and the metrics file must parse. One JSON line at the end; exit 1 when an invariant
failed.

Faults: endpoint broken, container paused, main process SIGSTOPped, container killed
(its restart policy then off), crash loop for 20 s (the main process killed every 2 s
from the host: Docker revives it), slow start (the container replaced by one that
answers 8 s after each start), the engine restarted, the state directory full, a pass
SIGKILLed, a maintenance pause taken (and the service broken during it). And a web: a
provider (`web-vpn`, `--network none`, watched by an exec check) with two dependents in
its network namespace (no targets, each with a file in an anonymous volume), faulted
four ways: its endpoint broken (healwatch restarts it), `docker restart`, its process
killed (its policy restarts it), `docker rm -f` and run again (healwatch recreates the
dependents: `recreate_dependents = true`); healed when both dependents answer through
the provider's namespace again, and nothing is lost when their files are still there at
the end. The clock is
not stepped: that would step the whole machine's clock (the unit and integration tests
step healwatch's own with HEALWATCH_TEST_NOW).
"""

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import threading
import time
import socket
import urllib.request

KINDS = {  # kind: (weight, seconds to heal after the fault is complete)
    "endpoint_broken": (3, 30),
    "paused": (2, 30),
    "sigstopped": (2, 30),
    "killed": (2, 30),
    "crash_loop": (1, 60),
    "slow_start": (1, 90),
    "engine_restarted": (1, 120),
    "state_dir_full": (1, 30),
    "pass_sigkilled": (1, 30),
    "maintenance": (1, 30),
    "relay_misbehaves": (2, 30),
    "process_limit": (1, 45),
    "provider_broken": (1, 45),
    "provider_restarted": (1, 45),
    "provider_died": (1, 45),
    "provider_replaced": (1, 60),
}
# The web's faults: on the provider, with the dependents to heal.
WEB = {"provider_broken", "provider_restarted", "provider_died", "provider_replaced"}
VPN, DEPENDENTS = "web-vpn", ("web-dep1", "web-dep2")
SERVICES = 20
GLOBAL = {"engine_restarted", "state_dir_full", "pass_sigkilled"}


def log(*a):
    print(f"soak: {time.strftime('%H:%M:%S')}", *a, file=sys.stderr, flush=True)


def docker(*args, timeout=60):
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)


def free_port(state):
    """A port no other service of this run got (scripts/port.py says why)."""
    out = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "scripts", "port.py"), state],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise SystemExit(f"soak: {out.stderr.strip()}")
    return int(out.stdout)


def healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return r.status == 200
    except Exception:
        return False


class Relay:
    """An SMTP relay on 127.0.0.1 that takes every mail, or, while `misbehave` is set,
    greets with one continuation line a second and never finishes."""

    def __init__(self, port):
        self.port = port
        self.misbehave = False
        self.mails = 0
        self.server = socket.create_server(("127.0.0.1", port))

    def serve(self):
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        with conn:
            conn.settimeout(60)
            try:
                if self.misbehave:
                    for _ in range(600):
                        conn.sendall(b"220-still thinking\r\n")
                        time.sleep(1)
                    return
                conn.sendall(b"220 soak relay\r\n")
                reader = conn.makefile("rb")
                while True:
                    line = reader.readline()
                    if not line:
                        return
                    verb = line[:4].upper()
                    if verb == b"DATA":
                        conn.sendall(b"354 go on\r\n")
                        while reader.readline() not in (b".\r\n", b".\n", b""):
                            pass
                        self.mails += 1
                        conn.sendall(b"250 taken\r\n")
                    elif verb == b"QUIT":
                        conn.sendall(b"221 bye\r\n")
                        return
                    else:
                        conn.sendall(b"250 ok\r\n")
            except OSError:
                return


class Soak:
    def __init__(self, a):
        self.a = a
        self.start = time.monotonic()
        self.end = self.start + a.seconds
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ports = {f"svc{i:02d}": free_port(os.path.join(a.work, ".last-port")) for i in range(SERVICES)}
        self.web_quiet_until = 0.0
        self.web_ports = {name: free_port(os.path.join(a.work, ".last-port")) for name in (VPN, *DEPENDENTS)}
        self.active = {}  # service or "*": fault dict
        self.faults = []
        self.false_restarts = []
        self.excused_until = {}  # service: monotonic time its starts are expected until
        self.excuse_all_until = 0.0
        self.leaks = []
        self.unparsable = []
        self.runs = []  # (exit code, maxrss kb)
        self.max_fds = 0
        self.max_state = 0
        self.proc = None
        self.last_faulted = {s: 0.0 for s in self.ports}
        self.config = os.path.join(a.work, "healwatch.toml")
        self.state = os.path.join(a.work, "state", "state.json")
        self.metrics = os.path.join(a.work, "metrics", "healwatch.prom")
        self.events = None
        self.errors = []
        self.orphans = []
        self.last_sigkill = -1e9
        self.relay = Relay(free_port(os.path.join(a.work, ".last-port")))
        self.limited_until = 0.0
        self.overruns = []
        self.lost = []
        self.sessions = set()  # the runs' session ids

    # --- set-up -------------------------------------------------------------------
    def run_service(self, name, slow=False):
        port = self.ports[name]
        docker("rm", "-f", name)
        cmd = ["sh", "-c", f"sleep 8; exec /bin/serve {port}"] if slow else ["/bin/serve", str(port)]
        out = docker("run", "-d", "--init", "--name", name, "--network", "host", "--restart", "unless-stopped",
                     self.a.image, *cmd)
        if out.returncode != 0:
            raise SystemExit(f"soak: docker run {name}: {out.stderr.strip()}")

    def run_vpn(self):
        docker("rm", "-f", VPN)
        out = docker("run", "-d", "--init", "--name", VPN, "--network", "none", "--restart", "unless-stopped",
                     self.a.image, "/bin/serve", str(self.web_ports[VPN]))
        if out.returncode != 0:
            raise SystemExit(f"soak: docker run {VPN}: {out.stderr.strip()}")

    def set_up_web(self):
        self.run_vpn()
        for name in DEPENDENTS:
            out = docker("run", "-d", "--init", "--name", name, "--network", f"container:{VPN}", "-v", "/anon",
                         "--restart", "unless-stopped", self.a.image, "/bin/serve", str(self.web_ports[name]))
            if out.returncode != 0:
                raise SystemExit(f"soak: docker run {name}: {out.stderr.strip()}")
        deadline = time.monotonic() + 60
        while not self.web_reached():
            if time.monotonic() > deadline:
                raise SystemExit("soak: the web did not come up")
            time.sleep(0.2)
        for name in DEPENDENTS:
            docker("exec", name, "sh", "-c", "echo kept > /anon/kept")

    def say_web(self):
        """The web's containers and the last run's word on them, for a missed heal."""
        names = (VPN, *DEPENDENTS)
        out = docker("inspect", "--format", "{{.Name}} {{.State.Status}} {{.State.StartedAt}} {{.State.Error}}", *names)
        log("web: " + out.stdout.strip().replace("\n", " | "))
        try:
            with open(os.path.join(self.a.work, "healwatch.jsonl")) as log_file:
                last = log_file.readlines()[-3:]
        except OSError:
            return
        for line in last:
            try:
                said = [t for t in json.loads(line).get("targets", []) if t.get("name") in names or t.get("outcome") != "healthy"]
            except ValueError:
                continue
            log("run: " + json.dumps([{k: t.get(k) for k in ("name", "outcome", "error", "cause")} for t in said])[:1500])

    def web_reached(self):
        """Whether every dependent answers on the provider's loopback."""
        for name in DEPENDENTS:
            url = f"http://127.0.0.1:{self.web_ports[name]}/health"
            try:
                if docker("exec", VPN, "wget", "-q", "-O", "/dev/null", url, timeout=10).returncode != 0:
                    return False
            except subprocess.TimeoutExpired:
                return False
        return True

    def set_up(self):
        os.makedirs(os.path.dirname(self.metrics), exist_ok=True)
        for name in self.ports:
            self.run_service(name)
        self.set_up_web()
        deadline = time.monotonic() + 60
        while not all(healthy(p) for p in self.ports.values()):
            if time.monotonic() > deadline:
                raise SystemExit("soak: the services did not come up")
            time.sleep(0.2)
        with open(self.config, "w") as f:
            f.write("[defaults]\n")
            f.write(f'state = "{self.state}"\nlock = "{os.path.join(self.a.work, "state", "healwatch.lock")}"\n')
            f.write(f'metrics = "{self.metrics}"\nlog = "{os.path.join(self.a.work, "healwatch.jsonl")}"\n')
            f.write("quiet = true\nrecreate_dependents = true\n")
            f.write(f'notify_url = "smtp://127.0.0.1:{self.relay.port}/?from=soak@h.example&to=ops@h.example'
                    f'&encryption=none"\n')
            for name, port in self.ports.items():
                f.write(f'[[target]]\nname = "{name}"\nurl = "http://127.0.0.1:{port}/health"\n')
            vpn_url = f"http://127.0.0.1:{self.web_ports[VPN]}/health"
            f.write(f'[[target]]\nname = "{VPN}"\nexec = ["wget", "-q", "-O", "/dev/null", "{vpn_url}"]\n')
        self.events = subprocess.Popen(
            ["docker", "events", "--filter", "type=container", "--filter", "event=start",
             "--format", "{{.Actor.Attributes.name}}"],
            stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self.relay.serve, daemon=True).start()

    # --- the timer ----------------------------------------------------------------
    def timer(self):
        next_start = time.monotonic()
        while not self.stop.is_set():
            if time.monotonic() >= next_start:
                next_start = time.monotonic() + 15
                self.between_runs()
                self.one_run()
            time.sleep(0.1)

    def one_run(self):
        command = [self.a.binary, "-c", self.config, "--watch", "14s"]
        if time.monotonic() < self.limited_until:
            # An unprivileged user (the engine's socket group) allowed one task in all:
            # no thread and no child can be started.
            command = ["setpriv", "--reuid=65534", "--regid=65534", f"--groups={self.a.socket_gid}", "--",
                       "prlimit", "--nproc=1", "--", *command]
        started = time.monotonic()
        # A session of its own: whatever the run starts stays in it, so the leak check
        # sees this soak's processes and never another user's (or a container's).
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.sessions.add(proc.pid)
        with self.lock:
            self.proc = proc
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                self.max_fds = max(self.max_fds, len(os.listdir(f"/proc/{proc.pid}/fd")))
            except OSError:
                pass
            time.sleep(0.2)
        proc.returncode = os.waitstatus_to_exitcode(status)
        took = time.monotonic() - started
        if took > 14 + 20:
            # A watch of 14 s ends by then, its notifications included (8 s at most).
            self.overruns.append({"t": self.t(), "seconds": round(took, 1)})
        with self.lock:
            self.proc = None
            self.runs.append((proc.returncode, usage.ru_maxrss))
        self.check_files()

    def between_runs(self):
        """No process the runs started may be left between them: anything still in a run's
        session (each run is a session of its own) is a leak, and only that; the machine's
        other processes, another user's docker included, are none of the soak's business.
        A pass SIGKILLed cannot end what it started: its docker child (a `docker events`
        ends by its `--until`, a command when docker is done) is an orphan, counted as
        such for 150 s after the kill, and a leak after that."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    args = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            state, session = fields[0], int(fields[3])
            if session not in self.sessions or state == "Z":
                continue
            with self.lock:
                running = self.proc is not None and self.proc.pid == session
            if running:
                continue
            seen = {"t": self.t(), "process": args[:200]}
            if time.monotonic() - self.last_sigkill < 150:
                self.orphans.append(seen)
            else:
                self.leaks.append(seen)

    def check_files(self):
        try:
            size = os.path.getsize(self.state)
            self.max_state = max(self.max_state, size)
            with open(self.state) as f:
                json.load(f)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as e:
            self.unparsable.append({"t": self.t(), "file": "state", "error": str(e)[:200]})
        try:
            with open(self.metrics) as f:
                for line in f:
                    if line.strip() and not line.startswith("#"):
                        float(line.rsplit(" ", 1)[1])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, IndexError) as e:
            self.unparsable.append({"t": self.t(), "file": "metrics", "error": str(e)[:200]})

    # --- false restarts -----------------------------------------------------------
    def starts(self):
        for line in self.events.stdout:
            name = line.strip()
            if name not in self.ports:
                continue
            now = time.monotonic()
            with self.lock:
                excused = (name in self.active or "*" in self.active or now < self.excused_until.get(name, 0)
                           or now < self.excuse_all_until)
                if not excused:
                    self.false_restarts.append({"t": self.t(), "service": name})

    # --- faults -------------------------------------------------------------------
    def t(self):
        return round(time.monotonic() - self.start, 1)

    def pid_of(self, name):
        out = docker("inspect", "--format", "{{.State.Pid}}", name)
        return int(out.stdout.strip() or 0)

    def tree(self, pid):
        """`pid` and its descendants."""
        found, todo = [], [pid] if pid else []
        while todo:
            p = todo.pop()
            found.append(p)
            try:
                with open(f"/proc/{p}/task/{p}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except OSError:
                pass
        return found

    def inject(self):
        time.sleep(20)  # the first run is up
        last_fault_end = self.end - 45
        while not self.stop.is_set() and time.monotonic() < last_fault_end:
            time.sleep(random.uniform(5, 30))
            if time.monotonic() >= last_fault_end:
                break
            kinds = [k for k in KINDS if k in os.environ.get("SOAK_KINDS", k)]
            kind = random.choices(kinds, weights=[KINDS[k][0] for k in kinds])[0]
            with self.lock:
                if kind in GLOBAL and self.active:
                    continue  # a global fault only on a quiet fleet
                if "*" in self.active:
                    continue
                free = [s for s in self.ports if s not in self.active]
                # One web fault at a time, and 40 s apart: past stable_after (30 s), so each
                # heal held and the dependents' crash-loop guard has nothing to count.
                if kind in WEB and ("web" in self.active or time.monotonic() < self.web_quiet_until):
                    continue
            if not free:
                continue
            service = min(free, key=lambda s: self.last_faulted[s]) if kind not in GLOBAL else "*"
            if kind in WEB:
                service = "web"
            self.apply(kind, service)

    def apply(self, kind, service):
        fault = {"kind": kind, "service": service, "t0": self.t(), "start": time.monotonic()}
        with self.lock:
            self.active[service] = fault
            if service in self.last_faulted:
                self.last_faulted[service] = time.monotonic()
        log(f"fault {kind} on {service}")
        port = self.ports.get(service)
        if kind == "endpoint_broken":
            docker("exec", service, "rm", "-f", "/www/health")
        elif kind == "paused":
            docker("pause", service)
        elif kind == "sigstopped":
            # The init and the service under it: the whole container hangs.
            for pid in self.tree(self.pid_of(service)):
                os.kill(pid, 19)
        elif kind == "killed":
            docker("kill", service)
        elif kind == "crash_loop":
            until = time.monotonic() + 20
            while time.monotonic() < until:
                pid = self.pid_of(service)
                if pid:
                    try:
                        os.kill(pid, 9)
                    except ProcessLookupError:
                        pass
                time.sleep(2)
        elif kind == "slow_start":
            self.run_service(service, slow=True)
        elif kind == "engine_restarted":
            self.restart_engine()
        elif kind == "state_dir_full":
            filler = os.path.join(os.path.dirname(self.state), "filler")
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
            time.sleep(30)
            os.remove(filler)
        elif kind == "pass_sigkilled":
            with self.lock:
                proc = self.proc
            time.sleep(random.uniform(0, 5))
            # Not proc.poll(): the timer thread reaps its run (and reads its rusage).
            if proc and proc.returncode is None:
                try:
                    os.kill(proc.pid, 9)
                    self.last_sigkill = time.monotonic()
                except ProcessLookupError:
                    pass
        elif kind in ("relay_misbehaves", "process_limit"):
            fault["restarts_before"] = self.restarts_total(service)
            if kind == "relay_misbehaves":
                self.relay.misbehave = True
            else:
                self.limited_until = time.monotonic() + 45
            docker("exec", service, "rm", "-f", "/www/health")
        elif kind == "provider_broken":
            docker("exec", VPN, "rm", "-f", "/www/health")
        elif kind == "provider_restarted":
            docker("restart", "-t", "1", VPN)
        elif kind == "provider_died":
            docker("exec", VPN, "killall", "httpd")
        elif kind == "provider_replaced":
            self.run_vpn()
        elif kind == "maintenance":
            out = subprocess.run([self.a.binary, "pause", service, "--for", "40s", "-c", self.config],
                                 capture_output=True, text=True, timeout=180)
            fault["pause_error"] = out.stderr.strip()[:200] if out.returncode else None
            fault["started_before"] = docker("inspect", "--format", "{{.State.StartedAt}}", service).stdout.strip()
            docker("exec", service, "rm", "-f", "/www/health")
            fault["pause_ends"] = time.monotonic() + 40
        fault["applied"] = time.monotonic()

    def restarts_total(self, service):
        try:
            with open(self.state) as f:
                return json.load(f)["targets"].get(service, {}).get("restarts_total", 0)
        except (OSError, ValueError, KeyError):
            return 0

    def restart_engine(self):
        pidfile = os.path.join(os.environ["ENGINE_DIR"], "one", "dockerd.pid")
        pid = int(open(pidfile).read().strip())
        cmdline = open(f"/proc/{pid}/cmdline").read().split("\0")[:-1]
        os.kill(pid, 15)
        for _ in range(300):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)
        log_path = os.path.join(os.environ["ENGINE_DIR"], "one", "dockerd-soak.log")
        new = subprocess.Popen(cmdline, stdout=open(log_path, "a"), stderr=subprocess.STDOUT,
                               start_new_session=True)
        self.dockerd = new
        for _ in range(300):
            if docker("version", timeout=10).returncode == 0:
                break
            time.sleep(0.2)
        # The events stream ended with the old daemon: reap it, and follow the new one.
        try:
            self.events.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.events.kill()
        self.events = subprocess.Popen(
            ["docker", "events", "--filter", "type=container", "--filter", "event=start",
             "--format", "{{.Actor.Attributes.name}}"],
            stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self.guarded(self.starts), daemon=True).start()

    def check(self):
        while not self.stop.is_set():
            time.sleep(0.5)
            with self.lock:
                faults = list(self.active.items())
            for service, f in faults:
                if "applied" not in f:
                    continue
                now = time.monotonic()
                bound = KINDS[f["kind"]][1]
                done = self.healed(service, f, now)
                if done is None:
                    continue
                f["healed"] = done
                # From when healing could start: the fault complete, or its pause ended.
                f["seconds"] = round(now - max(f["applied"], f.get("pause_ends", 0)), 1)
                if not done:
                    log(f"MISSED {f['kind']} on {service} after {bound} s")
                    if service in ("web", "*"):
                        self.say_web()
                if f["kind"] == "relay_misbehaves":
                    self.relay.misbehave = False
                if f["kind"] in ("relay_misbehaves", "process_limit") and done and not f.get("guard"):
                    f["check_remembered"] = time.monotonic() + 20
                if f["kind"] == "slow_start" and done:
                    # Put the usual service back (its own starts are expected).
                    self.excused_until[service] = time.monotonic() + 30
                    self.run_service(service)
                with self.lock:
                    self.active.pop(service, None)
                    self.faults.append(f)
                    if service == "web":
                        self.web_quiet_until = time.monotonic() + 40
                    if service != "*":
                        self.excused_until[service] = max(self.excused_until.get(service, 0), time.monotonic() + 3)
                    else:
                        self.excuse_all_until = time.monotonic() + 3

    def healed(self, service, f, now):
        """True when healed, False when missed, None while it is still in time."""
        kind, bound = f["kind"], KINDS[f["kind"]][1]
        if service in ("*", "web"):
            services_up = service == "web" or all(healthy(p) for p in self.ports.values())
            if services_up and self.web_reached():
                return True
            if service == "*":
                return False if now - f["applied"] > bound else None
            if any(self.gave_up(name, f) for name in DEPENDENTS):
                # The guard stopped restarting a dependent: it did its job; the soak mends it.
                f["guard"] = True
                for name in DEPENDENTS:
                    docker("restart", "-t", "1", name)
                    subprocess.run([self.a.binary, "resume", name, "-c", self.config], capture_output=True, timeout=180)
                return True
            return False if now - f["applied"] > bound else None
        if kind == "maintenance":
            started = docker("inspect", "--format", "{{.State.StartedAt}}", service).stdout.strip()
            if now < f["pause_ends"]:
                if started != f["started_before"]:
                    f["restarted_during_pause"] = True
                    return False
                return None
            if healthy(self.ports[service]):
                return True
            return False if now - f["pause_ends"] > bound else None
        if healthy(self.ports[service]):
            return True
        if self.gave_up(service, f):
            f["guard"] = True
            docker("restart", service)
            subprocess.run([self.a.binary, "resume", service, "-c", self.config], capture_output=True, timeout=180)
            return True
        return False if now - f["applied"] > bound else None

    def gave_up(self, service, f):
        """Whether a run since the fault said the crash-loop guard gave up on it."""
        try:
            with open(os.path.join(self.a.work, "healwatch.jsonl")) as log_file:
                lines = log_file.readlines()[-40:]
        except OSError:
            return False
        for line in lines:
            try:
                l = json.loads(line)
            except ValueError:
                continue
            if any(t.get("name") == service and t.get("outcome") == "gave_up" for t in l.get("targets", [])):
                return True
        return False

    # --- the whole soak -----------------------------------------------------------
    def guarded(self, work):
        """`work`, with any exception it raises recorded: a soak whose timer or checker died
        proves nothing, so it fails."""
        def run():
            try:
                work()
            except Exception as e:  # noqa: BLE001 (any failure of the harness counts)
                self.errors.append(f"{work.__name__}: {e!r}")
                log(f"ERROR in {work.__name__}: {e!r}")
        return run

    def go(self):
        self.set_up()
        threads = [threading.Thread(target=self.guarded(x), daemon=True) for x in (self.timer, self.starts, self.check)]
        for th in threads:
            th.start()
        injector = threading.Thread(target=self.guarded(self.inject), daemon=True)
        injector.start()
        while time.monotonic() < self.end:
            time.sleep(1)
        injector.join(timeout=120)
        deadline = time.monotonic() + 180
        while self.active and time.monotonic() < deadline:
            time.sleep(1)
        self.stop.set()
        self.check_kept()
        # The timer thread reaps its last run (a watch ends within 15 s); past that, kill it.
        threads[0].join(timeout=30)
        with self.lock:
            proc = self.proc
        if proc and proc.returncode is None:
            proc.kill()
            threads[0].join(timeout=10)
        time.sleep(0.5)
        self.between_runs()
        self.events.terminate()
        if getattr(self, "dockerd", None):
            self.dockerd.terminate()
            try:
                self.dockerd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.dockerd.kill()
        return self.report()

    def check_kept(self):
        """Nothing lost: each dependent's file in its anonymous volume outlived every restart
        and recreate of the web (read while the engine still runs)."""
        for name in DEPENDENTS:
            kept = docker("exec", name, "cat", "/anon/kept", timeout=10)
            if kept.stdout.strip() != "kept":
                self.lost.append({"kind": "web", "service": name, "t": self.t(), "read": kept.stderr.strip()[:200]})

    def report(self):
        # Nothing lost: each heal under a misbehaving relay or a process limit is counted.
        for f in self.faults:
            if "check_remembered" in f and self.restarts_total(f["service"]) <= f["restarts_before"]:
                self.lost.append({"kind": f["kind"], "service": f["service"], "t": f["t0"]})
        by_kind = {}
        for f in self.faults + [dict(f, healed=False, unfinished=True) for f in self.active.values()]:
            k = by_kind.setdefault(f["kind"], {"faults": 0, "healed": 0, "guard": 0, "seconds": []})
            k["faults"] += 1
            k["healed"] += bool(f.get("healed"))
            k["guard"] += bool(f.get("guard"))
            if f.get("healed") and not f.get("guard"):
                k["seconds"].append(f["seconds"])
        for k in by_kind.values():
            s = k.pop("seconds")
            k["median_s"] = round(statistics.median(s), 1) if s else None
            k["max_s"] = max(s) if s else None
        missed = [{"kind": f["kind"], "service": f["service"], "t": f["t0"]}
                  for f in self.faults if not f.get("healed")]
        missed += [{"kind": f["kind"], "service": f["service"], "t": f["t0"], "unfinished": True}
                   for f in self.active.values()]
        codes = {}
        for code, _ in self.runs:
            codes[str(code)] = codes.get(str(code), 0) + 1
        line = {
            "seconds": self.a.seconds,
            "faults": len(self.faults) + len(self.active),
            "by_kind": by_kind,
            "missed": missed,
            "false_restarts": self.false_restarts,
            "leaked_processes": self.leaks,
            "runs_over_their_bound": self.overruns,
            "restarts_not_remembered": self.lost,
            "mails_taken": self.relay.mails,
            "orphans_after_sigkill": len(self.orphans),
            "unparsable": self.unparsable,
            "harness_errors": self.errors,
            "runs": len(self.runs),
            "run_exit_codes": codes,
            "max_rss_kb": max((r for _, r in self.runs), default=0),
            # Flat over the soak: the first run's and the last run's peak.
            "rss_kb_first_last": [self.runs[0][1], self.runs[-1][1]] if self.runs else [],
            "max_open_files": self.max_fds,
            "max_state_bytes": self.max_state,
        }
        print(json.dumps(line))
        for what, found in (("missed heals", missed), ("false restarts", self.false_restarts),
                            ("leaked processes", self.leaks), ("unparsable files", self.unparsable),
                            ("harness errors", self.errors), ("runs over their bound", self.overruns),
                            ("restarts not remembered", self.lost)):
            if found:
                print(f"FAIL: soak: {what}: {json.dumps(found)[:600]}", file=sys.stderr)
        return not (missed or self.false_restarts or self.leaks or self.unparsable or self.errors or self.overruns
                    or self.lost)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--binary", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--socket-gid", type=int, required=True, help="the engine socket's group, for the limited runs")
    a = p.parse_args()
    random.seed(os.environ.get("SOAK_SEED"))
    ok = Soak(a).go()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

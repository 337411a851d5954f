#!/usr/bin/env python3
"""What one look costs, against the floor, in the same run (bench/looks.sh runs this).

One Debian HAProxy in the foreground on 127.0.0.1 answers `200 ok` on two ports: one
for healwatch, one for the floor (bench/url-floor.c: one GET a second to each target on
a fresh connection, bounded, read to its end, nothing else). For each size N, R times:
healwatch watches N URL targets (`--watch`, notify only, no engine) while the floor makes
the same N requests a second, side by side, so what the machine does to one it does to
the other. Over a window that leaves out healwatch's first pass, each process's CPU
(user + system, from /proc) is divided by the requests HAProxy counted on its port (its
stats socket): CPU per look, and the ratio to the floor's. Prints one line per run, then
per size the medians, as JSON (one line) last.

    looks.py --healwatch BIN --floor BIN --sizes 20,1000 --seconds 20 --reps 3 [--args ...]

Loopback only; every process it starts is stopped on every exit path.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ticks(pid, part="both"):
    """The process's CPU so far (every thread, ended ones included), in s: user + system,
    or one of them ("user", "system")."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        user, system = int(fields[11]) / HZ, int(fields[12]) / HZ
        return {"both": user + system, "user": user, "system": system}[part]
    except (OSError, IndexError, ValueError):
        return None


def requests(stats_sock):
    """Requests HAProxy answered so far, per frontend."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(2)
        s.connect(stats_sock)
        s.sendall(b"show stat -1 1 -1\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    lines = data.decode().splitlines()
    header = lines[0].lstrip("# ").split(",")
    out = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split(",")))
        if row.get("svname") == "FRONTEND":
            out[row["pxname"]] = int(row.get("req_tot") or 0)
    return out


def start_haproxy(work, ports):
    cfg = os.path.join(work, "haproxy.cfg")
    sock = os.path.join(work, "stats.sock")
    with open(cfg, "w") as f:
        f.write(f"""global
  maxconn 4000
  nbthread 1
  stats socket {sock} mode 600 level user
defaults
  mode http
  timeout client 5s
  timeout server 5s
  timeout connect 1s
""")
        for name, port in ports.items():
            f.write(f"""frontend {name}
  bind 127.0.0.1:{port}
  http-request return status 200 content-type text/plain string ok
""")
    log = open(os.path.join(work, "haproxy.log"), "w")
    proc = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=log, stderr=log)
    for _ in range(50):
        if os.path.exists(sock):
            return proc, sock
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("looks.py: HAProxy did not start: " + open(log.name).read()[-2000:])


def config(work, n, port):
    path = os.path.join(work, f"c{n}.toml")
    with open(path, "w") as f:
        f.write('[defaults]\naction = "notify"\n')
        for i in range(n):
            f.write(f'[[target]]\nname = "svc{i}"\nurl = "http://127.0.0.1:{port}/health"\n')
    return path


def one_run(args, work, n, ports, sock, conf):
    state = os.path.join(work, f"state.{n}.{time.monotonic_ns()}")
    env = {"PATH": "/usr/bin:/bin", "HOME": work, "DOCKER_HOST": "unix:///nonexistent",
           "HEALWATCH_STATE": state, "HEALWATCH_LOCK": state + ".lock"}
    total = args.seconds + 3
    hw = subprocess.Popen([args.healwatch, "-c", conf, "--quiet", "--watch", f"{total}s", *args.args],
                          env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    floor = subprocess.Popen([args.floor, str(total), *[str(ports["floor"])] * n])
    try:
        time.sleep(2)  # past healwatch's first pass
        t0, c0 = time.monotonic(), requests(sock)
        h0, f0, u0, v0 = ticks(hw.pid), ticks(floor.pid), ticks(hw.pid, "user"), ticks(floor.pid, "user")
        time.sleep(args.seconds)
        h1, f1, u1, v1 = ticks(hw.pid), ticks(floor.pid), ticks(hw.pid, "user"), ticks(floor.pid, "user")
        t1, c1 = time.monotonic(), requests(sock)
    finally:
        for proc in (hw, floor):
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=30)
    if None in (h0, h1, f0, f1, u0, u1, v0, v1):
        raise SystemExit("looks.py: a process ended before the window did")
    looks_hw = c1["healwatch"] - c0["healwatch"]
    looks_floor = c1["floor"] - c0["floor"]
    wall = t1 - t0
    run = {
        "targets": n,
        "window_s": round(wall, 2),
        "looks_per_s": round(looks_hw / wall, 1),
        "healwatch_us_per_look": round((h1 - h0) / max(looks_hw, 1) * 1e6, 1),
        "floor_us_per_look": round((f1 - f0) / max(looks_floor, 1) * 1e6, 1),
        "healwatch_user_us_per_look": round((u1 - u0) / max(looks_hw, 1) * 1e6, 1),
        "floor_user_us_per_look": round((v1 - v0) / max(looks_floor, 1) * 1e6, 1),
        "healwatch_core_share": round((h1 - h0) / wall, 4),
        "floor_core_share": round((f1 - f0) / wall, 4),
    }
    run["ratio"] = round(run["healwatch_us_per_look"] / max(run["floor_us_per_look"], 0.1), 2)
    return run


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--healwatch", required=True)
    p.add_argument("--floor", required=True)
    p.add_argument("--sizes", default="20,1000")
    p.add_argument("--seconds", type=int, default=20)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--args", nargs=argparse.REMAINDER, default=[], help="more healwatch arguments")
    args = p.parse_args()
    if not (5 <= args.seconds <= 600 and 1 <= args.reps <= 20):
        raise SystemExit("looks.py: --seconds is 5-600 and --reps 1-20")
    if shutil.which("haproxy") is None:
        raise SystemExit("looks.py: haproxy is not installed (bench/looks.sh installs it)")
    work = tempfile.mkdtemp(prefix="healwatch-looks.")
    ports = {"healwatch": free_port(), "floor": free_port()}
    proxy, sock = start_haproxy(work, ports)
    summary = []
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            conf = config(work, n, ports["healwatch"])
            runs = []
            for _ in range(args.reps):
                run = one_run(args, work, n, ports, sock, conf)
                print(json.dumps(run), flush=True)
                runs.append(run)
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "targets"}
            summary.append({"targets": n, "runs": len(runs), **{k: round(v, 4) for k, v in med.items()}})
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"medians": summary}))


if __name__ == "__main__":
    sys.exit(main())

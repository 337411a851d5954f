#!/usr/bin/env python3
"""10,000 targets on 100 engines: one pass, and a watch over them (bench/fleet-scale.sh
runs this).

The engines are Engine API stand-ins (bench/big-node.py, one process, a unix socket
each), each listing 100 containers labelled `healwatch.url`; the endpoints are real: one
Debian HAProxy in the foreground on 127.0.0.1 answers every look (`200 ok`) and counts
them. healwatch runs with 100 `[[engine]]` tables that discover. Measured: one pass's
wall time and peak memory (/usr/bin/time), the targets it found and judged healthy, the
requests HAProxy counted; then a watch of S seconds: its CPU share (after its first
pass) and the looks it made a second, with its pace from the status line of the pass
that said it.

    fleet-scale.py --healwatch BIN [--engines 100] [--per-engine 100] [--seconds 30]

Loopback and unix sockets only; everything it starts is stopped on every exit path.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import looks  # noqa: E402  (HAProxy, its counts, /proc ticks)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--healwatch", required=True)
    p.add_argument("--engines", type=int, default=100)
    p.add_argument("--per-engine", type=int, default=100)
    p.add_argument("--seconds", type=int, default=30)
    args = p.parse_args()
    if not (1 <= args.engines <= 500 and 1 <= args.per_engine <= 1000 and 5 <= args.seconds <= 600):
        raise SystemExit("fleet-scale.py: engines 1-500, per-engine 1-1000, seconds 5-600")
    work = tempfile.mkdtemp(prefix="healwatch-fleet-scale.")
    port = looks.free_port()
    procs = []
    try:
        proxy, stats = looks.start_haproxy(work, {"fleet": port})
        procs.append(proxy)
        sock = os.path.join(work, "engine")
        node = subprocess.Popen(
            [sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "big-node.py"), sock,
             str(args.per_engine), "--labelled", str(args.per_engine), "--engines", str(args.engines),
             "--url", f"http://127.0.0.1:{port}/health", "--lifetime", str(args.seconds + 600)],
            stdout=subprocess.PIPE, text=True)
        procs.append(node)
        if node.stdout.readline().strip() != "ready":
            raise SystemExit("fleet-scale.py: the stand-in engines did not start")
        conf = os.path.join(work, "fleet.toml")
        with open(conf, "w") as f:
            f.write('[defaults]\naction = "notify"\n\n[[engine]]\nname = "local"\ndiscover = false\n')
            for e in range(args.engines):
                f.write(f'\n[[engine]]\nname = "node{e}"\nhost = "unix://{sock}.{e}"\ndiscover = true\n')
        env = {"PATH": "/usr/bin:/bin", "HOME": work, "DOCKER_HOST": "unix:///nonexistent",
               "HEALWATCH_STATE": os.path.join(work, "state.json"), "HEALWATCH_LOCK": os.path.join(work, "lock")}
        before = looks.requests(stats)["fleet"]
        timed = subprocess.run(["/usr/bin/time", "-v", args.healwatch, "-c", conf], env=env,
                               capture_output=True, text=True, timeout=300)
        asked = looks.requests(stats)["fleet"] - before
        line = json.loads(timed.stdout.strip().splitlines()[-1])
        stat = dict(l.strip().split(": ", 1) for l in timed.stderr.splitlines() if ": " in l)
        h, m, s = (["0"] + stat["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"))[-3:]
        one = {
            "pass_wall_s": round(int(h) * 3600 + int(m) * 60 + float(s), 2),
            "pass_peak_rss_mib": round(int(stat["Maximum resident set size (kbytes)"]) / 1024, 1),
            "pass_cpu_s": round(float(stat["User time (seconds)"]) + float(stat["System time (seconds)"]), 2),
            "engines_up": sum(1 for e in line.get("engines", []) if e.get("up")),
            "targets": line["summary"]["targets"],
            "healthy": line["summary"]["healthy"],
            "looks_counted": asked,
            "exit": timed.returncode,
        }
        print(json.dumps(one), flush=True)
        # A watch over them: its CPU after the first pass, its looks a second, its pace.
        out = os.path.join(work, "watch.jsonl")
        with open(out, "w") as lines:
            watch = subprocess.Popen([args.healwatch, "-c", conf, "--watch", f"{args.seconds + 10}s"], env=env,
                                     stdout=lines, stderr=subprocess.DEVNULL)
            procs.append(watch)
            time.sleep(8)
            t0, c0, k0 = time.monotonic(), looks.requests(stats)["fleet"], looks.ticks(watch.pid)
            time.sleep(args.seconds)
            t1, c1, k1 = time.monotonic(), looks.requests(stats)["fleet"], looks.ticks(watch.pid)
            watch.terminate()
            watch.wait(timeout=60)
        paces = [json.loads(l).get("watch") for l in open(out) if l.strip()]
        watched = {
            "watch_core_share": round((k1 - k0) / (t1 - t0), 3),
            "watch_looks_per_s": round((c1 - c0) / (t1 - t0), 1),
            "watch_passes": len(paces),
            "watch_pace_last_said": paces[-1] if paces else None,
        }
        print(json.dumps(watched), flush=True)
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Print a TCP port on 127.0.0.1 for a test service, one no other caller of this run got.

    python3 scripts/port.py STATE

STATE is a file of this run's own (created if missing) that remembers the last port
handed out. Ports are taken below the kernel's ephemeral range, so no client's source
port lands on one while its service is down for a restart, and each is checked free
(bindable) when handed out. Binding port 0 and closing it, as the scripts did before,
can hand the same port to two services: the second then crash-loops on "address in
use" while its port answers from the first.
"""
import fcntl
import os
import random
import socket
import sys
import time

SPAN = 10000


def ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def bindable(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: port.py STATE")
    high = ephemeral_low()
    low = max(1024, high - SPAN)
    # Callers may run side by side: the lock makes each read-pick-write one step.
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "r+") as f:
        for _ in range(200):  # 10 s at most
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                time.sleep(0.05)
        else:
            sys.exit(f"port.py: {sys.argv[1]} stayed locked for 10 s")
        try:
            last = int(f.read().strip())
        except ValueError:
            last = random.randrange(low, high - SPAN // 2)
        for step in range(1, SPAN):
            port = low + (last - low + step) % (high - low)
            if bindable(port):
                f.seek(0)
                f.truncate()
                f.write(f"{port}\n")
                print(port)
                return
    sys.exit(f"port.py: no free port in {low}..{high}")


if __name__ == "__main__":
    main()

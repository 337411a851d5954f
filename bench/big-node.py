#!/usr/bin/env python3
"""An Engine API stand-in for a node with many containers, on a unix socket.

  python3 bench/big-node.py SOCKET N [--labelled K] [--url URL] [--engines E] [--lifetime S]

GET /containers/json answers N containers as the API lists them (compose's ten labels on
each, about 1.5 kB a container), K of them labelled healwatch.url (URL/<i>, by default
http://127.0.0.1:1/health/<i>, where nothing listens: a dry run reports them). Every
other request is a 404. With --engines E, E engines are served, on SOCKET.0 to
SOCKET.<E-1>, their containers' names starting e<i>-. Prints "ready" once it serves,
then serves until killed or --lifetime seconds pass.
"""
import argparse
import json
import os
import socket
import sys
import threading
import time


def container(i, labelled, url="http://127.0.0.1:1/health", engine=""):
    labels = {
        "com.docker.compose.project": f"proj{i % 500}",
        "com.docker.compose.service": f"svc{i % 7}",
        "com.docker.compose.container-number": "1",
        "com.docker.compose.oneoff": "False",
        "com.docker.compose.config-hash": f"{i:064x}",
        "com.docker.compose.image": "sha256:" + f"{i * 7:064x}",
        "com.docker.compose.project.config_files": f"/srv/proj{i % 500}/compose.yml",
        "com.docker.compose.project.working_dir": f"/srv/proj{i % 500}",
        "com.docker.compose.version": "2.27.0",
        "org.opencontainers.image.source": "https://example.invalid/app",
    }
    if labelled:
        labels["healwatch.url"] = f"{url}/{i}"
    return {
        "Id": f"{i:064x}",
        "Names": [f"/{engine}proj{i % 500}-svc{i % 7}-{i}"],
        "Image": "example/app:1.4",
        "ImageID": "sha256:" + f"{i:064x}",
        "Command": "/bin/serve 8080",
        "Created": 1700000000,
        "Ports": [],
        "Labels": labels,
        "State": "running",
        "Status": "Up 3 hours",
        "HostConfig": {"NetworkMode": "host"},
        "NetworkSettings": {"Networks": {}},
        "Mounts": [],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("n", type=int)
    ap.add_argument("--labelled", type=int, default=0)
    ap.add_argument("--url", default="http://127.0.0.1:1/health")
    ap.add_argument("--engines", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()
    every = max(1, args.n // args.labelled) if args.labelled else 0
    engines = [(args.socket, "")] if args.engines <= 0 else [(f"{args.socket}.{e}", f"e{e}-") for e in range(args.engines)]

    def answer(prefix):
        body = json.dumps([container(i, every and i % every == 0, args.url, prefix) for i in range(args.n)]).encode()
        head = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
        return head + body

    def serve(conn, listing):
        with conn:
            conn.settimeout(10)
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 65536:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                request += chunk
            line = request.split(b"\r\n", 1)[0]
            if line.startswith(b"GET /containers/json"):
                conn.sendall(listing)
            else:
                conn.sendall(b"HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\n\r\n{\"message\":\"no such thing\"}")

    def accept(server, listing):
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn, listing), daemon=True).start()

    for path, prefix in engines:
        if os.path.exists(path):
            os.unlink(path)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        server.listen(64)
        threading.Thread(target=accept, args=(server, answer(prefix)), daemon=True).start()
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Health endpoints for the benchmark: one process, one port on 127.0.0.1, many paths.

  /ok/<n>    200 "ok"
  /fail/<n>  503 "down"
  /hang/<n>  accepts, reads the request, never answers

Prints the port on stdout, then serves until killed (or --lifetime seconds pass).
"""
import argparse
import asyncio
import sys


async def handle(reader, writer):
    try:
        line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        path = line.split(b" ")[1] if b" " in line else b"/"
        if path.startswith(b"/hang/"):
            await asyncio.sleep(3600)
            return
        if path.startswith(b"/ok/"):
            status, body = b"200 OK", b"ok"
        else:
            status, body = b"503 Service Unavailable", b"down"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
    except (ConnectionError, asyncio.CancelledError, IndexError):
        pass
    finally:
        writer.close()


async def main(lifetime):
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await asyncio.sleep(lifetime)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lifetime", type=float, default=3600)
    asyncio.run(main(parser.parse_args().lifetime))
    sys.exit(0)

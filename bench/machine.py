"""What the machine under a benchmark is worth, printed beside its figures.

Machines sold as "2 cores" differ by 3x on this stack: the claim bench gave 484-515
cycles/s on one and 150-170 on the next, same code, on a fresh database each. The
second runs plain Python and PBKDF2 at ordinary speed, but a read that misses the
caches costs it 300-600 ns more than an in-order one, several times DRAM's ~100 ns
on bare metal (nested virtualisation makes each TLB miss a long page walk); a
server's Python heap and PostgreSQL's buffers miss all the time. So four figures:
one core of plain Python, the C code of PBKDF2 (as in every login), random reads
over 256 MB against in-order ones, and a loopback TCP round trip between two
processes (each claim crosses four: bot to Daphne, Daphne to PostgreSQL, and back)."""

import array
import hashlib
import os
import random
import socket
import time
from pathlib import Path


def _python_loop_seconds() -> float:
    started = time.perf_counter()
    total = 0
    for i in range(10_000_000):
        total += i
    return time.perf_counter() - started


def _pbkdf2_seconds() -> float:
    started = time.perf_counter()
    hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1_000_000)
    return time.perf_counter() - started


def _random_read_extra_ns(reads: int = 1_000_000) -> float:
    """Nanoseconds a random read over 256 MB costs beyond a sequential one."""
    memory = array.array("q", bytes(8 * 32 * 1024 * 1024))
    rng = random.Random(2026)
    where = array.array("q", (rng.randrange(len(memory)) for _ in range(reads)))

    def scattered():
        total = 0
        for i in where:
            total += memory[i]
        return total

    def in_order():
        total = 0
        for i in range(reads):
            total += memory[i]
        return total

    timings = []
    for read in (scattered, in_order):
        started = time.perf_counter()
        read()
        timings.append(time.perf_counter() - started)
    return (timings[0] - timings[1]) / reads * 1e9


def _loopback_round_trip_us(trips: int = 5_000) -> float:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    child = os.fork()
    if child == 0:  # echo one byte back, until the other side closes
        peer, _ = server.accept()
        peer.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while data := peer.recv(16):
            peer.sendall(data)
        os._exit(0)
    server.close()
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        for _ in range(trips):
            client.sendall(b"x")
            client.recv(16)
        elapsed = time.perf_counter() - started
    os.waitpid(child, 0)
    return elapsed / trips * 1e6


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def describe() -> str:
    """One line: the machine's size and speed, measured now (a few seconds)."""
    return (
        f"machine: {os.cpu_count()} CPUs; 10M-step Python loop "
        f"{_python_loop_seconds():.2f} s; PBKDF2-SHA256 x1M {_pbkdf2_seconds():.2f} s; "
        f"a random read over 256 MB {_random_read_extra_ns():.0f} ns more than an "
        f"in-order one; loopback TCP round trip {_loopback_round_trip_us():.0f} us"
    )


if __name__ == "__main__":
    print(describe())

"""Shared by the Linux MD kernel tests: the case matrix, the data pattern, the bundle of member
images handed to the guest as one virtio disk, and the meshraid steps on the host.

A bundle is one raw file holding every member image of every case back to back (1 MiB
aligned); the guest maps each member with `losetup --offset --sizelimit`. The cases file
(one line per case, fields separated by '|') tells the guest where each member is:
    name|level|layout|chunk_kib|bitmap|raid_devices|array_bytes|sha256|degraded|OFF:SIZE,OFF:SIZE...
"""
import atexit
import hashlib
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))
import pattern  # noqa: E402  (tests/golden/pattern.py: the golden arrays' data pattern)

MIB = 1 << 20


class Case:
    def __init__(self, name, level, ndev, layout=None, bitmap=False, chunk_kib=512,
                 member_bytes=16 * MIB, extra=None):
        self.name, self.level, self.ndev = name, level, ndev
        self.layout, self.bitmap, self.chunk_kib = layout, bitmap, chunk_kib
        self.member_bytes, self.extra = member_bytes, extra
        self.members = []      # host paths (files inside the work directory)
        self.offsets = []      # offsets in the bundle
        self.array_bytes = 0
        self.sha256 = ""
        self.degraded = 0

    def create_args(self):
        a = [f"--level={self.level}", f"--raid-devices={self.ndev}",
             f"--bitmap={'internal' if self.bitmap else 'none'}"]
        if self.level == 10:
            a += [f"--layout={self.layout}", f"--chunk={self.chunk_kib}K"]
        return a

    def line(self):
        places = ",".join(f"{o}:{self.member_bytes}" for o in self.offsets)
        return "|".join(str(x) for x in (
            self.name, self.level, self.layout or "-", self.chunk_kib if self.level == 10 else 0,
            "internal" if self.bitmap else "none", self.ndev, self.array_bytes, self.sha256 or "-",
            self.degraded, places))


def matrix(prefix=""):
    """RAID1 with 2 and 3 members, with and without a bitmap; RAID10 near/far/offset 2..4."""
    cases = []
    for n in (2, 3):
        for bm in (False, True):
            cases.append(Case(f"{prefix}r1-{n}{'-bitmap' if bm else ''}", 1, n, bitmap=bm))
    for lay in ("n2", "f2", "o2"):
        for n in (2, 3, 4):
            cases.append(Case(f"{prefix}r10-{lay}-{n}", 10, n, layout=lay, chunk_kib=64 if n == 3 else 512))
    return cases


def image(tag, array_bytes, writes):
    """The array's expected content: pattern writes (gen, start_sector, count) over zeroes."""
    buf = bytearray(array_bytes)
    for gen, start, count in writes:
        for lba in range(start, start + count):
            buf[lba * 512:(lba + 1) * 512] = pattern.sector(tag, gen, lba)
    return bytes(buf)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def make_bundle(path, cases):
    """Places every case's members in one sparse file; returns its size."""
    off = 0
    for c in cases:
        c.offsets = []
        for _ in range(c.ndev):
            c.offsets.append(off)
            off += (c.member_bytes + MIB - 1) // MIB * MIB
    with open(path, "wb") as f:
        f.truncate(off)
    return off


def copy_into_bundle(bundle, case):
    with open(bundle, "r+b") as out:
        for m, off in zip(case.members, case.offsets):
            with open(m, "rb") as src:
                out.seek(off)
                out.write(src.read())


def split_bundle(bundle, case, work):
    """The member images of a case, cut out of the bundle the guest wrote."""
    case.members = []
    with open(bundle, "rb") as f:
        for i, off in enumerate(case.offsets):
            f.seek(off)
            p = os.path.join(work, f"{case.name}.m{i}.img")
            with open(p, "wb") as out:
                out.write(f.read(case.member_bytes))
            case.members.append(p)


def write_cases(path, cases):
    with open(path, "w") as f:
        for c in cases:
            f.write(c.line() + "\n")


_live = []  # servers a failing test leaves behind are killed at exit


@atexit.register
def _kill_live():
    for p in _live:
        if p.poll() is None:
            p.kill()
            p.wait()


class Server:
    """`meshraid run` on the host, serving an array on a Unix socket."""

    def __init__(self, meshraid, members, sock, log, name):
        self.sock, self.log_path, self.name = sock, log, name
        self.uri = f"nbd+unix:///{name}?socket={sock}"
        self.log = open(log, "w")
        self.proc = subprocess.Popen([meshraid, "run", f"--export={self.uri}", *members],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        _live.append(self.proc)
        for _ in range(300):
            if os.path.exists(sock):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise SystemExit(f"FAIL: meshraid run did not start:\n{open(log).read()}")

    def write(self, data_file):
        subprocess.run(["nbdcopy", "--flush", data_file, self.uri], check=True)

    def read_sha256(self):
        out = subprocess.run(["nbdcopy", self.uri, "-"], check=True, capture_output=True).stdout
        return sha256(out)

    def stop(self):
        self.proc.terminate()
        rc = self.proc.wait(timeout=120)
        self.log.close()
        text = open(self.log_path).read()
        if rc != 0 or "stopped cleanly" not in text:
            raise SystemExit(f"FAIL: meshraid run exited {rc} without a clean stop:\n{text}")
        return text


def run_guest(work, meshraid, disks, script, files, timeout):
    cmd = [sys.executable, os.path.join(HERE, "guest.py"), "--run-dir", work, "--meshraid", meshraid,
           "--timeout", str(timeout)]
    for name, img in disks:
        cmd += ["--disk", f"{name}={img}"]
    for f in files:
        cmd += ["--file", f]
    cmd.append(os.path.join(HERE, "guest", script))
    return subprocess.run(cmd).returncode


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)

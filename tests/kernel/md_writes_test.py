#!/usr/bin/env python3
"""Kernel test: meshraid reads what Linux MD writes, live.

In the guest (guest/md_create.sh) mdadm creates RAID1 (2, 3 members, with and without a
bitmap) and RAID10 near/far/offset 2..4 arrays, plus a RAID10 near grown from 2 to 4 members
with `mdadm --grow` and a RAID1 with a member failed, written past and re-added; MD writes two
pattern generations, checks, and stops. On the host, from the member bytes MD left:
`meshraid cat` must give the sha256 MD read, and `meshraid run` must start without resyncing
or recovering anything MD marked clean and serve the same bytes.

    md_writes_test.py [--make-golden DIR]

--make-golden also writes each case, with 64 MiB members, as a golden case folder in DIR (the
format of tests/golden; see golden_case.py), from the members as MD left them.
"""
import argparse
import json
import os
import shutil
import subprocess
import time

import md_cases as mc


def cases(member_bytes):
    out = mc.matrix()
    out.append(mc.Case("r1-2-readd", 1, 2, bitmap=True, extra="readd"))
    out.append(mc.Case("r10-n2-grow-2to4", 10, 4, layout="n2", extra="reshape"))
    for c in out:
        c.member_bytes = member_bytes
    return out


def stream_bytes(c):
    """An upper bound of the array's size: all the pattern one generation needs."""
    return c.member_bytes if c.level == 1 else c.member_bytes * c.ndev // 2


def make_src(path, cs):
    """Both pattern generations of every case, back to back; sets c.gen1, c.gen2."""
    off = 0
    with open(path, "wb") as f:
        for c in cs:
            n = stream_bytes(c)
            c.gen1, c.gen2 = off, off + n
            for gen in (1, 2):
                f.write(mc.image(c.name, n, [(gen, 0, n // 512)]))
            off += 2 * n


def guest_line(c):
    places = ",".join(f"{o}:{c.member_bytes}" for o in c.offsets)
    return "|".join(str(x) for x in (
        c.name, c.level, c.layout or "-", f"{c.chunk_kib}K", "internal" if c.bitmap else "none",
        c.ndev, c.extra or "plain", places, c.gen1, c.gen2, stream_bytes(c)))


def meshraid_reads(meshraid, work, c, md_sha, sectors):
    r = subprocess.run([meshraid, "cat", *c.members], capture_output=True)
    if r.returncode != 0:
        mc.fail(f"{c.name}: meshraid cat: {r.stderr.decode().strip()}")
    if len(r.stdout) != sectors * 512 or mc.sha256(r.stdout) != md_sha:
        mc.fail(f"{c.name}: meshraid cat gives {len(r.stdout)} bytes, sha256 {mc.sha256(r.stdout)}; "
                f"MD read {sectors * 512} bytes, {md_sha}")
    srv = mc.Server(meshraid, c.members, os.path.join(work, f"{c.name}.sock"),
                    os.path.join(work, f"{c.name}.run.log"), c.name)
    time.sleep(0.5)  # a resync would have been started by now
    st = subprocess.run([meshraid, "stat", "--json", c.name], capture_output=True, text=True)
    if st.returncode != 0:
        mc.fail(f"{c.name}: meshraid stat: {st.stderr.strip()}")
    status = json.loads(st.stdout)
    arrays = status if isinstance(status, list) else status.get("arrays", [status])
    for a in arrays:
        if a.get("sync") or a.get("sync_action", "idle") != "idle":
            mc.fail(f"{c.name}: meshraid is syncing an array MD left clean: {a.get('sync_action')} {a.get('sync')}")
    served = srv.read_sha256()
    log = srv.stop()
    if served != md_sha:
        mc.fail(f"{c.name}: meshraid run serves sha256 {served}, MD read {md_sha}")
    busy = [line for line in log.splitlines() if "started at sector" in line or "recovery of" in line]
    if busy:
        mc.fail(f"{c.name}: meshraid resynced an array MD left clean:\n" + "\n".join(busy))
    if f"with {c.ndev} members" not in log:
        mc.fail(f"{c.name}: meshraid did not assemble all {c.ndev} members:\n{log}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--make-golden", metavar="DIR")
    o = ap.parse_args()
    meshraid, work = os.environ["MESHRAID"], os.environ["WORK"]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.environ.setdefault("MESHRAID_RUN_DIR", os.path.join(work, "run"))
    cs = cases(64 * mc.MIB if o.make_golden else 16 * mc.MIB)
    bundle, src = os.path.join(work, "bundle.img"), os.path.join(work, "src.img")
    mc.make_bundle(bundle, cs)
    make_src(src, cs)
    cases_file = os.path.join(work, "cases.txt")
    with open(cases_file, "w") as f:
        for c in cs:
            f.write(guest_line(c) + "\n")
    rc = mc.run_guest(work, meshraid, [("bundle", bundle), ("src", src)], "md_create.sh",
                      [cases_file, os.path.join(mc.HERE, "guest", "md_lib.sh")], timeout=900)
    if rc != 0:
        raise SystemExit(rc)

    for c in cs:
        rec = os.path.join(work, "out", c.name)
        words = open(os.path.join(rec, "sha256.txt")).read().split()
        md_sha, sectors = words[2], int(words[4])
        writes = [tuple(int(x) for x in line.split()) for line in open(os.path.join(rec, "writes.txt"))]
        want = mc.sha256(mc.image(c.name, sectors * 512, writes))
        if md_sha != want:
            mc.fail(f"{c.name}: MD read sha256 {md_sha}, the pattern writes {writes} give {want}")
        mc.split_bundle(bundle, c, work)
        if o.make_golden:
            import golden_case
            golden_case.write_case(o.make_golden, c, rec, writes, md_sha, sectors,
                                   os.path.join(work, "out", "dmesg"))
        meshraid_reads(meshraid, work, c, md_sha, sectors)
        print(f"host: {c.name}: meshraid cat and run read MD's {sectors} sectors (sha256 {md_sha[:16]}), "
              f"no resync")
    print(f"md_writes: {len(cs)} arrays written by Linux MD read back by meshraid")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Kernel test: Linux MD reads the arrays meshraid writes.

On the host, for RAID1 (2, 3 members, with and without a bitmap) and RAID10 near/far/offset
with 2..4 members: `meshraid create`, `meshraid run`, a known pattern written through its NBD
server (two generations), read back, clean stop. Two degraded cases: a member failed and
removed while meshraid ran, then more writes. In the guest (guest/md_assemble.sh) the kernel's
MD assembles each from the same member bytes and must read the same sha256, report the
expected degraded count, and find no mismatch in a check.
"""
import os
import shutil
import subprocess
import sys

import md_cases as mc


def main():
    meshraid, work = os.environ["MESHRAID"], os.environ["WORK"]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    os.environ.setdefault("MESHRAID_RUN_DIR", os.path.join(work, "run"))
    cases = mc.matrix() + [mc.Case("degraded-r1-2", 1, 2, bitmap=True),
                           mc.Case("degraded-r10-n2-4", 10, 4, layout="n2")]
    bundle = os.path.join(work, "bundle.img")
    mc.make_bundle(bundle, cases)
    for c in cases:
        c.members = [os.path.join(work, f"{c.name}.m{i}.img") for i in range(c.ndev)]
        for m in c.members:
            with open(m, "wb") as f:
                f.truncate(c.member_bytes)
        subprocess.run([meshraid, "create", "--assume-clean", f"--name={c.name}", *c.create_args(),
                        *c.members], check=True, stdout=subprocess.DEVNULL)
        srv = mc.Server(meshraid, c.members, os.path.join(work, f"{c.name}.sock"),
                        os.path.join(work, f"{c.name}.run.log"), c.name)
        size = int(subprocess.run(["nbdinfo", "--size", srv.uri], check=True, capture_output=True,
                                  text=True).stdout)
        c.array_bytes = size
        sectors = size // 512
        writes = [(1, 0, sectors)]
        data = os.path.join(work, "data.img")
        with open(data, "wb") as f:
            f.write(mc.image(c.name, size, writes))
        srv.write(data)
        if c.name.startswith("degraded"):
            gone = c.members[-1]
            for op in ("--fail", "--remove"):
                subprocess.run([meshraid, "manage", c.name, op, gone], check=True,
                               stdout=subprocess.DEVNULL)
            c.degraded = 1
        writes.append((2, sectors // 4, sectors // 8))
        expected = mc.image(c.name, size, writes)
        with open(data, "wb") as f:
            f.write(expected)
        srv.write(data)
        c.sha256 = mc.sha256(expected)
        got = srv.read_sha256()
        if got != c.sha256:
            mc.fail(f"{c.name}: meshraid reads back {got}, wrote {c.sha256}")
        srv.stop()
        mc.copy_into_bundle(bundle, c)
        print(f"host: {c.name}: {c.ndev} members, {size} bytes written through meshraid, sha256 {c.sha256[:16]}")
    cases_file = os.path.join(work, "cases.txt")
    mc.write_cases(cases_file, cases)
    rc = mc.run_guest(work, meshraid, [("bundle", bundle)], "md_assemble.sh",
                      [cases_file, os.path.join(mc.HERE, "guest", "md_lib.sh")], timeout=600)
    sys.exit(rc)


if __name__ == "__main__":
    main()

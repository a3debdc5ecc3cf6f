#!/usr/bin/env python3
"""Creates arrays with meshraid on sparse files and checks them with the real mdadm."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL: " + what)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def mdadm_fields(text):
    fields = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Za-z' ]+?) : (.*)$", line)
        if m:
            fields[m.group(1).strip()] = m.group(2).strip()
    return fields


CASES = [
    # name, create args, members, member size
    ("r1-2", ["--level=1", "--raid-devices=2"], 2, "256M"),
    ("r1-3", ["--level=1", "--raid-devices=3"], 3, "256M"),
    ("r1-2-bitmap", ["--level=1", "--raid-devices=2", "--bitmap=internal"], 2, "1G"),
    ("r1-3-bitmap", ["--level=1", "--raid-devices=3", "--bitmap=internal"], 3, "256M"),
    ("r10-n2-4", ["--level=10", "--layout=n2", "--raid-devices=4"], 4, "256M"),
    ("r10-n2-4-bitmap", ["--level=10", "--layout=n2", "--raid-devices=4", "--bitmap=internal"], 4, "256M"),
    ("r10-n2-3-64k", ["--level=10", "--layout=n2", "--chunk=64", "--raid-devices=3"], 3, "256M"),
    ("r10-f2-4", ["--level=10", "--layout=f2", "--raid-devices=4"], 4, "256M"),
    ("r10-f2-4-bitmap", ["--level=10", "--layout=f2", "--raid-devices=4", "--bitmap=internal"], 4, "256M"),
    ("r10-o2-4", ["--level=10", "--layout=o2", "--raid-devices=4"], 4, "256M"),
    ("r10-o2-4-bitmap", ["--level=10", "--layout=o2", "--raid-devices=4", "--bitmap=internal"], 4, "256M"),
    ("r10-n3-3-big", ["--level=10", "--layout=n3", "--raid-devices=3", "--assume-clean"], 3, "20G"),
]


def check_case(meshraid, work, name, args, n, size):
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    paths = [os.path.join(d, "m%d.img" % i) for i in range(n)]
    for p in paths:
        subprocess.run(["truncate", "-s", size, p], check=True)
    r = run([meshraid, "create", "--name=" + name] + args + paths)
    check(r.returncode == 0, "%s: create failed: %s" % (name, r.stderr.strip()))
    if r.returncode:
        return
    ours = json.loads(run([meshraid, "examine", "--json"] + paths).stdout)
    for p, e in zip(paths, ours):
        r = run(["mdadm", "--examine", p])
        who = "%s/%s" % (name, os.path.basename(p))
        check(r.returncode == 0, "%s: mdadm --examine exit %d: %s" % (who, r.returncode, r.stderr))
        f = mdadm_fields(r.stdout)
        check(f.get("Checksum", "").endswith("- correct"), "%s: mdadm checksum: %r" % (who, f.get("Checksum")))
        for key in ["Raid Level", "Raid Devices", "Array Size", "Avail Dev Size", "Data Offset",
                    "Super Offset", "Layout", "Chunk Size", "Device Role", "Array State", "Events",
                    "Array UUID", "Device UUID", "Feature Map", "State", "Internal Bitmap",
                    "Bad Block Log", "Checksum", "Version", "Unused Space"]:
            if key in f or key in e["examine"]:
                check(f.get(key) == e["examine"].get(key),
                      "%s: %r: mdadm %r, meshraid %r" % (who, key, f.get(key), e["examine"].get(key)))
        if "--bitmap=internal" in args:
            # On a regular file mdadm -X reads an external bitmap file; a member needs a device.
            loop = run(["losetup", "-f", "--show", "-r", p])
            check(loop.returncode == 0, "%s: losetup: %s" % (who, loop.stderr))
            if loop.returncode:
                continue
            try:
                r = run(["mdadm", "--examine-bitmap", loop.stdout.strip()])
            finally:
                run(["losetup", "-d", loop.stdout.strip()])
            check(r.returncode == 0, "%s: mdadm -X exit %d: %s" % (who, r.returncode, r.stderr))
            x = mdadm_fields(r.stdout)
            for key in ["Magic", "Version", "UUID", "Events", "Events Cleared", "State",
                        "Chunksize", "Daemon", "Write Mode", "Sync Size", "Bitmap"]:
                check(x.get(key) == e["examine_bitmap"].get(key),
                      "%s: -X %r: mdadm %r, meshraid %r" % (who, key, x.get(key), e["examine_bitmap"].get(key)))
    print("ok %s: %s" % (name, f.get("Raid Level"), ) + (" " + f.get("Layout", "") if "Layout" in f else ""))
    shutil.rmtree(d, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meshraid", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    for c in CASES:
        check_case(a.meshraid, a.work, *c)
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()

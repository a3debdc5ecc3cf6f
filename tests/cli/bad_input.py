#!/usr/bin/env python3
"""One test per distinct bad-input error of `meshraid examine`, `cat` and `create`.

Bad members are built from a good one by patching superblock bytes (fixing the checksum with an
independent implementation of MD's checksum, unless the checksum is what is being broken)."""
import argparse
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys

SB = 4096  # v1.2 superblock byte offset
failures = []
passed = 0


def md_checksum(sb):
    max_dev = struct.unpack_from("<I", sb, 220)[0]
    n = 256 + 2 * max_dev
    b = bytearray(sb[:n])
    b[216:220] = b"\0\0\0\0"
    total = sum(struct.unpack_from("<%dI" % (n // 4), b))
    if n % 4:
        total += struct.unpack_from("<H", b, n - 2)[0]
    return ((total & 0xFFFFFFFF) + (total >> 32)) & 0xFFFFFFFF


def patch(path, fields, fix_csum=True):
    """fields: list of (offset, struct format, value) inside the superblock."""
    with open(path, "r+b") as f:
        f.seek(SB)
        sb = bytearray(f.read(4096))
        for off, fmt, val in fields:
            struct.pack_into(fmt, sb, off, val)
        if fix_csum:
            struct.pack_into("<I", sb, 216, md_checksum(sb))
        f.seek(SB)
        f.write(sb)


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def expect_error(what, cmd, path, pattern):
    """The command fails with exactly one line on stderr naming `path` and matching `pattern`."""
    global passed
    r = run(cmd)
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    ok = (r.returncode != 0 and len(lines) >= 1 and path in lines[0]
          and re.search(pattern, lines[0], re.I) is not None)
    # examine keeps going over other members; with one member there is the line and a summary.
    if ok and len(lines) > 1 and not cmd[1] == "examine":
        ok = False
    if ok:
        passed += 1
        print("ok   %-34s %s" % (what, lines[0]))
    else:
        failures.append(what)
        print("FAIL %-34s rc=%d stderr=%r" % (what, r.returncode, r.stderr))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meshraid", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    mr, w = a.meshraid, a.work
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)

    def new_files(prefix, n, size="64M"):
        ps = [os.path.join(w, "%s%d.img" % (prefix, i)) for i in range(n)]
        for p in ps:
            subprocess.run(["truncate", "-s", size, p], check=True)
        return ps

    def create(paths, *args):
        r = run([mr, "create", "--assume-clean"] + list(args) + paths)
        if r.returncode:
            raise SystemExit("create failed: " + r.stderr)

    good = new_files("good", 2)
    create(good, "--level=1", "--raid-devices=2")

    def bad(name):
        p = os.path.join(w, name + ".img")
        shutil.copyfile(good[0], p)
        return p

    # --- superblock decode errors (examine) ---
    p = os.path.join(w, "zero.img")
    subprocess.run(["truncate", "-s", "64M", p], check=True)
    expect_error("no superblock", [mr, "examine", p], p, r"no MD superblock")

    p = bad("magic")
    patch(p, [(0, "<I", 0x12345678)], fix_csum=False)
    expect_error("bad magic", [mr, "examine", p], p, r"magic.*12345678")

    p = bad("major")
    patch(p, [(4, "<I", 2)])
    expect_error("unsupported major version", [mr, "examine", p], p, r"major.*version.*2|version 2")

    p = bad("csum")
    patch(p, [(200, "<Q", 77)], fix_csum=False)  # events changed, checksum left stale
    expect_error("bad checksum", [mr, "examine", p], p, r"checksum.*expected.*found|checksum.*found.*expected")

    p = bad("feature")
    patch(p, [(8, "<I", 1 << 20)])
    expect_error("unknown feature bits", [mr, "examine", p], p, r"feature.*bit ?20")

    p = bad("pad0")
    patch(p, [(12, "<I", 1)])
    expect_error("non-zero pad0", [mr, "examine", p], p, r"pad0")

    p = bad("pad3")
    patch(p, [(240, "<I", 5)])
    expect_error("non-zero pad3", [mr, "examine", p], p, r"pad3")

    p = bad("superoffset")
    patch(p, [(144, "<Q", 16)])
    expect_error("super_offset mismatch", [mr, "examine", p], p, r"super_offset.*16")

    p = bad("maxdev")
    patch(p, [(220, "<I", 5000)], fix_csum=False)
    expect_error("max_dev too large", [mr, "examine", p], p, r"max_dev.*5000")

    p = bad("datasize")
    patch(p, [(136, "<Q", 1 << 30)])
    expect_error("data beyond the device", [mr, "examine", p], p, r"beyond|past|exceeds|outside")

    p = bad("dataoffset")
    patch(p, [(128, "<Q", 200000)])
    expect_error("data_offset beyond the device", [mr, "examine", p], p, r"beyond|past|exceeds|outside")

    # --- assembly errors (cat) ---
    other = new_files("other", 2)
    create(other, "--level=1", "--raid-devices=2")
    expect_error("member of another array", [mr, "cat", good[0], other[1]], other[1], r"another array")

    twin = bad("twin")
    patch(twin, [(168, "<Q", 0xDEADBEEF)])  # another device UUID, same dev_number 0
    expect_error("two members claim one slot", [mr, "cat", good[0], twin], twin, r"claim slot 0")

    r10 = new_files("r10_", 4)
    create(r10, "--level=10", "--layout=n2", "--raid-devices=4", "--chunk=64")
    # n2 over 4: slots 0 and 1 hold the same data, so 0+1 alone cannot read the other half.
    r = run([mr, "cat", r10[0], r10[1]])
    lines = r.stderr.splitlines()
    if r.returncode != 0 and len(lines) == 1 and re.search(r"not enough.*slot\(s\) 2,3", lines[0]):
        global passed
        passed += 1
        print("ok   %-34s %s" % ("not enough members", lines[0]))
    else:
        failures.append("not enough members")
        print("FAIL not enough members rc=%d %r" % (r.returncode, r.stderr))

    geo = os.path.join(w, "geo.img")
    shutil.copyfile(r10[1], geo)
    patch(geo, [(88, "<I", 256)])  # chunk 128K instead of 64K, same events
    expect_error("different geometry", [mr, "cat", r10[0], geo, r10[2], r10[3]], geo,
                 r"different geometry.*chunk")

    # --- create refusals: nothing is written to any member ---
    small = new_files("small", 2, "1M")
    big = new_files("bigpeer", 1, "64M")[0]
    before = sha(big)
    expect_error("create: member too small", [mr, "create", "--level=1", "--raid-devices=2", big, small[1]],
                 small[1], r"too small")
    check_untouched("too small: peer untouched", big, before)

    fresh = new_files("fresh", 1)[0]
    before = sha(fresh), sha(good[1])
    expect_error("create: member in use", [mr, "create", "--level=1", "--raid-devices=2", fresh, good[1]],
                 good[1], r"already a member.*--force")
    check_untouched("in use: peer untouched", fresh, before[0])
    check_untouched("in use: member untouched", good[1], before[1])

    ro = new_files("readonly", 1)[0]
    fresh2 = new_files("fresh2_", 1)[0]
    subprocess.run(["chattr", "+i", ro], check=True)
    try:
        before = sha(fresh2)
        expect_error("create: member not writable", [mr, "create", "--level=1", "--raid-devices=2", fresh2, ro],
                     ro, r"not writable")
        check_untouched("not writable: peer untouched", fresh2, before)
    finally:
        subprocess.run(["chattr", "-i", ro], check=True)

    print("%d passed, %d failed" % (passed, len(failures)))
    if failures:
        sys.exit(1)


def check_untouched(what, path, before):
    global passed
    if sha(path) == before:
        passed += 1
        print("ok   %s" % what)
    else:
        failures.append(what)
        print("FAIL %s" % what)


if __name__ == "__main__":
    main()

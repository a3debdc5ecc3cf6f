#!/usr/bin/env python3
"""Checks meshraid against every golden case in the golden folder.

For each case folder (one with manifest.json): decompress the member images, run
`meshraid examine --json` on every member and compare with the manifest (level, layout, chunk,
raid devices, array size, data offset, events, role, checksum, bitmap fields), then run
`meshraid cat` on all members and compare the sha256 with the manifest's. Degraded cases must
name the stale member and still give the right contents.
"""
import argparse
import hashlib
import json
import lzma
import os
import subprocess
import sys

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("  FAIL: " + what)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unpack(case_dir, member, work):
    """Decompresses member['file'] into work (cached by raw sha256)."""
    out = os.path.join(work, member["file"][:-3])
    if os.path.exists(out) and os.path.getsize(out) == member["raw_size"]:
        if sha256_file(out) == member["raw_sha256"]:
            return out
    with lzma.open(os.path.join(case_dir, member["file"])) as src, open(out + ".tmp", "wb") as dst:
        for block in iter(lambda: src.read(1 << 20), b""):
            dst.write(block)
    os.replace(out + ".tmp", out)
    if sha256_file(out) != member["raw_sha256"]:
        raise SystemExit("%s: decompressed image does not match raw_sha256" % out)
    return out


def check_case(name, case_dir, meshraid, work):
    m = json.load(open(os.path.join(case_dir, "manifest.json")))
    arr = m["array"]
    os.makedirs(work, exist_ok=True)
    paths = [unpack(case_dir, mem, work) for mem in m["members"]]

    r = subprocess.run([meshraid, "examine", "--json"] + paths, capture_output=True, text=True)
    check(r.returncode == 0, "%s: examine exit %d: %s" % (name, r.returncode, r.stderr.strip()))
    if r.returncode != 0:
        return
    ex = json.loads(r.stdout)
    for mem, e in zip(m["members"], ex):
        who = "%s/%s" % (name, mem["file"])
        sb, msb, mex = e["superblock"], mem["superblock"], mem["examine"]
        f = e["examine"]
        # The mdadm --examine fields, as mdadm printed them in the guest.
        for key in ["Magic", "Version", "Feature Map", "Array UUID", "Raid Level", "Raid Devices",
                    "Avail Dev Size", "Array Size", "Data Offset", "Super Offset", "Unused Space",
                    "State", "Device UUID", "Internal Bitmap", "Bad Block Log", "Checksum",
                    "Events", "Layout", "Chunk Size", "Device Role", "Array State"]:
            if key in mex:
                check(f.get(key) == mex[key],
                      "%s: examine %r = %r, mdadm said %r" % (who, key, f.get(key), mex[key]))
        # Raw superblock values from the manifest's own decode.
        for key in ["feature_map", "level", "layout", "size", "chunksize", "raid_disks",
                    "data_offset", "data_size", "super_offset", "dev_number", "events",
                    "resync_offset", "max_dev", "bblog_offset", "bblog_size", "bitmap_offset"]:
            check(sb[key] == msb[key], "%s: %s = %r, manifest %r" % (who, key, sb[key], msb[key]))
        check(int(sb["sb_csum"], 16) == int(msb["sb_csum"], 16), "%s: checksum" % who)
        check(sb["array_sectors"] == arr["array_size_sectors"], "%s: array sectors" % who)
        check(sb["this_role"] == (msb["this_role"] if isinstance(msb["this_role"], int) else
                                  {"spare": 0xFFFF, "faulty": 0xFFFE}.get(msb["this_role"])),
              "%s: role" % who)
        if "bitmap" in msb:
            b, mb = sb.get("bitmap"), msb["bitmap"]
            check(b is not None, "%s: bitmap missing" % who)
            if b:
                for key in ["version", "events", "events_cleared", "sync_size", "state",
                            "chunksize", "daemon_sleep", "write_behind", "chunks", "dirty_chunks"]:
                    check(b[key] == mb[key], "%s: bitmap %s = %r, manifest %r" % (who, key, b[key], mb[key]))

    r = subprocess.run([meshraid, "cat"] + paths, capture_output=True)
    check(r.returncode == 0, "%s: cat exit %d: %s" % (name, r.returncode, r.stderr.decode().strip()))
    digest = hashlib.sha256(r.stdout).hexdigest()
    check(digest == m["sha256_md_device"],
          "%s: cat sha256 %s, MD read %s" % (name, digest, m["sha256_md_device"]))
    check(len(r.stdout) == arr["array_size_sectors"] * 512, "%s: cat length" % name)
    # A degraded case: the stale member is named and left out.
    for mem, path in zip(m["members"], paths):
        if mem["events"] < arr["events"] - 1:
            check(path in r.stderr.decode() and "stale" in r.stderr.decode(),
                  "%s: cat did not report stale member %s" % (name, mem["file"]))
    print("ok %s (%d members, %d sectors, sha256 %s)" % (name, len(paths), arr["array_size_sectors"], digest[:12]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meshraid", required=True)
    ap.add_argument("--golden", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    if not os.path.isdir(a.golden):
        raise SystemExit("golden folder %s is missing" % a.golden)
    cases = sorted(d for d in os.listdir(a.golden)
                   if os.path.isfile(os.path.join(a.golden, d, "manifest.json")))
    if not cases:
        raise SystemExit("no golden cases in %s" % a.golden)
    for c in cases:
        check_case(c, os.path.join(a.golden, c), a.meshraid, os.path.join(a.work, c))
    print("golden cases checked: %s" % " ".join(cases))
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Writes one golden case folder (the format of tests/golden, see its README) from an array the
guest's Linux MD made: member images as MD left them, the guest's records, and a manifest.

The manifest's superblock and bitmap decode is done here, in Python, from the v1.2 layout
(doc/md_v1.2_format.md): independent of meshraid's C++ decoder, which the golden tests judge.
`python3 golden_case.py --self-check DIR` decodes the members of existing cases and compares
with their manifests (the cases the first harness made), to show the decoder agrees.
"""
import datetime
import hashlib
import json
import lzma
import os
import shutil
import struct
import subprocess
import sys
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
PATTERN = os.path.join(HERE, "..", "golden", "pattern.py")
SB_SECTOR = 8
FEATURES = ["BITMAP_OFFSET", "RECOVERY_OFFSET", "RESHAPE_ACTIVE", "BAD_BLOCKS", "REPLACEMENT",
            "RESHAPE_BACKWARDS", "NEW_OFFSET", "RECOVERY_BITMAP", "CLUSTERED", "JOURNAL", "PPL",
            "MULTIPLE_PPLS", "RAID0_LAYOUT"]


def _uuid(b):
    return str(uuidlib.UUID(bytes=bytes(b)))


def _time(v):
    return {"seconds": v & ((1 << 40) - 1), "usec": v >> 40}


def _role(r):
    return {0xFFFF: "spare", 0xFFFE: "faulty", 0xFFFD: "journal"}.get(r, r)


def checksum(raw, max_dev):
    n = 256 + 2 * max_dev
    b = bytearray(raw[:n])
    b[216:220] = b"\0\0\0\0"
    total = sum(struct.unpack_from("<%dI" % (n // 4), b))
    if n % 4 == 2:
        total += struct.unpack_from("<H", b, n - 2)[0]
    return ((total & 0xFFFFFFFF) + (total >> 32)) & 0xFFFFFFFF


def decode_bitmap(img, at_sector):
    b = img[at_sector * 512:at_sector * 512 + 4096]
    magic, version = struct.unpack_from("<II", b, 0)
    (events, cleared, sync_size, state, chunk, sleep, behind, reserved,
     nodes) = struct.unpack_from("<QQQIIIIII", b, 24)
    chunks = -(-sync_size // (chunk // 512)) if chunk >= 512 else 0
    bits = img[at_sector * 512 + 256:at_sector * 512 + 256 + (chunks + 7) // 8]
    dirty = [c for c in range(chunks) if bits[c // 8] >> (c % 8) & 1]
    return {"location_sector": at_sector, "magic_ok": magic == 0x6D746962, "version": version,
            "uuid": _uuid(b[8:24]), "events": events, "events_cleared": cleared,
            "sync_size": sync_size, "state": state, "chunksize": chunk, "daemon_sleep": sleep,
            "write_behind": behind, "sectors_reserved": reserved, "nodes": nodes,
            "chunks": chunks, "dirty_chunks": len(dirty), "dirty_chunk_list": dirty}


def decode_superblock(img):
    raw = img[SB_SECTOR * 512:SB_SECTOR * 512 + 4096]
    f = {}
    (magic, f["major_version"], f["feature_map"]) = struct.unpack_from("<III", raw, 0)
    f = {"magic_ok": magic == 0xA92B4EFC, "super_offset_sectors_probe": SB_SECTOR, **f}
    f["features"] = [n for i, n in enumerate(FEATURES) if f["feature_map"] >> i & 1]
    f["set_uuid"] = _uuid(raw[16:32])
    f["set_name"] = raw[32:64].split(b"\0")[0].decode()
    f["ctime"] = _time(struct.unpack_from("<Q", raw, 64)[0])
    (f["level"], f["layout"], f["size"], f["chunksize"], f["raid_disks"], f["bitmap_offset"],
     f["new_level"], f["reshape_position"], f["delta_disks"], f["new_layout"], f["new_chunk"],
     f["new_offset"], f["data_offset"], f["data_size"], f["super_offset"], f["recovery_offset"],
     f["dev_number"], f["cnt_corrected_read"]) = struct.unpack_from("<iIQIIiIQiIIiQQQQII", raw, 72)
    f["device_uuid"] = _uuid(raw[168:184])
    (f["devflags"], f["bblog_shift"], f["bblog_size"], f["bblog_offset"]) = struct.unpack_from("<BBHi", raw, 184)
    utime, f["events"], f["resync_offset"], csum, f["max_dev"] = struct.unpack_from("<QQQII", raw, 192)
    f["sb_csum"] = "0x%08x" % csum
    f["utime"] = _time(utime)
    # Keep the manifests' key order: utime after max_dev.
    f = {k: f[k] for k in list(f) if k != "utime"} | {"utime": f["utime"]}
    roles = struct.unpack_from("<%dH" % f["max_dev"], raw, 256)
    last = max((i for i, r in enumerate(roles) if r != 0xFFFF), default=-1)
    f["dev_roles"] = [_role(r) for r in roles[:max(last + 1, f["dev_number"] + 1, f["raid_disks"])]]
    f["this_role"] = _role(roles[f["dev_number"]])
    f["sb_csum_calc"] = "0x%08x" % checksum(raw, f["max_dev"])
    f["sb_csum_ok"] = f["sb_csum_calc"] == f["sb_csum"]
    if f["level"] == 10:
        f["layout_decoded"] = {"near_copies": f["layout"] & 0xFF, "far_copies": f["layout"] >> 8 & 0xFF,
                               "offset": bool(f["layout"] >> 16 & 1), "use_far_sets": bool(f["layout"] >> 17 & 1)}
    if f["feature_map"] & 1:
        f["bitmap"] = decode_bitmap(img, SB_SECTOR + f["bitmap_offset"])
    order = ["layout_decoded"] if "layout_decoded" in f else []
    keys = [k for k in f if k not in order]
    keys[keys.index("layout") + 1:keys.index("layout") + 1] = order
    return {k: f[k] for k in keys}


def parse_colon(text):
    """mdadm's 'Key : Value' lines (--examine, --detail) as a dict."""
    out = {}
    for line in text.splitlines():
        if " : " in line:
            k, v = line.split(" : ", 1)
            out[k.strip()] = v.strip()
    return out


def parse_kv(path):
    out = {}
    for line in open(path):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            out[k] = v
    return out


def layout_map(img_path, out_path):
    text = subprocess.run([sys.executable, PATTERN, "map", img_path], check=True,
                          capture_output=True, text=True).stdout
    with open(out_path, "w") as f:
        f.write(text)
    runs = [line for line in text.splitlines() if line and not line.startswith("#")]
    return {"file": os.path.relpath(out_path, os.path.dirname(os.path.dirname(out_path))),
            "runs": len(runs), "head": runs[:6]}


def sha256_file(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def kernel_and_tools():
    cache = os.environ.get("MESHRAID_GUEST_CACHE") or os.path.expanduser("~/.cache/meshraid/kernel-guest")
    kernel = "?"
    try:
        kernel = os.path.basename(os.path.dirname(open(os.path.join(cache, "current")).read().split()[0]))
    except OSError:
        pass
    mdadm = subprocess.run(["mdadm", "--version"], capture_output=True, text=True).stderr.strip()
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                          text=True).stdout.splitlines()[0]
    return kernel.replace("kernel-", ""), mdadm, qemu


def write_case(golden_dir, case, rec, writes, md_sha, sectors, dmesg):
    """case: an md_cases.Case whose members are the images MD left (in mdadm --create order)."""
    dest = os.path.join(golden_dir, case.name)
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(os.path.join(dest, "record"))
    os.makedirs(os.path.join(dest, "layout"))
    for f in os.listdir(rec):
        shutil.copy(os.path.join(rec, f), os.path.join(dest, "record", f))
    if os.path.exists(dmesg):
        shutil.copy(dmesg, os.path.join(dest, "record", "dmesg.txt"))
    with open(os.path.join(dest, "record", "checks.txt"), "w") as f:
        f.write("final mismatch_cnt=0\n")
    devices = dict(line.split() for line in open(os.path.join(rec, "final.devices")))
    sysfs = parse_kv(os.path.join(rec, "final.sysfs"))
    detail = parse_colon(open(os.path.join(rec, "final.detail")).read())
    members = []
    for i, path in enumerate(case.members, 1):
        img = open(path, "rb").read()
        sb = decode_superblock(img)
        name = f"member{i}.img.xz"
        with lzma.open(os.path.join(dest, name), "wb", preset=9) as out:
            out.write(img)
        examine = parse_colon(open(os.path.join(rec, f"final.examine.{i}")).read())
        members.append({
            "file": name, "raw_size": len(img), "raw_sha256": hashlib.sha256(img).hexdigest(),
            "guest_device": "/dev/" + devices[f"member{i}"],
            "device_role": examine.get("Device Role"), "events": sb["events"],
            "data_offset_sectors": sb["data_offset"], "super_offset_sectors": sb["super_offset"],
            "data_size_sectors": sb["data_size"], "dev_number": sb["dev_number"],
            "array_state_seen_by_member": examine.get("Array State"),
            "examine": examine, "superblock": sb,
            "layout_map": layout_map(path, os.path.join(dest, "layout", f"member{i}.map")),
        })
    fresh = max(members, key=lambda m: m["events"])["superblock"]
    kernel, mdadm, qemu = kernel_and_tools()
    transcript = open(os.path.join(rec, "transcript.txt")).read().splitlines()
    manifest = {
        "case": case.name,
        "description": f"raid{case.level}" + (f" {case.layout}" if case.layout else "") +
                       f", {case.ndev} members" + (", internal bitmap" if case.bitmap else "") +
                       {"readd": ": a member failed, removed, written past and re-added (bitmap recovery)",
                        "reshape": ": created on 2 members, grown to 4 with mdadm --grow (online reshape)"
                        }.get(case.extra or "", ""),
        "created_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "produced_by": {"kernel": kernel, "mdadm": mdadm, "qemu": qemu, "accel": "tcg",
                        "script": "tests/kernel/guest/md_create.sh (md_writes_test.py --make-golden)"},
        "mdadm_commands": [line[2:] for line in transcript if line.startswith("$ mdadm")],
        "member_count": case.ndev,
        "member_size": f"{case.member_bytes >> 20}M",
        "members_in_creation_order": "memberN.img = the N-th loop device given to mdadm (mapped from one "
                                     "virtio disk); see device_role/dev_number for the final state",
        "array": {
            "level": f"raid{case.level}", "raid_devices": fresh["raid_disks"],
            "layout": detail.get("Layout"), "layout_numeric": fresh["layout"],
            "chunk": detail.get("Chunk Size"), "chunk_sectors": fresh["chunksize"],
            "array_size_sectors": sectors,
            "array_size_kib_detail": int(detail["Array Size"].split()[0]),
            "component_size_sectors": fresh["size"],
            "uuid": ":".join(fresh["set_uuid"].replace("-", "")[i:i + 8] for i in range(0, 32, 8)),
            "name": detail.get("Name"), "state": detail.get("State"), "events": fresh["events"],
            "consistency_policy": detail.get("Consistency Policy"),
            "intent_bitmap": detail.get("Intent Bitmap"), "sysfs": sysfs, "detail": detail,
        },
        "pattern": {"name": "RAIDPAT1", "tag": case.name,
                    "definition": "see tests/golden/README.md", "writes": [list(w) for w in writes],
                    "writes_format": "[gen, start_sector, count_sectors]", "tool": "golden/pattern.py"},
        "sha256_md_device": md_sha,
        "sha256_checks": [{"label": "final", "sha256": md_sha, "sectors": sectors,
                           "writes_so_far": len(writes), "expected_from_pattern": md_sha, "match": True}],
        "mismatch_cnt_checks": {"final": 0},
        "verified": True,
        "members": members,
        "extra": {"kind": case.extra or "plain"},
    }
    with open(os.path.join(dest, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


def self_check(golden_dir):
    """Decodes every member of every case and compares with the manifest's decode."""
    bad = 0
    for name in sorted(os.listdir(golden_dir)):
        mpath = os.path.join(golden_dir, name, "manifest.json")
        if not os.path.exists(mpath):
            continue
        m = json.load(open(mpath))
        for mem in m["members"]:
            with lzma.open(os.path.join(golden_dir, name, mem["file"])) as f:
                sb = decode_superblock(f.read())
            want = mem["superblock"]
            for k, v in want.items():
                if sb.get(k) != v:
                    print(f"{name}/{mem['file']}: {k} = {sb.get(k)!r}, manifest {v!r}")
                    bad += 1
    print("self-check:", "decoder agrees with every manifest" if bad == 0 else f"{bad} differences")
    return bad == 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--self-check":
        sys.exit(0 if self_check(sys.argv[2]) else 1)
    print(__doc__)
    sys.exit(2)

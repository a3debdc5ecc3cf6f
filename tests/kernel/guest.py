#!/usr/bin/env python3
"""Runs one test script inside a throw-away Linux 6.12 guest under qemu TCG (never KVM).

    guest.py --run-dir DIR [--disk NAME=IMAGE]... [--file PATH]... [--timeout S]
             [--meshraid BIN] [--cache DIR] [--kernel VMLINUZ] [--append ARGS]
             SCRIPT [ARG...]

The guest boots Debian 12's 6.12 kernel with the initramfs of prepare.sh, plus a per-run layer
that holds the meshraid binary (with the libraries the base lacks), SCRIPT as /test/main.sh, each
--file beside it in /test, and the arguments. Each IMAGE is a raw virtio disk, /dev/disk/NAME in
the guest. DIR/out is the guest's /out (9p): the script's stdout, stderr, exit status, the kernel
log and any file the script writes there come back in it.

The runner prints the script's stdout and stderr and exits with its status. On a failure or a
timeout it also prints the last lines of the guest's kernel log, and on a timeout the last step
the script announced ("== ..." lines), so the CI log alone tells what went wrong.
"""
import argparse
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIB_PATHS = ("/lib/", "/lib64/", "/usr/lib/")


def fail(msg, code=2):
    print(f"guest.py: {msg}", file=sys.stderr)
    sys.exit(code)


def cpio_newc(entries):
    """entries: (path_in_archive, mode, data bytes or None for a directory). Returns bytes."""
    out = bytearray()
    ino = 1

    def put(name, mode, data):
        nonlocal ino
        nb = name.encode() + b"\0"
        data = data or b""
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0]
        out.extend(b"070701" + b"".join(b"%08X" % f for f in fields))
        out.extend(nb)
        out.extend(b"\0" * ((4 - len(out) % 4) % 4))
        out.extend(data)
        out.extend(b"\0" * ((4 - len(out) % 4) % 4))
        ino += 1

    for name, mode, data in entries:
        put(name.lstrip("/"), mode, data)
    put("TRAILER!!!", 0, None)
    return bytes(out)


def dirs_of(paths):
    seen = set()
    for p in paths:
        d = os.path.dirname(p)
        chain = []
        while d not in ("", "/") and d not in seen:
            chain.append(d)
            seen.add(d)
            d = os.path.dirname(d)
        yield from reversed(chain)


def libraries(binary):
    res = subprocess.run(["ldd", binary], capture_output=True, text=True)
    if res.returncode != 0:
        fail(f"ldd {binary}: {res.stderr.strip() or res.stdout.strip()}")
    libs = []
    for line in res.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            i = parts.index("=>")
            if i + 1 < len(parts) and parts[i + 1].startswith("/"):
                libs.append(parts[i + 1])
            elif "not found" in line:
                fail(f"{binary}: {line.strip()}")
        elif parts and parts[0].startswith(LIB_PATHS):
            libs.append(parts[0])
    return libs


def meshraid_layer(cache, binary, base_list):
    """The meshraid binary (debug info stripped) and the libraries the base lacks, cached by the
    binary's hash so that a rerun of the same build costs nothing."""
    h = hashlib.sha256()
    with open(binary, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    layer = os.path.join(cache, f"meshraid-{h.hexdigest()[:16]}.cpio")
    if os.path.exists(layer):
        return layer
    stripped = layer + ".bin"
    subprocess.run(["objcopy", "--strip-debug", binary, stripped], check=True)
    files = [("/usr/local/bin/meshraid", 0o100755, open(stripped, "rb").read())]
    os.unlink(stripped)
    for lib in libraries(binary):
        if lib not in base_list:
            files.append((lib, 0o100755, open(os.path.realpath(lib), "rb").read()))
    entries = [(d, 0o040755, None) for d in dirs_of([p for p, _, _ in files])] + files
    tmp = layer + ".tmp"
    with open(tmp, "wb") as f:
        f.write(cpio_newc(entries))
    os.replace(tmp, layer)
    for old in os.listdir(cache):  # layers of older builds
        if old.startswith("meshraid-") and old.endswith(".cpio") and old != os.path.basename(layer):
            os.unlink(os.path.join(cache, old))
    return layer


def test_layer(script, files, args):
    entries = [("/test", 0o040755, None),
               ("/test/main.sh", 0o100755, open(script, "rb").read())]
    for f in files:
        entries.append((f"/test/{os.path.basename(f)}", 0o100755, open(f, "rb").read()))
    entries.append(("/test/args", 0o100644, "".join(a + "\n" for a in args).encode()))
    return cpio_newc(entries)


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return f.read().splitlines()[-n:]
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--disk", action="append", default=[], metavar="NAME=IMAGE")
    ap.add_argument("--file", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--meshraid", default=os.environ.get("MESHRAID"))
    ap.add_argument("--cache", default=os.environ.get("MESHRAID_GUEST_CACHE") or
                    os.path.expanduser("~/.cache/meshraid/kernel-guest"))
    ap.add_argument("--kernel", help="boot this kernel image instead of the prepared one")
    ap.add_argument("--append", default="", help="more kernel command line")
    ap.add_argument("--mem", default="2G")
    ap.add_argument("--smp", default="2")
    ap.add_argument("script")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    o = ap.parse_args()

    if not o.meshraid or not os.access(o.meshraid, os.X_OK):
        fail("--meshraid (or $MESHRAID) must name the built meshraid binary")
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        fail("qemu-system-x86_64 is not installed (scripts/setup installs qemu-system-x86)")
    prep = subprocess.run([os.path.join(HERE, "prepare.sh"), o.cache])
    if prep.returncode != 0:
        fail("prepare.sh failed: the guest cannot boot")
    vmlinuz, base = open(os.path.join(o.cache, "current")).read().split()
    vmlinuz = o.kernel or vmlinuz
    base_list = set(open(base[:-len(".cpio")] + ".list").read().split())

    run = os.path.abspath(o.run_dir)
    out = os.path.join(run, "out")
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    initrd = os.path.join(run, "initrd.cpio")
    with open(initrd, "wb") as f:
        for part in (base, meshraid_layer(o.cache, o.meshraid, base_list)):
            with open(part, "rb") as p:
                shutil.copyfileobj(p, f, 1 << 22)
        f.write(test_layer(o.script, [os.path.join(HERE, "guest_lib.sh")] + o.file, o.args))

    cmd = [qemu, "-machine", "pc,accel=tcg", "-cpu", "max", "-smp", o.smp, "-m", o.mem,
           "-display", "none", "-monitor", "none", "-no-reboot", "-nodefaults",
           "-serial", f"file:{run}/console.log",
           "-kernel", vmlinuz, "-initrd", initrd,
           "-append", f"console=ttyS0 panic=1 oops=panic loglevel=6 {o.append}".strip(),
           "-virtfs", f"local,path={out},mount_tag=out,security_model=none,id=out"]
    for i, d in enumerate(o.disk):
        name, sep, image = d.partition("=")
        if not sep or not name or len(name) > 20:
            fail(f"--disk {d}: want NAME=IMAGE with a name of at most 20 characters")
        if not os.path.isfile(image):
            fail(f"--disk {d}: {image} is not a file")
        cmd += ["-drive", f"file={os.path.abspath(image)},format=raw,if=none,id=d{i},cache=unsafe,discard=unmap",
                "-device", f"virtio-blk-pci,drive=d{i},serial={name}"]

    start = time.monotonic()
    with open(os.path.join(run, "qemu.log"), "w") as qlog:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                                start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=o.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    took = time.monotonic() - start

    def show(title, lines):
        print(f"--- {title}")
        for line in lines:
            print(line)

    show("guest stdout", tail(os.path.join(out, "stdout"), 400))
    show("guest stderr", tail(os.path.join(out, "stderr"), 200))
    rc_file = os.path.join(out, "rc")
    rc = None
    if os.path.exists(rc_file):
        txt = open(rc_file).read().strip()
        rc = int(txt) if txt.lstrip("-").isdigit() else None
    if rc == 0 and not timed_out:
        print(f"--- guest: {os.path.basename(o.script)} passed ({took:.0f} s)")
        return 0
    kernel_log = os.path.join(out, "dmesg") if os.path.exists(os.path.join(out, "dmesg")) \
        else os.path.join(run, "console.log")
    show("guest kernel log (last 60 lines)", tail(kernel_log, 60))
    if qemu_lines := tail(os.path.join(run, "qemu.log"), 20):
        show("qemu", qemu_lines)
    if timed_out:
        steps = [l for l in tail(os.path.join(out, "stdout"), 100000) if l.startswith("== ")]
        where = steps[-1] if steps else "(before its first step)"
        print(f"guest.py: {os.path.basename(o.script)} timed out after {o.timeout:.0f} s; "
              f"it was at: {where}")
        return 124
    if rc is None:
        print(f"guest.py: the guest stopped after {took:.0f} s without an exit status "
              f"(qemu exit {proc.returncode}; a panic or a failed boot: see the kernel log above)")
        return 125
    print(f"guest.py: {os.path.basename(o.script)} failed with exit status {rc} ({took:.0f} s)")
    return rc if 0 < rc < 124 else 1


if __name__ == "__main__":
    sys.exit(main())

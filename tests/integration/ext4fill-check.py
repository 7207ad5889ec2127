#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Compare a source tree with what an ext2/3/4 image holds, read back with
debugfs (one batched `debugfs -f` run of stat/ls/ea_list, plus rdump for
file contents and symlink targets).

  ext4fill-check.py [--loose] [--exclude REL]... SRC IMAGE[?offset=N] SCRATCH

Checks every entry: presence (no more, no less), type, permission bits,
owner, size, link count, atime/mtime/ctime (with nanoseconds), device
numbers, xattrs (names, sizes, user.* values), file contents and symlink
targets.  --loose is for `mke2fs -d` images: times to the second, the root
directory's own attributes not compared.  Prints one line per difference;
exit 1 if any.
"""
import filecmp
import os
import re
import stat
import subprocess
import sys

TYPES = {
    "regular": stat.S_IFREG, "directory": stat.S_IFDIR, "symlink": stat.S_IFLNK,
    "FIFO": stat.S_IFIFO, "socket": stat.S_IFSOCK, "character special": stat.S_IFCHR,
    "block special": stat.S_IFBLK,
}


def walk(src, excl):
    """rel path -> (lstat, children or None); in-tree link counts."""
    ents, links = {}, {}

    def visit(rel, path):
        st = os.lstat(path)
        kids = None
        if stat.S_ISDIR(st.st_mode):
            kids = [] if rel in excl else sorted(os.listdir(path))
        else:
            links[(st.st_dev, st.st_ino)] = links.get((st.st_dev, st.st_ino), 0) + 1
        ents[rel] = (st, kids)
        for k in kids or []:
            visit(f"{rel}/{k}" if rel else k, os.path.join(path, k))

    visit("", src)
    return ents, links


def ext_time(line):
    m = re.search(r"0x([0-9a-f]+)(?::([0-9a-f]+))?", line)
    lo = int(m.group(1), 16)
    sec = lo - (1 << 32) if lo & 0x80000000 else lo
    if m.group(2) is None:
        return sec, None
    extra = int(m.group(2), 16)
    return sec + ((extra & 3) << 32), extra >> 2


def main():
    args = sys.argv[1:]
    loose, excl = False, set()
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--loose":
            loose = True
        elif a == "--exclude":
            excl.add(args.pop(0).strip("/"))
    src, image, scratch = args
    ents, links = walk(src, excl)

    cmds = []
    for rel in ents:
        p = "/" + rel
        cmds += [f'stat "{p}"', f'ea_list "{p}"']
        if ents[rel][1] is not None:
            cmds.append(f'ls -p "{p}"')
    cmdfile = os.path.join(scratch, "cmds")
    with open(cmdfile, "w") as f:
        f.write("\n".join(cmds) + "\n")
    out = subprocess.run(["debugfs", "-f", cmdfile, image], capture_output=True, text=True,
                         errors="replace").stdout
    res, cur = {}, None
    for line in out.splitlines():
        if line.startswith("debugfs: "):
            cur = line[len("debugfs: "):]
            res[cur] = []
        elif cur is not None:
            res[cur].append(line)

    dump = os.path.join(scratch, "rdump")
    os.makedirs(dump, exist_ok=True)
    subprocess.run(["debugfs", "-R", f"rdump / {dump}", image], capture_output=True)

    bad = []
    for rel, (st, kids) in ents.items():
        p = "/" + rel
        name = rel or "/"
        s = "\n".join(res.get(f'stat "{p}"', []))
        m = re.search(r"Type: (.+?)\s+Mode:\s+(\d+)", s)
        if not m:
            bad.append(f"{name}: missing ({s.strip()[:80]})")
            continue
        if rel == "" and loose:
            continue
        want = {
            "type": stat.S_IFMT(st.st_mode), "mode": stat.S_IMODE(st.st_mode),
            "uid": st.st_uid, "gid": st.st_gid,
        }
        got = {"type": TYPES.get(m.group(1)), "mode": int(m.group(2), 8)}
        got["uid"] = int(re.search(r"User:\s+(\d+)", s).group(1))
        got["gid"] = int(re.search(r"Group:\s+(\d+)", s).group(1))
        nlink = int(re.search(r"Links: (\d+)", s).group(1))
        if kids is not None:
            nsub = sum(1 for k in kids if ents[f"{rel}/{k}" if rel else k][1] is not None)
            if rel == "" and "lost+found" not in kids:
                nsub += 1
            want["nlink"] = 2 + nsub
        else:
            want["nlink"] = links[(st.st_dev, st.st_ino)]
        got["nlink"] = nlink
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            want["size"] = st.st_size
            got["size"] = int(re.search(r"Size: (\d+)", s).group(1))
        for t in ("atime", "mtime", "ctime"):
            if loose and t != "mtime":
                continue
            line = next((ln for ln in s.splitlines() if ln.strip().startswith(t + ":")), "")
            if not line:
                bad.append(f"{name}: no {t}")
                continue
            sec, nsec = ext_time(line)
            ns = getattr(st, f"st_{t}_ns")
            if nsec is None:  # 128-byte inode: 32-bit seconds
                want[t], got[t] = (ns // 10**9) % 2**32, sec % 2**32
            elif loose:
                want[t], got[t] = ns // 10**9, sec
            else:
                want[t], got[t] = ns, sec * 10**9 + nsec
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            d = re.search(r"major/minor number: (\d+):(\d+)", s)
            want["rdev"] = (os.major(st.st_rdev), os.minor(st.st_rdev))
            got["rdev"] = (int(d.group(1)), int(d.group(2))) if d else None
        for k in want:
            if want[k] != got[k]:
                bad.append(f"{name}: {k} {got[k]!r}, want {want[k]!r}")

        # xattrs: names and sizes; user.* values too
        xs = {}
        for ln in res.get(f'ea_list "{p}"', []):
            xm = re.match(r"\s+(\S+) \((\d+)\)(?: = (.*))?$", ln)
            if xm:
                v = (xm.group(3) or "").strip()
                xs[xm.group(1)] = (int(xm.group(2)), v[1:-1] if v.startswith('"') else v)
        wx = {}
        for k in os.listxattr(os.path.join(src, rel), follow_symlinks=False):
            v = os.getxattr(os.path.join(src, rel), k, follow_symlinks=False)
            wx[k] = (len(v), v.decode() if k.startswith("user.") else None)
        gx = {k: (v[0], v[1] if k.startswith("user.") else None) for k, v in xs.items()}
        if wx != gx:
            bad.append(f"{name}: xattrs {gx!r}, want {wx!r}")

        if kids is not None:
            names = set()
            for ln in res.get(f'ls -p "{p}"', []):
                parts = ln.split("/")
                if len(parts) >= 7 and parts[5] not in ("", ".", ".."):
                    names.add(parts[5])
            want_names = set(kids) | ({"lost+found"} if rel == "" else set())
            if names != want_names:
                bad.append(f"{name}: entries differ: extra {sorted(names - want_names)[:5]}, "
                           f"missing {sorted(want_names - names)[:5]}")
        elif stat.S_ISREG(st.st_mode):
            d = os.path.join(dump, rel)
            if not os.path.isfile(d) or not filecmp.cmp(d, os.path.join(src, rel), shallow=False):
                bad.append(f"{name}: contents differ")
        elif stat.S_ISLNK(st.st_mode):
            d = os.path.join(dump, rel)
            want_t = os.readlink(os.path.join(src, rel))
            got_t = os.readlink(d) if os.path.islink(d) else None
            if got_t != want_t:
                bad.append(f"{name}: target {got_t!r}, want {want_t!r}")
    for b in bad[:40]:
        print(b)
    if len(bad) > 40:
        print(f"... {len(bad) - 40} more")
    print(f"{len(ents)} entries checked, {len(bad)} differences")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

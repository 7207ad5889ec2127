#!/usr/bin/python3
# empty-binfmt-ns.py CMD [ARGS...]: run CMD as root of a new user namespace
# (ids 0..65535 mapped onto themselves, so only for real root) with its own
# mount namespace and an empty binfmt_misc: what a host without
# registrations looks like, without touching the host's table.
import ctypes, os, sys

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
libc = ctypes.CDLL(None, use_errno=True)


def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        sys.exit(f"empty-binfmt-ns: {what}: {os.strerror(e)}")


r, w = os.pipe()
pid = os.fork()
if pid == 0:
    os.close(w)
    check(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare")
    # the parent writes the maps, then says go
    os.read(r, 1)
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    check(libc.mount(b"binfmt_misc", b"/proc/sys/fs/binfmt_misc", b"binfmt_misc", 0, None),
          "mount binfmt_misc")
    os.execvp(sys.argv[1], sys.argv[1:])
os.close(r)
# wait until the child has unshared: its user namespace differs from ours
me = os.readlink("/proc/self/ns/user")
while os.readlink(f"/proc/{pid}/ns/user") == me:
    os.sched_yield()
for f in ("uid_map", "gid_map"):
    with open(f"/proc/{pid}/{f}", "w") as m:
        m.write("0 0 65536\n")
os.write(w, b"g")
os.close(w)
_, st = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))

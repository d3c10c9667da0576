#!/usr/bin/python3
"""test_group_reader: a monitoring program in the daemon's group reads the store, as the
sysusers comment documents (join the group zonetally).

Needs root (to run the daemon and the readers as other users; skipped otherwise, exit 0
with a note). The daemon runs as an unprivileged uid and gid with the unit's UMask=0027;
`zonetally get` as another uid that has that gid as a supplementary group must read the
totals (every LMDB reader writes lock.mdb's reader table: lock.mdb must be group-writable),
and as a uid outside the group it must be refused.
"""

import os
import subprocess
import sys

import ztharness as zh

DAEMON_UID, GROUP = 64900, 64900  # numeric ids: no /etc/passwd entry is needed
MEMBER_UID, OUTSIDER_UID = 64901, 64902


def as_user(uid, gid, groups, umask=None):
    def switch():
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
        if umask is not None:
            os.umask(umask)
    return switch


def test(bins, work):
    if os.geteuid() != 0:
        print("test_group_reader: not root, nothing to check")
        return
    os.chmod(work, 0o755)
    state = os.path.join(work, "state")
    os.mkdir(state, 0o750)
    os.chown(state, DAEMON_UID, GROUP)
    conf = os.path.join(work, "empty.conf")
    open(conf, "w", encoding="ascii").close()
    args = [bins.daemon, "--foreground", "-c", conf, "--state-dir", state, "--zones",
            bins.zones_csv, "--sub-bind", "tcp://127.0.0.1:*", "--metrics-listen", "off",
            "--router-bind", "tcp://127.0.0.1:*", "--feed-bind", "tcp://127.0.0.1:*",
            "--query-bind", "tcp://127.0.0.1:*"]
    log = open(os.path.join(work, "daemon.log"), "wb")
    d = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                         preexec_fn=as_user(DAEMON_UID, GROUP, [], 0o027))
    try:
        zh.wait_for(lambda: os.path.exists(os.path.join(state, "zonetallyd.endpoints"))
                    or d.poll() is not None, 30, "the daemon ready")
        zh.check(d.poll() is None, "the daemon runs as an unprivileged user", d.returncode)
        lock = os.stat(os.path.join(state, "store", "lock.mdb"))
        zh.check(lock.st_mode & 0o060 == 0o060, "lock.mdb is group-readable and writable",
                 oct(lock.st_mode))
        data = os.stat(os.path.join(state, "store", "data.mdb"))
        zh.check(data.st_mode & 0o022 == 0, "data.mdb is writable by its owner only",
                 oct(data.st_mode))
        get = [bins.cli, "--state-dir", state, "get", "000000", "--all", "--json"]
        p = subprocess.run(get, capture_output=True,
                           preexec_fn=as_user(MEMBER_UID, MEMBER_UID, [GROUP]))
        zh.check(p.returncode == 0 and b'"level":"nation"' in p.stdout,
                 "a member of the daemon's group reads the store", p.stderr.decode())
        p = subprocess.run(get, capture_output=True,
                           preexec_fn=as_user(OUTSIDER_UID, OUTSIDER_UID, []))
        zh.check(p.returncode == 1, "a user outside the group cannot", p.stdout)
    finally:
        d.terminate()
        d.wait(timeout=30)
        log.close()


if __name__ == "__main__":
    zh.main(test, "test_group_reader")
    sys.exit(1)

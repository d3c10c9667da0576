#!/usr/bin/python3
"""test_systemd_unit: the unit file systemd would load, checked the way systemd checks it.

`systemd-analyze verify` on the configured unit (its Exec paths pointed at the binaries of
this build, since nothing is installed yet), and `systemd-analyze security --offline` whose
overall exposure must stay at 1.5 or better; the figure is printed for the CI log.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

MAX_EXPOSURE = 1.5


def main():
    if len(sys.argv) != 4:
        sys.exit(f"usage: {sys.argv[0]} UNIT ZONETALLYD ZONETALLY")
    unit, daemon, cli = sys.argv[1:4]
    if shutil.which("systemd-analyze") is None:
        sys.exit("systemd-analyze not found (Debian package systemd)")
    work = tempfile.mkdtemp(prefix="zt-unit-")
    try:
        with open(unit, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"ExecStart=\S+", f"ExecStart={daemon}", text)
        text = re.sub(r"ExecReload=\S+", f"ExecReload={cli}", text)
        path = os.path.join(work, "zonetallyd.service")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        v = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True)
        problems = (v.stdout + v.stderr).strip()
        if v.returncode != 0 or problems:
            print(f"FAIL: systemd-analyze verify (exit {v.returncode}):\n{problems}")
            return 1
        s = subprocess.run(["systemd-analyze", "security", "--offline=true", path],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+)", s.stdout + s.stderr)
        if m is None:
            print(f"FAIL: no exposure figure in:\n{s.stdout}{s.stderr}")
            return 1
        exposure = float(m.group(1))
        print(f"systemd-analyze security: exposure {exposure} (limit {MAX_EXPOSURE})")
        if exposure > MAX_EXPOSURE:
            print("FAIL: unit too exposed:\n" + s.stdout)
            return 1
        print("test_systemd_unit: PASS")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

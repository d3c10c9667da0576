#!/usr/bin/python3
"""test_man_pages: the man pages say what the programs do, and the install lays out what
the package promises.

zonetallyd.conf(5) is what scripts/man-conf.py makes of daemon/config.c (every key, its
default, range and reload behaviour); every option `zonetallyd --help` and `zonetally-pub
--help` list is in their page, every command of `zonetally --help` in zonetally(1); groff
renders each page without a warning; `cmake --install` into a temporary prefix puts the four
pages, proto/zonetally.proto and the copyright file in place and no static library.

argv: zonetallyd zonetally zonetally-pub SOURCE_DIR; $ZT_BUILD_DIR: the build tree
"""

import os
import re
import subprocess
import sys
import tempfile

import ztharness as zh

PAGES = ["zonetally.1", "zonetally-pub.1", "zonetallyd.conf.5", "zonetallyd.8"]


def long_options(help_text):
    return sorted(set(re.findall(r"(--[a-z][a-z-]+)", help_text)))


def page_text(path):
    """The page as a reader sees it (roff escapes of '-' resolved)."""
    return subprocess.run(["groff", "-man", "-Tutf8", "-P", "-cbou", path], capture_output=True,
                          check=True).stdout.decode().replace("\u2010", "-").replace("\u2212", "-")


def test(bins, work):
    src, build = bins.src, os.environ["ZT_BUILD_DIR"]
    man = os.path.join(src, "man")
    for page in PAGES:
        p = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", os.path.join(man, page)],
                           capture_output=True)
        zh.check(p.returncode == 0 and p.stderr == b"", f"groff renders {page} cleanly",
                 p.stderr.decode())
    gen = subprocess.run([sys.executable, os.path.join(src, "scripts", "man-conf.py")],
                         capture_output=True, check=True).stdout.decode()
    with open(os.path.join(man, "zonetallyd.conf.5"), encoding="utf-8") as f:
        zh.check(f.read() == gen, "man/zonetallyd.conf.5 is up to date (scripts/man-conf.py)")
    with open(os.path.join(src, "daemon", "config.c"), encoding="utf-8") as f:
        keys = re.findall(r'\{"(\w+)", "(\w+)", T_', f.read())
    conf = page_text(os.path.join(man, "zonetallyd.conf.5"))
    for sec, key in keys:
        zh.check(f"[{sec}]" in conf and key in conf, f"zonetallyd.conf(5) lists [{sec}] {key}")
    for prog, page in ((bins.daemon, "zonetallyd.8"), (bins.pub, "zonetally-pub.1")):
        text = page_text(os.path.join(man, page))
        out = zh.run([prog, "--help"])[1]
        for opt in long_options(out):
            zh.check(opt in text, f"{page} documents {opt}")
    text = page_text(os.path.join(man, "zonetally.1"))
    usage = zh.run([bins.cli, "--help"])[1]
    for cmd in re.findall(r"^  ([a-z][a-z-]+) ", usage, re.M):
        zh.check(re.search(rf"^ {{7}}{cmd}\b", text, re.M) is not None,
                 f"zonetally(1) documents the command {cmd}", cmd)
        for opt in long_options(zh.run([bins.cli, cmd, "--help"])[1]):
            zh.check(opt in text, f"zonetally(1) documents {cmd} {opt}")
    # the README's backup example writes where the package lets the zonetally user write
    with open(os.path.join(src, "README.md"), encoding="utf-8") as f:
        m = re.search(r"sudo -u zonetally zonetally backup (/\S+)/\$\(date", f.read())
    with open(os.path.join(src, "systemd", "zonetally.tmpfiles"), encoding="utf-8") as f:
        tmpfiles = f.read()
    zh.check(m is not None and re.search(rf"^d {re.escape(m.group(1))} 0750 zonetally "
                                         r"zonetally -$", tmpfiles, re.M) is not None,
             "the backup example's directory is shipped, owned by zonetally",
             m and m.group(1))
    with tempfile.TemporaryDirectory() as prefix:
        p = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           capture_output=True)
        zh.check_eq(p.returncode, 0, f"cmake --install: {p.stderr.decode()}")
        for rel in ["share/man/man1/zonetally.1", "share/man/man1/zonetally-pub.1",
                    "share/man/man5/zonetallyd.conf.5", "share/man/man8/zonetallyd.8",
                    "share/zonetally/proto/zonetally.proto", "share/doc/zonetally/copyright"]:
            zh.check(os.path.getsize(os.path.join(prefix, rel)) > 0, f"installed {rel}")
        static = [os.path.join(d, f) for d, _, fs in os.walk(prefix) for f in fs
                  if f.endswith(".a")]
        zh.check_eq(static, [], "no static library installed")


if __name__ == "__main__":
    zh.main(test, "test_man_pages")
    sys.exit(1)

#!/usr/bin/python3
"""test_cli_errors: every program refuses bad input clearly, with the agreed exit codes.

Usage errors exit 2 with a message, configuration errors name FILE:LINE, a malformed NDJSON
line is reported before anything is sent, and reading a directory with no store is a clean
runtime error (exit 1), never a crash or a silently empty answer.
"""

import os
import re
import subprocess
import sys

import ztharness as zh

# A port nothing listens on: zonetally-pub must fail on its input before it matters.
NOWHERE = "tcp://127.0.0.1:9"


def expect(args, want_rc, what, needle=None, stdin_data=None):
    """Runs a program and checks its exit status, a message on stderr, and an optional text."""
    rc, out, err = zh.run(args, timeout=60, stdin_data=stdin_data)
    zh.check_eq(rc, want_rc, f"{what}: exit status of {args} (stderr {err.strip()!r})")
    zh.check(err.strip() != "", f"{what}: a message on stderr", out)
    if needle is not None:
        zh.check(needle in err, f"{what}: stderr names {needle!r}", err)


def daemon_usage(bins, state):
    """zonetallyd: unknown options and bad values are usage errors."""
    # -c /dev/null: an installed /etc/zonetally/zonetallyd.conf must not decide the outcome
    base = [bins.daemon, "--foreground", "-c", "/dev/null", "--state-dir", state,
            "--zones", bins.zones_csv]
    expect(base + ["--bogus"], 2, "zonetallyd unknown option")
    expect(base + ["--log-level", "loud"], 2, "zonetallyd bad log level")
    expect(base + ["--state-dir"], 2, "zonetallyd missing argument")
    expect([bins.daemon, "--foreground", "extra-operand"], 2, "zonetallyd stray operand")


def daemon_config(bins, state):
    """zonetallyd -c: each malformed file fails start-up, naming FILE:LINE."""
    # libinih reports a section through its keys: the header's line or its first key's is right.
    cases = [("unknown key", "[daemon]\nlog_level = info\nno_such_key = 1\n", (3,)),
             ("bad number", "[batch]\nmax_events = 12x\n", (2,)),
             ("number out of range", "[batch]\n\nmax_ms = -4\n", (3,)),
             ("unknown section", "[daemon]\nlog_level = info\n[nope]\nx = 1\n", (3, 4))]
    for i, (what, text, lines) in enumerate(cases):
        path = os.path.join(state, f"bad{i}.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        rc, _, err = zh.run([bins.daemon, "--foreground", "-c", path, "--state-dir", state,
                             "--zones", bins.zones_csv, "--sub-bind", "tcp://127.0.0.1:*"])
        zh.check(rc != 0, f"zonetallyd with a config with a {what} must fail", rc)
        zh.check(any(f"{path}:{n}:" in err for n in lines),
                 f"config {what}: message names FILE:LINE", err)
    missing = os.path.join(state, "missing.conf")
    rc, _, err = zh.run([bins.daemon, "--foreground", "-c", missing, "--state-dir", state])
    zh.check(rc != 0 and missing in err, "zonetallyd with a missing -c file fails naming it",
             (rc, err))


def cli_usage(bins, state):
    """zonetally: usage errors exit 2; a dir without a store is a runtime error, exit 1."""
    cli = [bins.cli, "--state-dir", state]
    expect([bins.cli], 2, "zonetally without a command")
    expect(cli + ["frobnicate"], 2, "zonetally unknown command")
    expect(cli + ["get"], 2, "zonetally get without CODE")
    expect(cli + ["get", "33"], 2, "zonetally get with a short code")
    expect(cli + ["get", "330100", "--day", "2022-13-01"], 2, "zonetally get bad day")
    expect(cli + ["get", "330100", "--month", "2022-11", "--year", "2022"], 2,
           "zonetally get two periods")
    expect(cli + ["top", "--by", "weight"], 2, "zonetally top --by weight")
    expect(cli + ["top", "-n", "ten"], 2, "zonetally top -n ten")
    empty = os.path.join(state, "empty")
    os.mkdir(empty)
    expect([bins.cli, "--state-dir", empty, "get", "330100", "--all"], 1,
           "zonetally get on a dir without a store")
    expect([bins.cli, "--state-dir", empty, "stats", "--json"], 1,
           "zonetally stats on a dir without a store")
    cli_hints(bins, state, empty)


def cli_hints(bins, state, empty):
    """Errors that say what to do instead."""
    expect([bins.cli, "get", "330100", "--state-dir", state], 2,
           "a global option after the command", "put it before the command")
    expect([bins.cli, "--state-dir", state, "get", "330100", "--day", "2022-13-01"], 2,
           "a bad date", "expected YYYY-MM-DD")
    expect([bins.cli, "--state-dir", state, "get", "330100", "--month", "2022/11"], 2,
           "a bad month", "expected YYYY-MM")
    expect([bins.cli, "--connect", "127.0.0.1:7604", "get", "000000"], 2,
           "--connect without a scheme", "did you mean tcp://127.0.0.1:7604?")
    expect([bins.cli, "--state-dir", state, "watch", "--rcvhwm", "5x"], 2,
           "a bad option value", "invalid value '5x' for --rcvhwm")
    if not os.path.exists("/etc/zonetally/zonetallyd.conf") and \
            not os.path.exists("/var/lib/zonetally/store"):
        expect([bins.cli, "get", "000000"], 1, "no store in the default state dir",
               "--state-dir DIR")
    rc, _, err = zh.run([bins.cli, "--state-dir", empty, "get", "000000"])
    zh.check(rc == 1 and "default state directory" not in err,
             "no default-dir hint when --state-dir was given", err)
    # a daemon that died without cleaning up: its files are called stale
    stale = os.path.join(state, "stale")
    os.mkdir(stale)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with open(os.path.join(stale, "zonetallyd.pid"), "w", encoding="ascii") as f:
        f.write(f"{gone.pid}\n")
    with open(os.path.join(stale, "zonetallyd.endpoints"), "w", encoding="ascii") as f:
        f.write("query tcp://127.0.0.1:9\n")
    expect([bins.cli, "--state-dir", stale, "watch"], 1, "stale endpoints and pid files",
           f"stale (pid {gone.pid} is gone")


def check_config_token(bins, state):
    """check-config refuses an api_token_file the daemon would refuse, with its words."""
    d = os.path.join(state, "tokconf")
    os.mkdir(d)
    conf = os.path.join(d, "z.conf")
    with open(conf, "w", encoding="ascii") as f:
        f.write("[metrics]\napi_token_file = token\n")
    tok = os.path.join(d, "token")
    with open(tok, "w", encoding="ascii") as f:
        f.write("0123456789abcdef0123\n")
    os.chmod(tok, 0o644)
    expect([bins.cli, "check-config", conf], 1, "check-config with a 0644 api_token_file",
           "readable by group or others (chmod 600)")
    os.chmod(tok, 0o600)
    rc, out, err = zh.run([bins.cli, "check-config", conf])
    zh.check(rc == 0 and "configuration OK" in out, "check-config with a 0600 token", out + err)
    with open(tok, "w", encoding="ascii") as f:
        f.write("short\n")
    expect([bins.cli, "check-config", conf], 1, "check-config with a short token",
           "expected one line of 16 to 256 printable characters")


def pub_usage(bins, state):
    """zonetally-pub: bad flags exit 2; a bad NDJSON line exits 2 naming FILE:LINE."""
    pub = [bins.pub, "--endpoint", NOWHERE, "--wait-subscribers", "0", "--timeout", "2"]
    expect(pub + ["--bogus"], 2, "zonetally-pub unknown option")
    expect(pub, 2, "zonetally-pub without input")
    expect(pub + ["--generate", "abc"], 2, "zonetally-pub --generate abc")
    expect(pub + ["--generate", "10", "--day", "2022-02-30"], 2, "zonetally-pub bad day")
    expect(pub + ["--generate", "10", "--rate", "-1"], 2, "zonetally-pub negative rate")
    good = ('{"event_id":"0184667a5e4000000000000000000001","zone_code":330100,'
            '"direction":"EXPORT","mode":"9610","value_fen":100,"item_count":1,'
            '"declared_at_ms":1668155400000}\n')
    cases = [("not JSON", good + "\n" + "{not json\n", 3),
             ("wrong type", "# header\n" + good + good.replace("330100", '"hz"'), 3),
             ("not an object", good + "[1,2]\n", 2)]
    for i, (what, text, line) in enumerate(cases):
        path = os.path.join(state, f"bad{i}.ndjson")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        expect(pub + ["--file", path], 2, f"zonetally-pub NDJSON {what}", f"{path}:{line}")
    expect(pub + ["--file", "-"], 2, "zonetally-pub NDJSON on stdin", ":2",
           stdin_data=good + "{\n")
    spool = os.path.join(state, "no-such-parent", "spool")
    expect([bins.pub, "--reliable", "--endpoint", NOWHERE, "--spool", spool, "--generate",
            "1", "--timeout", "1"], 1, "zonetally-pub with a missing spool parent",
           f"spool '{spool}': No such file or directory (it is created if missing; its "
           "parent directory must exist")
    expect([bins.pub, "--endpoint", NOWHERE, "--generate", "1", "--timeout", "1"], 1,
           "zonetally-pub with no subscriber",
           f"waiting for 1 subscriber(s) on {NOWHERE}: 0 subscribed; is zonetallyd running")


COMMANDS = ["get", "top", "provinces", "zones", "stats", "reload", "check-config", "backup",
            "verify", "rejects", "watch", "keygen"]


def help_and_version(bins):
    """--help on every program and command: exit 0, stdout, an example; --version on all."""
    for cmd in COMMANDS:
        for flag in ("--help", "-h"):
            rc, out, err = zh.run([bins.cli, cmd, flag])
            zh.check(rc == 0 and out.startswith(f"usage: zonetally {cmd}") and
                     "\nexample: " in out and err == "",
                     f"zonetally {cmd} {flag}", (rc, out, err))
    # help needs no store and no configuration, even after other options
    rc, out, _ = zh.run([bins.cli, "--state-dir", "/nonexistent", "top", "-n", "3", "--help"])
    zh.check(rc == 0 and "(default: 10)" in out, "top --help after options shows defaults",
             out)
    for prog, needle in ((bins.cli, "zonetally COMMAND --help"),
                         (bins.pub, "(default: 30)"), (bins.daemon, "(default: info)")):
        rc, out, err = zh.run([prog, "--help"])
        zh.check(rc == 0 and needle in out and "example" in out and err == "",
                 f"{prog} --help", (rc, out, err))
        rc, out, _ = zh.run([prog, "--version"])
        name = os.path.basename(prog)
        zh.check(rc == 0 and re.fullmatch(rf"{name} \d+\.\d+\.\d+\n", out) is not None,
                 f"{name} --version", out)


def test(bins, state):
    """Each program in turn."""
    help_and_version(bins)
    daemon_usage(bins, state)
    daemon_config(bins, state)
    cli_usage(bins, state)
    check_config_token(bins, state)
    pub_usage(bins, state)


if __name__ == "__main__":
    zh.main(test, "test_cli_errors")
    sys.exit(1)

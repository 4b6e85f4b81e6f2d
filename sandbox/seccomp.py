"""The seccomp filter every sandboxed process runs under: allow by default, EPERM for what tools have no use for.

Compiled once (libseccomp through pyseccomp) into BPF bytes; each run hands them to bwrap through a
fresh pipe (`--seccomp FD`), which costs a pipe and one small write instead of a compile per run.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import tempfile
from typing import Final

log = logging.getLogger("pagi.sandbox")

# Namespaces, mounts, other processes' memory, the kernel's keyrings, eBPF, perf, modules, rebooting:
# none is needed to run a tool or build one, and each is a known way out of (or around) a sandbox.
BLOCKED: Final = (
    "unshare",
    "setns",
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "keyctl",
    "add_key",
    "request_key",
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "open_by_handle_at",
    "name_to_handle_at",
    "swapon",
    "swapoff",
    "reboot",
    "acct",
    "quotactl",
    "syslog",
    "iopl",
    "ioperm",
    "settimeofday",
    "clock_settime",
    "adjtimex",
    "lookup_dcookie",
    "vhangup",
)
# Only the execution-domain switch that turns off address-space randomisation is refused; other
# personality() calls keep working, the query 0xffffffff (glibc and runtimes make it) included: no
# real persona sets bit 31, so "ADDR_NO_RANDOMIZE set and bit 31 clear" singles out the switch.
ADDR_NO_RANDOMIZE: Final = 0x0040000
PERSONALITY_QUERY_BIT: Final = 0x80000000
CLONE_NEWUSER: Final = 0x10000000
TIOCSTI: Final = 0x5412


class SeccompUnavailable(RuntimeError):
    pass


def compile_filter() -> bytes:
    """The filter as BPF bytes, ready for `bwrap --seccomp`."""
    try:
        import pyseccomp as seccomp  # type: ignore[import-untyped]
    except (ImportError, OSError) as exc:  # OSError: libseccomp.so.2 is missing
        raise SeccompUnavailable(f"pyseccomp/libseccomp not available ({exc})") from exc
    try:
        rules = seccomp.SyscallFilter(seccomp.ALLOW)
        for name in BLOCKED:
            with contextlib.suppress(RuntimeError, ValueError, OSError):  # not a syscall on this architecture
                rules.add_rule(seccomp.ERRNO(errno.EPERM), name)
        # clone3 takes its flags in a struct seccomp cannot look into: ENOSYS makes libc fall back to
        # clone, whose flags it can check.
        rules.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
        rules.add_rule(
            seccomp.ERRNO(errno.EPERM), "clone", seccomp.Arg(0, seccomp.MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER)
        )
        rules.add_rule(
            seccomp.ERRNO(errno.EPERM),
            "personality",
            seccomp.Arg(0, seccomp.MASKED_EQ, ADDR_NO_RANDOMIZE | PERSONALITY_QUERY_BIT, ADDR_NO_RANDOMIZE),
        )
        # Pushing characters into the controlling terminal's input; the sandbox has a new session anyway.
        rules.add_rule(seccomp.ERRNO(errno.EPERM), "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xFFFFFFFF, TIOCSTI))
        with tempfile.TemporaryFile() as out:
            rules.export_bpf(out)
            out.seek(0)
            return out.read()
    except (RuntimeError, ValueError, OSError) as exc:
        raise SeccompUnavailable(f"the seccomp filter could not be compiled ({exc})") from exc


def filter_fd(program: bytes) -> int:
    """A pipe's read end holding the program (bwrap reads it to EOF); the caller closes it after the spawn."""
    read_end, write_end = os.pipe()
    try:
        # A few hundred bytes: far below the pipe's buffer, so this write never blocks.
        os.write(write_end, program)
    except OSError:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return read_end

"""The file tools' program, run inside the sandbox: it resolves symlinks where the tool's world is.

Every open is non-blocking and the file's type is checked on the open descriptor (fstat) before a
byte moves: a FIFO, a socket or a device in the workspace is refused at once, never waited on until
the run's timeout (a FIFO's open blocks until the other end opens)."""

from __future__ import annotations

# The program's exit codes (given to it as constants, so they are written once); the worker maps
# EXIT_ESCAPE back to the reason `path_escape`.
EXIT_ESCAPE = 3
EXIT_NOT_FOUND = 4
EXIT_INVALID = 2

# Run as `python3 -I -S -c FILEOPS` with {"op", "path", "content"?} as JSON on stdin; cwd is the workspace.
_PROGRAM = r"""
import json, os, stat, sys

def fail(code, msg):
    sys.stderr.write("pagi: " + msg + "\n")
    sys.exit(code)

def open_regular(path, flags, mode=0o644):
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK, mode)
    except FileNotFoundError:
        fail(EXIT_NOT_FOUND, "no such file: %s" % rel)
    except IsADirectoryError:
        fail(EXIT_INVALID, "is a directory: %s" % rel)
    except OSError as exc:  # ENXIO: a FIFO nobody reads; ELOOP: a symlink
        fail(EXIT_INVALID, "not a regular file: %s (%s)" % (rel, os.strerror(exc.errno or 0)))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        fail(EXIT_INVALID, "not a regular file: %s" % rel)
    os.set_blocking(fd, True)
    return fd

req = json.load(sys.stdin)
root = os.path.realpath(os.getcwd())
rel = req["path"]
target = os.path.join(root, rel)
real = os.path.realpath(target)
if real != root and not real.startswith(root + os.sep):
    fail(EXIT_ESCAPE, "path escapes the workspace: %s" % rel)
op = req["op"]
if op == "write":
    parent = os.path.dirname(real)
    os.makedirs(parent, exist_ok=True)
    if os.path.realpath(parent) != parent:
        fail(EXIT_ESCAPE, "path escapes the workspace: %s" % rel)
    data = req["content"].encode("utf-8")
    # Truncated only once it is known to be a regular file (O_TRUNC on open would touch anything).
    fd = open_regular(real, os.O_WRONLY | os.O_CREAT)
    os.ftruncate(fd, 0)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    print("wrote %d bytes to %s" % (len(data), rel))
elif op == "read":
    with os.fdopen(open_regular(real, os.O_RDONLY), "rb") as f:
        sys.stdout.write(f.read().decode("utf-8", "replace"))
elif op == "list":
    if not os.path.isdir(real):
        fail(EXIT_NOT_FOUND, "no such directory: %s" % rel)
    for dirpath, dirnames, filenames in os.walk(real):
        dirnames.sort()
        for name in sorted(filenames) + [d + "/" for d in dirnames]:
            full = os.path.join(dirpath, name.rstrip("/"))
            shown = os.path.relpath(full, root) + ("/" if name.endswith("/") else "")
            size = "" if name.endswith("/") else "\t%d" % os.lstat(full).st_size
            print(shown + size)
else:
    fail(EXIT_INVALID, "unknown op %r" % op)
"""
FILEOPS = f"EXIT_ESCAPE, EXIT_NOT_FOUND, EXIT_INVALID = {EXIT_ESCAPE}, {EXIT_NOT_FOUND}, {EXIT_INVALID}\n{_PROGRAM}"

"""Lexical checks on a tool's workspace path, made before anything runs (the sandbox re-checks symlinks)."""

from __future__ import annotations

import posixpath

MAX_PATH_CHARS = 1024


class PathEscape(ValueError):
    """The path would leave the workspace."""


def workspace_relative(path: str, *, allow_root: bool = False) -> str:
    """A normalised path relative to the workspace; absolute paths and `..` are refused outright."""
    if "\x00" in path:
        raise PathEscape("path contains a NUL byte")
    if len(path) > MAX_PATH_CHARS:
        raise PathEscape(f"path longer than {MAX_PATH_CHARS} characters")
    if path.startswith("/"):
        raise PathEscape(f"absolute path {path!r} is outside the workspace: use a path relative to it")
    if ".." in path.split("/"):
        raise PathEscape(f"path {path!r} uses '..' to leave the workspace")
    normal = posixpath.normpath(path) if path else "."
    if normal == "." and not allow_root:
        raise PathEscape("path names the workspace itself, not a file in it")
    return normal

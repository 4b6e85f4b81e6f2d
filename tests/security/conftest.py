from tests.workers_support import blobs, registry, runner, sandbox, sid, state_dir

__all__ = ["blobs", "registry", "runner", "sandbox", "sid", "state_dir"]

from tests.tool_worker.sandbox_fixtures import blobs, registry, runner, sandbox, sid, state_dir

__all__ = ["blobs", "registry", "runner", "sandbox", "sid", "state_dir"]

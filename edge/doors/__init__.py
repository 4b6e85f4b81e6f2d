"""The edge's doors for clients that speak a standard (the OpenAI API, MCP, A2A, the agents on NATS),
each `register(app)`-ed by edge/app.py, all on one core: job_run.py (start a job as the caller and
follow it), approvals.py (decide an approval), errors.py (refusals in each door's own shape),
health.py (which doors are up)."""

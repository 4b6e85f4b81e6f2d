"""The edge's live streams: the chat WebSocket and the SSE streams, fed from one tail of the events
stream per edge (feeds, session hub) and of the telemetry stream (telemetry hub), each client behind
its own bounded outbox, resumable from the last stream sequence it saw (follower, replay)."""

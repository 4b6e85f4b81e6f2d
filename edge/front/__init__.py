"""The edge's front door, in front of every route: who is calling (API keys, session cookies), what
they may do (Origin checks, body size, rate limits, security headers), and what is measured (a span
and metrics per request, the service registry behind /health, the edge's own heartbeat)."""

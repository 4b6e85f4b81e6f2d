"""The edge's HTTP API: one module per group of routes (chat, approvals and jobs, twins, tools,
memory, audit, health, the seed's legacy routes, the OpenAPI document), each a thin translation of
a request into a bus call or a record read, and of the answer into JSON."""

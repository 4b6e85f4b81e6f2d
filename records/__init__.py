"""The shared records every service reads: twins, prompt versions, approvals, jobs, the tool registry
and the done-ledger; their KV key formats (one function each, in the record's module) and the named
moves of a job and of an approval. Imports only `bus_schemas` and `pagi`."""

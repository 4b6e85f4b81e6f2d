"""Replay-based evals (bus_schemas/evals.py): re-running recorded turns with a candidate prompt,
in memory, through the planner's own deciding code (`simulate`), judged by a case's checks
(`checks`), with model replies reused where the model would see the same thing (`replies`); the
`eval.run` handler (`runner`) and the eval gate on self-improve approvals (`gate`)."""

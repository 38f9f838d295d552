"""The send job: `job` (the RQ entry point and claiming), `lanes` (the connections kept
busy), `replies` (what one SMTP reply means), `verdicts` (the pure judgement of a batch),
`relay` (the run memory in Redis), `ledger` (the statements that record each row)."""

"""What jobs cost and what a namespace may spend (QiskitBudget, docs/budgets.md).

`pricing` turns a QiskitBackend's price and a job's workload into a cost (validate
estimates, execute measures); `ledger` is the pure account of one budget's period
(reserve, charge, release, roll over); `choosing` finds the budget a job answers
to; `admitting` is reconcile's side: the reservation, written with the API
server's optimistic concurrency, and the settlement when a job ends.
"""

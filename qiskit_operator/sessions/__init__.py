"""QiskitSession: jobs that share a backend, a time limit and accounting (docs/sessions.md).

`queueing` decides, purely, which of a session's jobs run next and whether it
has closed; `holding` is validate's side (a session's job waits for its turn,
then runs on the session's backend); `scheduling` is reconcile's side, the only
writer of a session's status and of its jobs' turns; `store` reads sessions and
their jobs (`kube.sessions` on a cluster).
"""

"""`kubectl qiskit`: the kubectl plugin (console script `kubectl-qiskit`).

kubectl runs any `kubectl-NAME` it finds on PATH as `kubectl NAME`; this one makes
QiskitJobs from circuit files, shows their results, their log lines and cancels
them, with kubectl's own conventions (--namespace, --context, -o json|yaml, exit
codes). See docs/client.md.
"""

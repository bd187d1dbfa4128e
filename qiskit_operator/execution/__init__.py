"""Execution on Qiskit Aer: transpile only when needed, cached, then run."""

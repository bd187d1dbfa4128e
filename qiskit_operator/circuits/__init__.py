"""Circuits: loading every format, summarising, serialising. The only Qiskit-importing
package besides `execution`."""

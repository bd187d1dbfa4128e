"""The cluster's catalogue of backends: QiskitBackend objects, their status kept
fresh on the PingSource's ping (`refreshing`), read by backend selection."""

"""The Kubernetes adapter: the only package that imports the `kubernetes` client.

Its errors are ours: the client's ApiException never leaves this package.
"""

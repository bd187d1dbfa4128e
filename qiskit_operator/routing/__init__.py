"""Routing events the way Knative's Broker and Triggers do, for the local runner."""

"""Who sent an event: verifying senders' tokens and attaching our own.

Knative Eventing's OIDC sender identity (DESIGN.md §3): every sender carries a
bearer token the API server issued for the sender's ServiceAccount and the
receiver's audience. `verifying` checks such tokens against the API server's
published keys (`keys`); `tokens` gets our own for what we send; `identities`
names the ServiceAccounts and audiences Knative uses; `policy` is a Broker's
EventPolicy. Used by the HTTP layer of each function (serving.py) and by the dev
Broker (routing/), never by the domain logic.
"""

"""Where a request enters `qop serve`: received whole, within a size limit and a
deadline, on an event loop, before a worker thread of the function sees it.

`worker.BoundedWorker` is the gunicorn worker class; `deadline` cuts off a client
that is too slow to send its request; `buffering` hands the whole request to the
functions-framework (Flask) application in a thread. See docs/serving.md.
"""

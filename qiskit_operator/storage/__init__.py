"""Object storage for full results: `spec.output.type: s3` (docs/storage.md).

`objects` names a job's object (pure; reconcile uses it to know where a result
must be), `signing` signs S3 requests (AWS Signature Version 4), `s3` talks to a
bucket with retries, and `uploading` is what execute calls: it reads the
credentials Secret, checks the endpoint against the cluster's list, and puts
the result. Execute alone uploads, because execute alone reads Secrets
(docs/credentials.md); reconcile never talks to the bucket.
"""

"""Job status: how events change it (pure), and where it is written."""

"""The send job's old import path, kept as a thin alias: RQ names a job by the path of its
function, and jobs queued before the send job moved to `workers/send/job.py` still name
this one. New jobs name `workers.send.job.send_batch` (workers/queue.py)."""

from workers.send.job import send_batch

__all__ = ["send_batch"]

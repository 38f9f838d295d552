"""How it leaves: the RQ queue, the send job, the dispatcher and the mail transports."""

"""How it leaves: the RQ conveyor, the send job, the dispatcher and the mail transports."""

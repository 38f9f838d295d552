"""Who a subscriber is and whether they may still be mailed: one place for each rule.

Used by every feature (signup, the send job, bounces, the dashboard, the importer); it
uses only `campaigns` and `models`. `lifecycle` finds a subscriber, says who may receive
which kind of email, and stops one; `suppression` keeps the hashes of addresses that
must not be mailed again; `rows` builds the columns of a new subscriber and of a consent;
`fields` says how long each field may be, from the columns.
"""

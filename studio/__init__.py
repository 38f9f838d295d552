"""The coach's powers, as service functions: publish and revert what readers get, change
the sequence, the pages, the worksheet and the coach's settings, and act on one reader.
The dashboard (`admin`) and the admin API call these; neither has logic of its own. Every
change is written to the audit log (`studio.audit`).
"""

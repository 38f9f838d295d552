"""What to send and when: the sequence, due-date rules, delivery scheduling and rendering."""

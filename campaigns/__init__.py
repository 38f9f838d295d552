"""What to send and when: the sequence, timing rules, the dispatch plan, scheduling, rendering,
composing and the MIME writer."""

"""``make bench``: the performance figures of SPEC §11."""

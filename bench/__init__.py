"""``make bench``: the performance table, each figure next to a partner from the same run."""

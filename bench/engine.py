"""Engine figures: worker claims per second, indexer rescan (filled in when the engine lands)."""


def run(args, workdir, report) -> None:
    """Measure the ANR queue and indexer."""
    report("worker queue / indexer", "not measured yet")

"""The ANR engine: replay URLs, indexer, fill queue and worker, simulated camera.

Nothing in here handles a web request; views never run ffmpeg.
"""

"""Files on this host: the home's layout (``home.py``) and the safe ways to write and lock
them (``fsio.py``: atomic replace with fsync, flock with a deadline, private modes). Every
layer that keeps a file uses these; ``net/`` is the network's counterpart."""

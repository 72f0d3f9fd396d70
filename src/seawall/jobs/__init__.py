"""Work that runs in the background of a server process, on a timer."""

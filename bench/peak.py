"""The peak resident memory of this process itself, for the bench's memory rows."""

import resource


def peak_rss_mb(status="/proc/self/status"):
    """This process's RSS high-water mark in MB: VmHWM from /proc (per address space, so it
    starts afresh at exec). getrusage's ru_maxrss is not used where /proc exists: Linux carries
    it across fork and exec, so a child started by a parent that once held 3.1 GB reported
    3.1 GB whatever it used itself (the bench's parent scores nets in-process)."""
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

"""Process-wide set-up of the SQLite library that Python's sqlite3 module runs on."""

import _sqlite3
import ctypes
import logging

logger = logging.getLogger("perfshop.database")

_SQLITE_CONFIG_MEMSTATUS = 9  # sqlite3.h
_configured = False


def disable_memory_statistics() -> bool:
    """Turn SQLite's global memory statistics off, once per process and before its first connection opens.

    With them on (the library's default), every allocation takes one process-wide mutex to count itself: two
    connections working on two threads then serialize on it, and measured on the export, two readers used 7.4 s of
    CPU where one used 4.1, and finished later. Nothing here reads the statistics. Returns whether they are off; a
    library that does not export the calls (linked in without its symbols) is left as it is.
    """
    global _configured
    if _configured:
        return True
    try:
        # The module's own file: its symbols are those of the SQLite it is linked with, statically or not.
        library = ctypes.CDLL(_sqlite3.__file__)
        shutdown, config, initialize = library.sqlite3_shutdown, library.sqlite3_config, library.sqlite3_initialize
    except (OSError, AttributeError) as error:
        logger.info("SQLite memory statistics left on: %s", error)
        return False
    # The configuration can only change while the library is shut down, which no open connection may see.
    turned_off = shutdown() == 0 and config(_SQLITE_CONFIG_MEMSTATUS, ctypes.c_int(0)) == 0
    if initialize() != 0 or not turned_off:
        logger.warning("SQLite memory statistics could not be turned off")
        return False
    _configured = True
    return True

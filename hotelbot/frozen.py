"""Behaviour specific to the one-file executable built by PyInstaller.

A one-file executable runs as two processes: the launcher (PyInstaller's
bootloader) unpacks the bundle into ``$TMPDIR/_MEIxxxxxx``, starts a child
process that runs hotelbot from there, forwards signals to it and deletes the
directory when the child exits. Without :func:`stop_with_launcher`, killing the
launcher alone (``kill -9`` on its pid) would leave the child running.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def is_onefile_child() -> bool:
    """Return True when running unpacked from a one-file executable, in the launcher's child process."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or bundle is None:
        return False
    # A one-file launcher unpacks into a fresh _MEIxxxxxx folder; a one-folder build runs from _internal.
    return Path(bundle).name.startswith("_MEI")


def stop_with_launcher() -> None:
    """Ask Linux to send SIGTERM to this process when the launcher dies.

    hotelbot then stops as it does on any SIGTERM. The unpacked directory stays
    behind in that case, because only the launcher deletes it, so the systemd
    unit removes leftovers before each start. Does nothing outside a one-file
    child or on systems other than Linux.
    """
    if not is_onefile_child() or not sys.platform.startswith("linux"):
        return

    launcher_pid = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        logger.warning("Could not tie this process to its launcher: errno %s", ctypes.get_errno())
        return

    # The launcher may have died before prctl() took effect; this process was then re-parented.
    if launcher_pid == 1 or os.getppid() != launcher_pid:
        raise SystemExit("hotelbot: the launcher process has exited; stopping.")

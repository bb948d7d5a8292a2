"""The state directory's permissions: owner-only (0600 files, 0700 directories) with one exception.

When the stack runs as root, PostgreSQL runs as its own OS user, which must pass through the state
directory and ``pg/`` to reach its node homes. Those two directories are then 0710 and belong to that
user's group: its members may enter them (not list them); nobody else may do either.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path

from floodwall.privatefs import make_private_dir, tighten_tree
from floodwall.stack.layout import Layout

TRAVERSE_MODE = 0o710


def traversal_dirs(layout: Layout, pg_user: str | None) -> dict[Path, int]:
    """The directories another OS user must traverse, with their exact mode (none when PostgreSQL runs
    as ourselves)."""
    if pg_user is None:
        return {}
    return {layout.root: TRAVERSE_MODE, layout.pg_root: TRAVERSE_MODE}


def secure_state_dir(layout: Layout, pg_user: str | None) -> list[Path]:
    """Create the state directory owner-only and narrow whatever an older release left wider there.

    Returns the paths whose mode changed (an upgrade from the 0644/0755 layout lists many).
    """
    make_private_dir(layout.root)
    make_private_dir(layout.pg_root)
    traverse = traversal_dirs(layout, pg_user)
    if pg_user is not None:
        gid = pwd.getpwnam(pg_user).pw_gid
        for directory in traverse:
            os.chown(directory, -1, gid)
    return tighten_tree(layout.root, exact=traverse)

"""A sandbox's `/etc`: the allow-listed files copied once per sandbox into a private directory, bound
read-only at `/etc`, with the allow-listed directories bound over it.

Binding each allow-listed file on its own made about 20 bind mounts per command, each a mount, a read-only
remount and a read of the mount table in bwrap: 3 to 5 ms of CPU of the ~10 bwrap spends. One bind of a
copy gives the command the same files, read-only, for one mount. The copy is taken when the sandbox's
first command starts (so it is as fresh as the sandbox: one job). Small directories are copied too, links
inside them kept as links; large ones (`ssl/certs`, `alternatives`, `fonts`: hundreds of links, slow to
copy) stay binds, onto empty directories made in the copy. A link at the top (`os-release`, a
`resolv.conf` pointing into `/run`) is followed, as a bind follows it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ETC = Path("/etc")
COPY_AT_MOST = 32  # entries in an allow-listed directory, below and at which it is copied rather than bound


@dataclass(frozen=True)
class EtcCopy:
    """The copy (`root`, to bind at /etc) and the allow-listed directories to bind over it."""

    root: Path
    directories: tuple[str, ...]

    def args(self) -> list[str]:
        """bwrap's arguments for it."""
        args = ["--ro-bind", str(self.root), str(ETC)]
        for name in self.directories:
            args += ["--ro-bind-try", str(ETC / name), str(ETC / name)]
        return args

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def copy_etc(allowed: Sequence[str], mount_points: Sequence[Path] = ()) -> EtcCopy:
    """Copy the files among `/etc/<allowed>` (those the worker can read) into a new private directory
    and make an empty directory for each allowed directory; also make `mount_points` (other read-only
    paths under /etc, bound later) so that bwrap finds them there. Blocking: call it off the event loop."""
    root = Path(tempfile.mkdtemp(prefix=f"specloop-etc-{os.getpid()}-"))  # the worker's pid: whose it is
    root.chmod(0o755)
    directories = []
    try:
        for name in allowed:
            source, target = ETC / name, root / name
            if source.is_dir() and _entries(source) <= COPY_AT_MOST:
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):
                    shutil.copytree(source, target, symlinks=True)
            elif source.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                directories.append(name)
            elif source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                with contextlib.suppress(OSError):  # unreadable to the worker: a bind would show nothing either
                    shutil.copy(source, target)
        for path in mount_points:
            target = root / path.relative_to(ETC)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            elif not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return EtcCopy(root, tuple(directories))


def _entries(directory: Path) -> int:
    """How many files, links and directories are under `directory` (counting stops past `COPY_AT_MOST`)."""
    count = 0
    with contextlib.suppress(OSError):
        for _, dirs, files in os.walk(directory):
            count += len(dirs) + len(files)
            if count > COPY_AT_MOST:
                break
    return count

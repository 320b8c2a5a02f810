"""Debian's python3-* packages from the Python tests, whichever python3 runs them.

`python3` on PATH may be another interpreter than Debian's (a virtualenv, pyenv, a newer build),
which does not look in Debian's dist-packages. import_debian() tries the interpreter's own
modules first and falls back to Debian's, appended last so that nothing the interpreter has
is shadowed. A child Python process gets the same fallback from `fallback_line()`.
"""
import importlib
import sys

DIST_PACKAGES = "/usr/lib/python3/dist-packages"


def import_debian(name):
    """The module `name`, from this interpreter's path or else Debian's; ImportError if neither."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if DIST_PACKAGES not in sys.path:
            sys.path.append(DIST_PACKAGES)
        return importlib.import_module(name)


def fallback_line():
    """The statement that gives a child Python script the same fallback (put it before imports)."""
    return f"import sys; sys.path.append({DIST_PACKAGES!r})"

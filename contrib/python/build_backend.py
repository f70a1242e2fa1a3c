"""build_backend: the PEP 517 build backend of msgd's Python client.

In-tree (pyproject.toml: backend-path = ["."]) and standard library only,
so that ``pip install contrib/python`` works in a fresh virtualenv with no
network and no setuptools: pip finds nothing to download.  It builds
pure-Python wheels (also PEP 660 editable ones) and sdists of the package
msgd_client and nothing else.

The version is msgd's: AC_INIT's in ../../configure.ac (in a git checkout
or an msgd release tarball), else the Version of PKG-INFO (an sdist this
backend made).  It goes into the metadata and into msgd_client.__version__
of the wheel.  Name, summary and Requires-Python come from pyproject.toml's
[project] table, which may hold only string values and dynamic = ["version"]
(a line parser: tomllib is Python 3.11's, and the backend runs on 3.8).
"""

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "msgd_client"
FILES = ("__init__.py", "aio.py", "py.typed")
# Fixed file times: the same sources give the same archives (zip cannot
# go before 1980).
EPOCH = max(int(os.environ.get("SOURCE_DATE_EPOCH", "0")), 315532800)


def _project():
    """[project]'s string values from pyproject.toml."""
    out = {}
    section = None
    with open(os.path.join(HERE, "pyproject.toml"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.fullmatch(r"\[([A-Za-z0-9_.-]+)\]", line)
            if m:
                section = m.group(1)
                continue
            if section != "project":
                continue
            m = re.fullmatch(r'([A-Za-z0-9_-]+)\s*=\s*"([^"\\]*)"', line)
            if m:
                out[m.group(1)] = m.group(2)
            elif re.fullmatch(r'dynamic\s*=\s*\[\s*"version"\s*\]', line):
                pass
            else:
                raise ValueError("pyproject.toml:%d: build_backend.py reads "
                                 "only key = \"string\" in [project]: %r" %
                                 (n, line))
    for k in ("name", "description", "requires-python"):
        if k not in out:
            raise ValueError("pyproject.toml: [project] has no %s" % k)
    return out


def version():
    """msgd's version (see the module docstring)."""
    ac = os.path.join(HERE, os.pardir, os.pardir, "configure.ac")
    if os.path.exists(ac):
        with open(ac, encoding="utf-8") as f:
            m = re.search(r"^AC_INIT\(\[[^]]*\],\s*\[([^]]+)\]", f.read(),
                          re.M)
        if not m:
            raise ValueError("%s: no AC_INIT([name], [version])" % ac)
        return m.group(1)
    pkg = os.path.join(HERE, "PKG-INFO")
    if os.path.exists(pkg):
        with open(pkg, encoding="utf-8") as f:
            m = re.search(r"^Version: (\S+)$", f.read(), re.M)
        if m:
            return m.group(1)
    raise ValueError("no version: neither %s nor %s exists" % (ac, pkg))


def _metadata(ver):
    p = _project()
    readme = os.path.join(HERE, "README")
    text = ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "Requires-Python: %s\n" % (p["name"], ver, p["description"],
                                       p["requires-python"]))
    if os.path.exists(readme):
        with open(readme, encoding="utf-8") as f:
            text += "Description-Content-Type: text/plain\n\n" + f.read()
    return p["name"], text


def _dist_name(name):
    return re.sub(r"[-_.]+", "_", name)


def _source(name, ver):
    """A package file's bytes; __init__.py with the version filled in."""
    with open(os.path.join(HERE, PACKAGE, name), "rb") as f:
        data = f.read()
    if name == "__init__.py":
        data, n = re.subn(rb'^__version__ = "[^"]*"', b'__version__ = "' +
                          ver.encode() + b'"', data, count=1, flags=re.M)
        if n != 1:
            raise ValueError("%s/__init__.py has no __version__ line" %
                             PACKAGE)
    return data


def _wheel(wheel_directory, files, ver):
    """Write a py3-none-any wheel of files [(path, bytes)] plus its
    dist-info; returns its file name."""
    name, meta = _metadata(ver)
    base = "%s-%s" % (_dist_name(name), ver)
    info = base + ".dist-info"
    files = list(files) + [
        (info + "/METADATA", meta.encode("utf-8")),
        (info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: msgd "
         b"build_backend.py\nRoot-Is-Purelib: true\nTag: py3-none-any\n")]
    record = []
    for path, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
        record.append("%s,sha256=%s,%d" % (path, digest.rstrip(b"=").decode(),
                                           len(data)))
    record.append(info + "/RECORD,,")
    files.append((info + "/RECORD", ("\n".join(record) + "\n").encode()))
    filename = base + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for path, data in files:
            zi = zipfile.ZipInfo(path, time.gmtime(EPOCH)[:6])
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    return filename


# -- PEP 517 and PEP 660 hooks

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    ver = version()
    return _wheel(wheel_directory, [(PACKAGE + "/" + f, _source(f, ver))
                                    for f in FILES], ver)


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    """A wheel whose .pth file puts this directory on sys.path (edits show
    at once; __version__ stays "unknown")."""
    return _wheel(wheel_directory, [(PACKAGE + ".pth",
                                     (HERE + "\n").encode())], version())


def build_sdist(sdist_directory, config_settings=None):
    """name-version.tar.gz: this directory's files and PKG-INFO (which
    carries the version once configure.ac is no longer beside it)."""
    ver = version()
    name, meta = _metadata(ver)
    base = "%s-%s" % (_dist_name(name), ver)
    members = [("PKG-INFO", meta.encode("utf-8"))]
    for f in ("pyproject.toml", "build_backend.py", "README"):
        if os.path.exists(os.path.join(HERE, f)):
            with open(os.path.join(HERE, f), "rb") as fh:
                members.append((f, fh.read()))
    for f in FILES:
        with open(os.path.join(HERE, PACKAGE, f), "rb") as fh:
            members.append((PACKAGE + "/" + f, fh.read()))
    filename = base + ".tar.gz"
    with open(os.path.join(sdist_directory, filename), "wb") as f, \
            gzip.GzipFile(fileobj=f, mode="wb", mtime=EPOCH) as gz, \
            tarfile.open(fileobj=gz, mode="w",
                         format=tarfile.PAX_FORMAT) as tar:
        for path, data in members:
            ti = tarfile.TarInfo(base + "/" + path)
            ti.size = len(data)
            ti.mtime = EPOCH
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(data))
    return filename

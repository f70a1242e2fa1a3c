"""test_remote_files: PUT, GET, LIST and DEL against a real msgd.

Round trips (empty, 1 byte, exactly files.max_size; max_size + 1 ->
TOO_LARGE with the connection kept), overwrite (longer, then shorter), the
bytes on disk, LIST (sorted by name, "name\\tsize\\tmtime\\n" per file, sizes
and mtimes as on disk), DEL (then GET NOT_FOUND, DEL again NOT_FOUND),
files.max_count (a new name refused TOO_LARGE, an overwrite still stored).
Disabled (the default): PUT, GET, LIST, DEL each DENIED "files are
disabled", nothing created.
Hostile names (../x, /etc/passwd, a/b, ., .., .hidden, embedded NUL, 256
bytes, non-ASCII UTF-8, empty, ...) are BAD_REQUEST for PUT, GET and DEL;
a snapshot of the server's whole temp dir (and /etc/passwd) before and
after shows only the files dir changed, and only by the valid names.
Planted entries are never followed: a symlink to a file outside (known
content) and a dangling one: GET -> DENIED without the outside content; PUT
over either -> DENIED, the link unchanged, its target unchanged (the
dangling one's target not created); DEL -> DENIED, the link kept; LIST does
not show them.  A FIFO and a directory: GET -> DENIED at once (no hang).
"""
import hashlib
import os
import stat
import time

from harness import Op, St, Suite, spool_entries

t = Suite("test_remote_files")

MAX_SIZE = 65536
SECRET = b"outside content: must never be returned\n"


def files_server(t, files=None, **kw):
    """A server whose files dir is <temp>/jail/files (the jail holds the
    outside files the tests plant next to it)."""
    srv = t.server(start=False, **kw)
    srv.jail = os.path.join(srv.dir, "jail")
    os.mkdir(srv.jail)
    srv.files_dir = os.path.join(srv.jail, "files")
    f = {"enabled": True, "dir": srv.files_dir}
    f.update(files or {})
    srv.settings["files"] = f
    return srv.start()


def snapshot(root, skip=()):
    """{relative path: (kind, detail)} of the tree under root, without
    following symlinks; regular files with a digest of their content."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if rel in skip:
                continue
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", os.readlink(p))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out[rel] = ("file", hashlib.sha256(f.read()).hexdigest())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", "")
            else:
                out[rel] = ("other", stat.S_IFMT(st.st_mode))
    return out


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def list_entries(value):
    """LIST value -> [(name, size, mtime)]; None if a line is malformed."""
    if value and not value.endswith(b"\n"):
        return None
    out = []
    for line in value.split(b"\n")[:-1]:
        parts = line.split(b"\t")
        if len(parts) != 3 or not parts[1].isdigit() or \
                not parts[2].isdigit():
            return None
        out.append((parts[0], int(parts[1]), int(parts[2])))
    return out


@t.case
def round_trips(t):
    srv = files_server(t, {"max_size": MAX_SIZE})
    with srv.client() as c:
        cases = [(b"empty", b""), (b"one", b"\x00"),
                 (b"max", os.urandom(MAX_SIZE)),
                 (b"bin.dat", bytes(range(256)) * 7)]
        for name, data in cases:
            f = c.request(Op.PUT, data, name, request_id=11)
            t.check_response(f, "PUT %s (%d bytes)" % (name, len(data)),
                             Op.PUT, rid=11, value=b"")
            f = c.request(Op.GET, key=name, request_id=12)
            t.check_response(f, "GET %s" % name, Op.GET, rid=12, key=name,
                             value=data)
            with open(os.path.join(srv.files_dir, name.decode()), "rb") as fp:
                t.check(fp.read() == data, "%s on disk is what was PUT" %
                        name)

        f = c.request(Op.PUT, b"y" * (MAX_SIZE + 1), b"toolarge",
                      request_id=13)
        t.check_response(f, "PUT of max_size + 1 bytes", Op.PUT,
                         St.TOO_LARGE, rid=13, value=True)
        t.check(not os.path.exists(os.path.join(srv.files_dir, "toolarge")),
                "a refused PUT creates nothing")
        f = c.request(Op.GET, key=b"toolarge", request_id=14)
        t.check_response(f, "GET after a refused PUT", Op.GET, St.NOT_FOUND,
                         rid=14, value=True)

        # Overwrite: longer, then shorter (no stale tail).
        for i, data in enumerate((b"first version", b"second, longer version",
                                  b"3rd")):
            f = c.request(Op.PUT, data, b"over", request_id=20 + i)
            t.check_response(f, "PUT over (%d)" % i, Op.PUT, rid=20 + i,
                             value=b"")
            f = c.request(Op.GET, key=b"over", request_id=30 + i)
            t.check_response(f, "GET over (%d)" % i, Op.GET, rid=30 + i,
                             key=b"over", value=data)
        f = c.request(Op.PING, request_id=40)
        t.check_response(f, "connection kept", Op.PING, rid=40,
                         value=b"PONG")
    left = [n for n in spool_entries(srv.files_dir) if n.startswith(".")]
    t.check(not left, "no temporary files left: %r" % left)


@t.case
def list_and_delete(t):
    srv = files_server(t)
    with srv.client() as c:
        f = c.request(Op.LIST, request_id=1)
        t.check_response(f, "LIST of an empty dir", Op.LIST, rid=1,
                         value=b"")
        names = [b"b", b"a", b"_x", b"Z9", b"a.b", b"a-b", b"-dash", b"9",
                 b"B", b"aa", b"a_"]
        for i, n in enumerate(names):
            f = c.request(Op.PUT, b"x" * (i * 3), n)
            t.check(f.status == St.OK, "PUT %s: %r" % (n, f))
        f = c.request(Op.LIST, request_id=2)
        t.check_response(f, "LIST", Op.LIST, rid=2, value=None)
        ents = list_entries(f.value)
        if t.check(ents is not None, "LIST lines are name\\tsize\\tmtime\\n: "
                   "%r" % f.value[:200]):
            t.check([e[0] for e in ents] == sorted(names),
                    "LIST sorted by name (bytes): %r, want %r" % (
                        [e[0] for e in ents], sorted(names)))
            for n, size, mtime in ents:
                st = os.stat(os.path.join(srv.files_dir, n.decode()))
                t.check(size == st.st_size and mtime == int(st.st_mtime),
                        "LIST %s: size %d mtime %d, on disk %d %d" % (
                            n, size, mtime, st.st_size, int(st.st_mtime)))
            want = b"".join(b"%s\t%d\t%d\n" % (
                n, i * 3, int(os.stat(os.path.join(
                    srv.files_dir, n.decode())).st_mtime))
                for n, i in sorted((n, i) for i, n in enumerate(names)))
            t.check(f.value == want, "LIST exact text: %r, want %r" % (
                f.value[:120], want[:120]))

        f = c.request(Op.DEL, key=b"a", request_id=3)
        t.check_response(f, "DEL a", Op.DEL, rid=3, value=b"")
        t.check(not os.path.exists(os.path.join(srv.files_dir, "a")),
                "DEL removed the file")
        f = c.request(Op.GET, key=b"a", request_id=4)
        t.check_response(f, "GET after DEL", Op.GET, St.NOT_FOUND, rid=4,
                         value=True)
        f = c.request(Op.DEL, key=b"a", request_id=5)
        t.check_response(f, "DEL again", Op.DEL, St.NOT_FOUND, rid=5,
                         value=True)
        f = c.request(Op.DEL, key=b"never", request_id=6)
        t.check_response(f, "DEL of a name never stored", Op.DEL,
                         St.NOT_FOUND, rid=6, value=True)
        f = c.request(Op.LIST, request_id=7)
        ents = list_entries(f.value) or []
        t.check(f.status == St.OK and b"a" not in [e[0] for e in ents] and
                len(ents) == len(names) - 1,
                "LIST after DEL: %r" % f.value[:200])


@t.case
def max_count(t):
    srv = files_server(t, {"max_count": 3})
    with srv.client() as c:
        for n in (b"f1", b"f2", b"f3"):
            f = c.request(Op.PUT, b"v", n)
            t.check(f.status == St.OK, "PUT %s under max_count: %r" % (n, f))
        f = c.request(Op.PUT, b"v", b"f4", request_id=9)
        t.check_response(f, "PUT of a 4th name, files.max_count = 3",
                         Op.PUT, St.TOO_LARGE, rid=9, value=True)
        f = c.request(Op.PUT, b"new content", b"f2", request_id=10)
        t.check_response(f, "overwrite at max_count", Op.PUT, rid=10,
                         value=b"")
        f = c.request(Op.DEL, key=b"f1")
        f = c.request(Op.PUT, b"v", b"f4", request_id=11)
        t.check_response(f, "PUT after a DEL made room", Op.PUT, rid=11,
                         value=b"")
    t.check(sorted(spool_entries(srv.files_dir)) == ["f2", "f3", "f4"],
            "files dir: %r" % sorted(spool_entries(srv.files_dir)))


@t.case
def disabled(t):
    srv = t.server()
    before = snapshot(srv.dir, skip=("msgd.stderr", "stats"))
    with srv.client() as c:
        for op, key in ((Op.PUT, b"a"), (Op.GET, b"a"), (Op.LIST, b""),
                        (Op.DEL, b"a"), (Op.PUT, b"../x")):
            f = c.request(op, b"data", key, request_id=op)
            if t.check_response(f, "op 0x%02x with files disabled" % op, op,
                                St.DENIED, rid=op, value=True):
                t.check(b"files are disabled" in f.value,
                        "DENIED message names the cause: %r" % f.value)
        f = c.request(Op.ECHO, b"still", request_id=99)
        t.check_response(f, "connection kept", Op.ECHO, rid=99,
                         value=b"still")
    after = snapshot(srv.dir, skip=("msgd.stderr", "stats"))
    t.check(after == before, "nothing created with files disabled: %r" % (
        set(after) ^ set(before)))


HOSTILE = [b"../x", b"/etc/passwd", b"a/b", b".", b"..", b".hidden",
           b"a\x00b", b"x" * 256, "caf\u00e9".encode(), b"", b"../../x",
           b"./x", b"a\\b", b"sp ace", b"new\nline", b"tab\t", b"*",
           b".tmp.1.1", b"files/../x"]


@t.case
def hostile_names(t):
    srv = files_server(t)
    with open("/etc/passwd", "rb") as f:
        passwd = f.read()
    # The lock file holds the spool's file count, which each PUT updates.
    skip = ("msgd.stderr", "stats", os.path.join("jail", "files", ".lock"))
    before = snapshot(srv.dir, skip)
    with srv.client() as c:
        for name in HOSTILE:
            for op in (Op.PUT, Op.GET, Op.DEL):
                f = c.request(op, b"hostile content", name, request_id=op)
                t.check_response(f, "op 0x%02x name %r" % (op, name[:40]),
                                 op, St.BAD_REQUEST, rid=op, value=True)
        # The valid neighbours of the hostile ones are fine.
        valid = [b"x" * 255, b"x", b"a.b", b"passwd", b"hidden."]
        for name in valid:
            f = c.request(Op.PUT, b"ok", name)
            t.check(f.status == St.OK, "PUT valid name %r: %r" % (
                name[:40], f))
        f = c.request(Op.PING, request_id=77)
        t.check_response(f, "connection kept after bad names", Op.PING,
                         rid=77, value=b"PONG")
    after = snapshot(srv.dir, skip)
    added = {k: v for k, v in after.items() if k not in before}
    changed = [k for k in before if k in after and after[k] != before[k]]
    gone = [k for k in before if k not in after]
    want = {os.path.join("jail", "files", n.decode()): ("file", hashlib.
            sha256(b"ok").hexdigest()) for n in valid}
    t.check(added == want, "only the valid names were created, in the files "
            "dir: added %r" % sorted(k[:60] for k in added))
    t.check(not changed and not gone, "nothing else changed: changed %r, "
            "gone %r" % (changed, gone))
    with open("/etc/passwd", "rb") as f:
        t.check(f.read() == passwd, "/etc/passwd unchanged")


@t.case
def symlinks(t):
    srv = files_server(t)
    outside = os.path.join(srv.jail, "secret")
    with open(outside, "wb") as f:
        f.write(SECRET)
    missing = os.path.join(srv.jail, "dangling-target")
    link = os.path.join(srv.files_dir, "link")
    dang = os.path.join(srv.files_dir, "dangling")
    os.symlink(outside, link)
    os.symlink(missing, dang)
    # Relative links too (resolved beneath the files dir's parent).
    rel = os.path.join(srv.files_dir, "rel")
    os.symlink("../secret", rel)
    with srv.client() as c:
        f = c.request(Op.PUT, b"regular", b"plain")
        t.check(f.status == St.OK, "PUT plain: %r" % f)
        for name in (b"link", b"dangling", b"rel"):
            # spool_get: openat2(RESOLVE_NO_SYMLINKS, O_NOFOLLOW) -> ELOOP
            # -> DENIED, for a dangling link as well.
            f = c.request(Op.GET, key=name, request_id=1)
            t.check_response(f, "GET of symlink %s" % name, Op.GET,
                             St.DENIED, rid=1, value=True)
            t.check(b"outside content" not in f.value,
                    "GET %s leaks the target: %r" % (name, f.value))
            # spool_put: fstatat(AT_SYMLINK_NOFOLLOW) sees a link -> DENIED.
            f = c.request(Op.PUT, b"overwritten through " + name, name,
                          request_id=2)
            t.check_response(f, "PUT over symlink %s" % name, Op.PUT,
                             St.DENIED, rid=2, value=True)
            f = c.request(Op.DEL, key=name, request_id=3)
            t.check_response(f, "DEL of symlink %s" % name, Op.DEL,
                             St.DENIED, rid=3, value=True)
        f = c.request(Op.LIST, request_id=4)
        ents = list_entries(f.value)
        t.check(f.status == St.OK and ents is not None and
                [e[0] for e in ents] == [b"plain"],
                "LIST shows only the regular file: %r" % f.value)
    with open(outside, "rb") as f:
        t.check(f.read() == SECRET, "the symlink's target is unchanged")
    t.check(not os.path.lexists(missing),
            "the dangling link's target was not created")
    t.check(os.path.islink(link) and os.readlink(link) == outside,
            "the link is still the same link")
    t.check(os.path.islink(dang) and os.readlink(dang) == missing,
            "the dangling link is still there")
    t.check(os.path.islink(rel) and os.readlink(rel) == "../secret",
            "the relative link is still there")


@t.case
def special_entries(t):
    srv = files_server(t)
    os.mkfifo(os.path.join(srv.files_dir, "fifo"))
    os.mkdir(os.path.join(srv.files_dir, "subdir"))
    with srv.client(timeout=3.0) as c:
        for name in (b"fifo", b"subdir"):
            t0 = time.monotonic()
            f = c.request(Op.GET, key=name, request_id=5)
            t.check_response(f, "GET of %s" % name, Op.GET, St.DENIED,
                             rid=5, value=True)
            t.check(time.monotonic() - t0 < 2.0, "GET %s answered at once" %
                    name)
            f = c.request(Op.PUT, b"x", name, request_id=6)
            t.check_response(f, "PUT over %s" % name, Op.PUT, St.DENIED,
                             rid=6, value=True)
            f = c.request(Op.DEL, key=name, request_id=7)
            t.check_response(f, "DEL of %s" % name, Op.DEL, St.DENIED,
                             rid=7, value=True)
        f = c.request(Op.LIST, request_id=8)
        t.check_response(f, "LIST without special entries", Op.LIST,
                         rid=8, value=b"")
    t.check(stat.S_ISFIFO(os.lstat(os.path.join(srv.files_dir, "fifo"))
                          .st_mode), "the FIFO is still there")
    t.check(os.path.isdir(os.path.join(srv.files_dir, "subdir")),
            "the directory is still there")


t.run()

"""tlscerts: a throw-away PKI for the TLS tests, made with the openssl
command-line tool (EC P-256 keys: fast to make).

    from tlscerts import make_pki
    pki = make_pki(tmpdir)        # a dict of absolute paths, all in tmpdir

Keys of the dict (every *_key file is mode 0600):

    ca, ca_key                    the test CA ("msgd test CA")
    server_cert, server_key       signed by ca; CN localhost, subjectAltName
                                  DNS:localhost, IP:127.0.0.1, IP:::1
    client_cert, client_key       signed by ca; CN msgd-test-client,
                                  extendedKeyUsage clientAuth
    other_ca, other_ca_key        another CA ("msgd other CA")
    other_cert, other_key         signed by other_ca, the same names as the
                                  server and the client: trusted by nobody
    expired_cert, expired_key     signed by ca, valid 2020-01-01..2020-01-02
                                  (names as the server's and the client's)
    wrongname_cert, wrongname_key signed by ca for DNS:wrong.example only
    bundle                        server_cert then ca (a chain file)

make_pki raises RuntimeError (with openssl's stderr) if a step fails.
"""
import os
import subprocess

OPENSSL = os.environ.get("OPENSSL", "openssl")

_SERVER_EXT = ("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
               "extendedKeyUsage=serverAuth,clientAuth\n"
               "basicConstraints=CA:FALSE\n")
_CLIENT_EXT = ("extendedKeyUsage=clientAuth\n"
               "basicConstraints=CA:FALSE\n")
_WRONG_EXT = ("subjectAltName=DNS:wrong.example\n"
              "extendedKeyUsage=serverAuth\n"
              "basicConstraints=CA:FALSE\n")

# openssl ca (the one tool of 3.0 that sets any validity dates): a minimal
# configuration, its database in the PKI directory.
_CA_CONF = """[ca]
default_ca = test_ca
[test_ca]
dir = %(dir)s
database = %(dir)s/ca-index.txt
serial = %(dir)s/ca-serial
new_certs_dir = %(dir)s/ca-new
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
[anything]
commonName = supplied
[ext]
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
extendedKeyUsage = serverAuth,clientAuth
basicConstraints = CA:FALSE
"""


def _run(argv):
    p = subprocess.run([OPENSSL] + argv, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("openssl %s: exit %d: %s" % (
            " ".join(argv), p.returncode,
            p.stderr.decode("utf-8", "replace").strip()))


def _key(path):
    _run(["genpkey", "-algorithm", "EC", "-pkeyopt",
          "ec_paramgen_curve:P-256", "-out", path])
    os.chmod(path, 0o600)


def _ca(d, name, cn):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    _key(key)
    _run(["req", "-x509", "-new", "-key", key, "-out", crt, "-days", "30",
          "-subj", "/CN=" + cn, "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return crt, key


def _leaf(d, name, cn, ca, ca_key, ext):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    csr, extf = os.path.join(d, name + ".csr"), os.path.join(d, name + ".ext")
    _key(key)
    _run(["req", "-new", "-key", key, "-out", csr, "-subj", "/CN=" + cn])
    with open(extf, "w") as f:
        f.write(ext)
    _run(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
          "-CAcreateserial", "-out", crt, "-days", "30", "-sha256",
          "-extfile", extf])
    return crt, key


def _expired(d, ca, ca_key):
    key, crt = os.path.join(d, "expired.key"), os.path.join(d, "expired.crt")
    csr, conf = os.path.join(d, "expired.csr"), os.path.join(d, "ca.cnf")
    os.makedirs(os.path.join(d, "ca-new"), exist_ok=True)
    open(os.path.join(d, "ca-index.txt"), "w").close()
    with open(os.path.join(d, "ca-serial"), "w") as f:
        f.write("1000\n")
    with open(conf, "w") as f:
        f.write(_CA_CONF % {"dir": d})
    _key(key)
    _run(["req", "-new", "-key", key, "-out", csr, "-subj", "/CN=localhost"])
    _run(["ca", "-batch", "-config", conf, "-cert", ca, "-keyfile", ca_key,
          "-in", csr, "-out", crt, "-notext", "-extensions", "ext",
          "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"])
    return crt, key


def make_pki(d):
    """Make the CAs, certificates and keys in directory d (created if
    needed); returns the dict of paths described in the module's doc."""
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    pki = {}
    pki["ca"], pki["ca_key"] = _ca(d, "ca", "msgd test CA")
    pki["other_ca"], pki["other_ca_key"] = _ca(d, "other-ca", "msgd other CA")
    pki["server_cert"], pki["server_key"] = _leaf(
        d, "server", "localhost", pki["ca"], pki["ca_key"], _SERVER_EXT)
    pki["client_cert"], pki["client_key"] = _leaf(
        d, "client", "msgd-test-client", pki["ca"], pki["ca_key"],
        _CLIENT_EXT)
    pki["other_cert"], pki["other_key"] = _leaf(
        d, "other", "localhost", pki["other_ca"], pki["other_ca_key"],
        _SERVER_EXT)
    pki["wrongname_cert"], pki["wrongname_key"] = _leaf(
        d, "wrongname", "wrong.example", pki["ca"], pki["ca_key"],
        _WRONG_EXT)
    pki["expired_cert"], pki["expired_key"] = _expired(d, pki["ca"],
                                                        pki["ca_key"])
    pki["bundle"] = os.path.join(d, "bundle.crt")
    with open(pki["bundle"], "w") as out:
        for p in (pki["server_cert"], pki["ca"]):
            with open(p) as f:
                out.write(f.read())
    return pki


if __name__ == "__main__":
    import sys
    import tempfile
    for k, v in sorted(make_pki(sys.argv[1] if len(sys.argv) > 1 else
                                tempfile.mkdtemp(prefix="msgd-pki.")).items()):
        print("%-16s %s" % (k, v))

"""tlscerts.py: test certificates, made at test time with the openssl CLI.

make(dirpath) writes into dirpath (keys mode 0600, EC P-256, fast) and returns
a Certs whose attributes are file paths:
  ca, ca_key                 the test CA
  server, server_key         CN=localhost, SAN DNS:localhost, IP:127.0.0.1,
                             IP:::1, signed by ca
  server2, server2_key       the same names, another key and serial (reload)
  soon, soon_key             a server certificate expiring in 10 days
  expired, expired_key       a server certificate that expired yesterday
  client, client_key         CN=msgd-test-client, clientAuth, signed by ca
  expired_client(_key)       a client certificate that expired yesterday
  other_ca, other_ca_key     another CA
  other_client(_key)         a client certificate signed by other_ca
  wrongname, wrongname_key   CN=not-this-host (SAN DNS:not-this-host), by ca

available() says whether the openssl command is there (tests skip without).
Shared by the server's and the client's TLS tests.
"""
import os
import shutil
import subprocess

OPENSSL = shutil.which("openssl")


def available():
    return OPENSSL is not None


class Certs:
    pass


def _run(args, cwd):
    r = subprocess.run([OPENSSL] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args),
                                                r.stderr.decode(errors="replace")))


def _key_args(key):
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key]


def _ca(d, name, cn):
    crt, key = name + ".crt", name + ".key"
    _run(["req", "-x509"] + _key_args(key) + [
        "-out", crt, "-subj", "/CN=" + cn, "-days", "365",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    os.chmod(os.path.join(d, key), 0o600)
    return os.path.join(d, crt), os.path.join(d, key)


def _leaf(d, name, cn, ca, ca_key, days, ext):
    crt, key, csr = name + ".crt", name + ".key", name + ".csr"
    extfile = os.path.join(d, name + ".ext")
    with open(extfile, "w") as f:
        f.write(ext + "\n")
    _run(["req"] + _key_args(key) + ["-out", csr, "-subj", "/CN=" + cn], d)
    _run(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
          "-CAcreateserial", "-out", crt, "-days", str(days),
          "-extfile", extfile], d)
    os.chmod(os.path.join(d, key), 0o600)
    return os.path.join(d, crt), os.path.join(d, key)


SERVER_EXT = ("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
              "extendedKeyUsage=serverAuth")
CLIENT_EXT = "extendedKeyUsage=clientAuth"


def make(d):
    """Every certificate of the module's docstring, in directory d."""
    c = Certs()
    c.dir = d
    c.ca, c.ca_key = _ca(d, "ca", "msgd test CA")
    c.other_ca, c.other_ca_key = _ca(d, "other_ca", "msgd other CA")
    c.server, c.server_key = _leaf(d, "server", "localhost", c.ca, c.ca_key,
                                   90, SERVER_EXT)
    c.server2, c.server2_key = _leaf(d, "server2", "localhost", c.ca,
                                     c.ca_key, 90, SERVER_EXT)
    c.soon, c.soon_key = _leaf(d, "soon", "localhost", c.ca, c.ca_key, 10,
                               SERVER_EXT)
    c.expired, c.expired_key = _leaf(d, "expired", "localhost", c.ca,
                                     c.ca_key, -1, SERVER_EXT)
    c.client, c.client_key = _leaf(d, "client", "msgd-test-client", c.ca,
                                   c.ca_key, 90, CLIENT_EXT)
    c.expired_client, c.expired_client_key = _leaf(
        d, "expired_client", "msgd-expired-client", c.ca, c.ca_key, -1,
        CLIENT_EXT)
    c.other_client, c.other_client_key = _leaf(
        d, "other_client", "msgd-other-client", c.other_ca, c.other_ca_key,
        90, CLIENT_EXT)
    c.wrongname, c.wrongname_key = _leaf(
        d, "wrongname", "not-this-host", c.ca, c.ca_key, 90,
        "subjectAltName=DNS:not-this-host")
    return c

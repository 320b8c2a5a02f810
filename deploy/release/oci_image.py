#!/usr/bin/env python3
"""Writes klaxon's container image as an OCI image layout archive, from the release tree alone.

No registry, no base image, no container engine: an image is a tar of `oci-layout`, `index.json`
and content-addressed blobs (one gzipped layer, its config, its manifest), so this script writes
them (OCI image-spec v1.0: image-layout.md, manifest.md, config.md). `podman load`, `skopeo copy
oci-archive:...` and containerd read it.

The one layer holds only what klaxon needs at run time:
  /opt/klaxon/                         the release tree (bin/klaxon, lib/klaxon/, share/)
  /etc/passwd, /etc/group              user and group 65532 "nonroot", which the image runs as
  /etc/nsswitch.conf                   hosts from /etc/hosts, then DNS (the kubelet writes both)
  /etc/ssl/certs/ca-certificates.crt   Debian's Mozilla CA bundle
  /tmp (1777), /var/lib/klaxon (65532) scratch and a state directory to mount a volume on
  /usr/local/bin/kubectl               only with --kubectl (klaxon kubectl runs it from PATH)
Every file time is SOURCE_DATE_EPOCH and gzip's header carries none, so the same tree gives the
same digests.
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import sys
import tarfile
import time

UID = GID = 65532
ENTRYPOINT = "/opt/klaxon/bin/klaxon"


def layer_tar(tree, kubectl, mtime):
    """The root filesystem as an uncompressed tar (bytes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def entry(name, kind=tarfile.REGTYPE, mode=0o644, data=b"", uid=0, gid=0, link=""):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.uid, info.gid = kind, mode, mtime, uid, gid
            info.uname = info.gname = "root" if uid == 0 else "nonroot"
            info.linkname = link
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)

        def directory(name, mode=0o755, uid=0, gid=0):
            entry(name, tarfile.DIRTYPE, mode, uid=uid, gid=gid)

        for d in ("etc", "etc/ssl", "etc/ssl/certs", "opt", "usr", "usr/local", "usr/local/bin", "var", "var/lib"):
            directory(d)
        directory("tmp", 0o1777)
        directory("var/lib/klaxon", 0o700, UID, GID)
        directory("home", 0o755)
        directory("home/nonroot", 0o700, UID, GID)
        entry("etc/passwd", data=b"root:x:0:0:root:/root:/sbin/nologin\n"
                                 b"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
        entry("etc/group", data=b"root:x:0:\nnonroot:x:65532:\n")
        entry("etc/nsswitch.conf", data=b"hosts: files dns\n")
        with open(os.path.join(tree, "share/klaxon/ca-certificates.crt"), "rb") as f:
            entry("etc/ssl/certs/ca-certificates.crt", data=f.read())

        directory("opt/klaxon")
        for parent, dirs, files in os.walk(tree):
            dirs.sort()
            rel = os.path.relpath(parent, tree)
            for name in dirs:
                directory(os.path.normpath(os.path.join("opt/klaxon", rel, name)))
            for name in sorted(files):
                path = os.path.join(parent, name)
                mode = 0o755 if os.stat(path).st_mode & stat.S_IXUSR else 0o644
                with open(path, "rb") as f:
                    entry(os.path.normpath(os.path.join("opt/klaxon", rel, name)), mode=mode, data=f.read())
        entry("usr/local/bin/klaxon", tarfile.SYMTYPE, 0o777, link="../../../opt/klaxon/bin/klaxon")
        if kubectl:
            with open(kubectl, "rb") as f:
                entry("usr/local/bin/kubectl", mode=0o755, data=f.read())
    return buf.getvalue()


def blob(blobs, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tree", required=True, help="the release tree (bin/, lib/klaxon/, share/)")
    ap.add_argument("--version", required=True)
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--kubectl", help="also put this (static) kubectl binary in /usr/local/bin")
    ap.add_argument("--name", default="klaxon", help="image name in the archive's annotations")
    ap.add_argument("--out", required=True, help="the .tar to write")
    ap.add_argument("--rootfs-tar", help="also write the layer, uncompressed, here (for the Containerfile)")
    args = ap.parse_args()

    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))
    raw = layer_tar(args.tree, args.kubectl, mtime)
    if args.rootfs_tar:
        with open(args.rootfs_tar, "wb") as f:
            f.write(raw)
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", compresslevel=6, mtime=0) as gz:
        gz.write(raw)

    blobs = {}
    layer = blob(blobs, packed.getvalue(), "application/vnd.oci.image.layer.v1.tar+gzip")
    labels = {
        "org.opencontainers.image.title": "klaxon",
        "org.opencontainers.image.description": "Finds certificate and mTLS failures in Kubernetes logs",
        "org.opencontainers.image.version": args.version,
        "org.opencontainers.image.revision": args.commit,
        "org.opencontainers.image.licenses": "Apache-2.0",
        "org.opencontainers.image.created": created,
    }
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": f"{UID}:{GID}",
            "Entrypoint": [ENTRYPOINT],
            "Env": ["PATH=/opt/klaxon/bin:/usr/local/bin:/usr/bin:/bin"],
            "WorkingDir": "/",
            "ExposedPorts": {"9095/tcp": {}, "3100/tcp": {}},
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created": created, "created_by": "scripts/package (deploy/release/oci_image.py)"}],
    }
    config_desc = blob(blobs, json.dumps(config, sort_keys=True).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer],
        "annotations": labels,
    }
    manifest_desc = blob(blobs, json.dumps(manifest, sort_keys=True).encode(),
                         "application/vnd.oci.image.manifest.v1+json")
    manifest_desc["platform"] = {"architecture": "amd64", "os": "linux"}
    manifest_desc["annotations"] = {
        "org.opencontainers.image.ref.name": f"{args.name}:{args.version}",
        "io.containerd.image.name": f"docker.io/library/{args.name}:{args.version}",
    }
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
             "manifests": [manifest_desc]}

    with tarfile.open(args.out, mode="w", format=tarfile.PAX_FORMAT) as out:
        def add(name, data, kind=tarfile.REGTYPE):
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.type = mtime, 0o755 if kind == tarfile.DIRTYPE else 0o644, kind
            info.size = len(data)
            out.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
        add("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        add("index.json", json.dumps(index, sort_keys=True).encode())
        add("blobs", b"", tarfile.DIRTYPE)
        add("blobs/sha256", b"", tarfile.DIRTYPE)
        for digest in sorted(blobs):
            add("blobs/sha256/" + digest, blobs[digest])
    return 0


if __name__ == "__main__":
    sys.exit(main())

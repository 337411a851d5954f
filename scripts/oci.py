#!/usr/bin/env python3
"""One image for three platforms, as an OCI archive, from the static binaries alone.

    scripts/oci.py OUT.tar VERSION amd64=BIN arm64=BIN arm/v7=BIN

Each platform's image is what image/Dockerfile makes (FROM scratch, no RUN step, so
nothing runs and no emulation is needed): one layer with /etc/passwd and /etc/group,
/usr/bin/healwatch and the two folders healwatch's user owns, and the Dockerfile's USER,
ENV, VOLUME, HEALTHCHECK, ENTRYPOINT, CMD and LABELs, read from the Dockerfile itself.
The archive holds an OCI layout (oci-layout, index.json naming an image index of the
three manifests, blobs/sha256/) for `podman load`, Docker 25 and later, and pushing
(`skopeo copy --all oci-archive:OUT.tar docker://REGISTRY/healwatch:VERSION`), and a
manifest.json over the same blobs for older Docker's `docker load`, which tags each
platform's image `healwatch:VERSION-ARCH` (amd64, arm64, armv7).

Byte for byte reproducible: every time stamp is SOURCE_DATE_EPOCH (the last commit's),
entries sorted, owners numeric, gzip without a name or a time.
"""

import gzip
import hashlib
import io
import json
import os
import shlex
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = os.path.join(HERE, "..", "image")
USER_ID = 65532

# Docker's platform names, and the tag suffix older Docker's `docker load` gives each.
PLATFORMS = {
    "amd64": ({"architecture": "amd64", "os": "linux"}, "amd64"),
    "arm64": ({"architecture": "arm64", "os": "linux", "variant": "v8"}, "arm64"),
    "arm/v7": ({"architecture": "arm", "os": "linux", "variant": "v7"}, "armv7"),
}
# The PATH Docker's builder gives an image FROM scratch that sets none.
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def duration_ns(text):
    """A Dockerfile duration (30s, 1m, 10s) in nanoseconds."""
    units = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
    for unit in ("ms", "h", "m", "s"):
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * units[unit])
    raise ValueError(f"not a duration: {text}")


def dockerfile_config(path):
    """The image config the Dockerfile's directives make (the ones it uses)."""
    lines, joined = [], ""
    for raw in open(path, encoding="utf-8"):
        line = raw.rstrip("\n")
        if not joined and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            joined += line[:-1] + " "
            continue
        lines.append(joined + line)
        joined = ""
    config = {"Env": [DEFAULT_PATH], "Labels": {}}
    for line in lines:
        word, _, rest = line.strip().partition(" ")
        rest = rest.strip()
        word = word.upper()
        if word == "USER":
            config["User"] = rest
        elif word == "ENV":
            config["Env"] += [pair for pair in shlex.split(rest)]
        elif word == "VOLUME":
            config["Volumes"] = {v: {} for v in json.loads(rest)}
        elif word == "ENTRYPOINT":
            config["Entrypoint"] = json.loads(rest)
        elif word == "CMD":
            config["Cmd"] = json.loads(rest)
        elif word == "LABEL":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                config["Labels"][key] = value
        elif word == "HEALTHCHECK":
            options, _, command = rest.partition(" CMD ")
            check = {"Test": ["CMD"] + json.loads(command)}
            names = {"--interval": "Interval", "--timeout": "Timeout", "--start-period": "StartPeriod"}
            for option in options.split():
                name, _, value = option.partition("=")
                if name == "--retries":
                    check["Retries"] = int(value)
                else:
                    check[names[name]] = duration_ns(value)
            config["Healthcheck"] = check
        elif word not in ("FROM", "COPY"):
            raise SystemExit(f"oci.py: {path}: {word} is not understood here; teach scripts/oci.py")
    return config


def layer(binary, epoch):
    """The one layer: the files image/Dockerfile COPYs, as an uncompressed tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add(name, mode, uid=0, data=None):
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid = epoch, mode, uid, uid
            info.uname = info.gname = ""
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

        with open(os.path.join(IMAGE, "group"), "rb") as f:
            group = f.read()
        with open(os.path.join(IMAGE, "passwd"), "rb") as f:
            passwd = f.read()
        with open(binary, "rb") as f:
            healwatch = f.read()
        add("etc/", 0o755)
        add("etc/group", 0o644, data=group)
        add("etc/passwd", 0o644, data=passwd)
        add("metrics/", 0o755, USER_ID)
        add("usr/", 0o755)
        add("usr/bin/", 0o755)
        add("usr/bin/healwatch", 0o755, data=healwatch)
        add("var/", 0o755)
        add("var/lib/", 0o755)
        add("var/lib/healwatch/", 0o750, USER_ID)
    return buf.getvalue()


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    out, version, pairs = argv[1], argv[2], argv[3:]
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    config = dockerfile_config(os.path.join(IMAGE, "Dockerfile"))
    blobs = {}

    def blob(data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest, len(data)

    def described(media, data):
        digest, size = blob(data)
        return {"mediaType": media, "digest": digest, "size": size}

    def canonical(value):
        return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()

    manifests, legacy = [], []
    for pair in pairs:
        name, _, binary = pair.partition("=")
        if name not in PLATFORMS:
            raise SystemExit(f"oci.py: unknown platform {name} (one of {', '.join(PLATFORMS)})")
        platform, suffix = PLATFORMS[name]
        tar = layer(binary, epoch)
        diff_id = "sha256:" + hashlib.sha256(tar).hexdigest()
        zipped = io.BytesIO()
        with gzip.GzipFile(filename="", mode="wb", fileobj=zipped, mtime=0, compresslevel=9) as z:
            z.write(tar)
        image_config = dict(platform)
        image_config.update(
            {
                "created": created,
                "config": config,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": created, "created_by": "scripts/oci.py from image/Dockerfile"}],
            }
        )
        config_desc = described("application/vnd.oci.image.config.v1+json", canonical(image_config))
        layer_desc = described("application/vnd.oci.image.layer.v1.tar+gzip", zipped.getvalue())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_desc,
            "layers": [layer_desc],
        }
        desc = described("application/vnd.oci.image.manifest.v1+json", canonical(manifest))
        desc["platform"] = platform
        manifests.append(desc)
        legacy.append(
            {
                "Config": "blobs/" + config_desc["digest"].replace(":", "/"),
                "RepoTags": [f"healwatch:{version}-{suffix}"],
                "Layers": ["blobs/" + layer_desc["digest"].replace(":", "/")],
            }
        )
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    index_desc = described("application/vnd.oci.image.index.v1+json", canonical(index))
    index_desc["annotations"] = {
        "io.containerd.image.name": f"docker.io/library/healwatch:{version}",
        "org.opencontainers.image.ref.name": version,
    }
    top = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [index_desc]}
    files = {
        "oci-layout": canonical({"imageLayoutVersion": "1.0.0"}),
        "index.json": canonical(top),
        "manifest.json": canonical(legacy),
    }
    for digest, data in blobs.items():
        files["blobs/" + digest.replace(":", "/")] = data
    with open(out + ".partial", "wb") as f, tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({"blobs/", "blobs/sha256/"})
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, epoch
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, epoch
            tar.addfile(info, io.BytesIO(files[name]))
    os.replace(out + ".partial", out)
    print(index_desc["digest"])


if __name__ == "__main__":
    main(sys.argv)

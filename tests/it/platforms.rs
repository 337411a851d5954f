//! End-to-end: the sidecar image for three platforms, as the OCI archive `scripts/image.sh
//! --oci` makes (HEALWATCH_OCI). Its index and each manifest are read back (platform,
//! entrypoint, user, HEALTHCHECK, the binary's machine, size), the amd64 config is held
//! to the one `docker build` makes from image/Dockerfile (HEALWATCH_IMAGE), and the
//! archive is loaded into the private Docker (every platform, tagged) and rootful Podman
//! (the host's platform), which run it. `#[ignore]`d: scripts/test.sh builds it.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::engine::Engine;

/// A file of the unpacked archive, as JSON.
fn json(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The blob a descriptor names.
fn blob(dir: &Path, descriptor: &Value) -> PathBuf {
    let digest = descriptor["digest"].as_str().expect("a digest");
    dir.join("blobs").join(digest.replace(':', "/"))
}

/// The ELF machine of a binary (62 x86_64, 183 aarch64, 40 ARM).
fn machine(binary: &Path) -> u16 {
    let bytes = std::fs::read(binary).unwrap();
    assert_eq!(&bytes[..4], b"\x7fELF", "{} is no ELF file", binary.display());
    u16::from_le_bytes([bytes[18], bytes[19]])
}

fn run(args: &[&str]) -> crate::engine::CommandOutcome {
    crate::engine::run_bounded(args)
}

#[test]
#[ignore = "needs a Docker engine, Podman and the OCI archive: scripts/test.sh"]
fn one_archive_holds_the_image_for_three_platforms_and_loads() {
    let engine = Engine::get();
    let archive = std::env::var("HEALWATCH_OCI").expect("HEALWATCH_OCI is not set: run scripts/test.sh");
    let dir = tempfile::tempdir().unwrap();
    let unpack = run(&["tar", "-xf", &archive, "-C", &dir.path().to_string_lossy()]);
    assert!(unpack.success(), "{unpack:?}");
    let dir = dir.path();
    assert_eq!(json(dir, "oci-layout")["imageLayoutVersion"], "1.0.0");
    let top = json(dir, "index.json");
    let entry = &top["manifests"][0];
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(entry["annotations"]["org.opencontainers.image.ref.name"], version, "{top}");
    let index: Value = serde_json::from_slice(&std::fs::read(blob(dir, entry)).unwrap()).unwrap();
    let manifests = index["manifests"].as_array().expect("an image index");
    let platforms: Vec<String> = manifests
        .iter()
        .map(|m| {
            let p = &m["platform"];
            let variant = p["variant"].as_str().map(|v| format!("/{v}")).unwrap_or_default();
            format!("{}/{}{variant}", p["os"].as_str().unwrap(), p["architecture"].as_str().unwrap())
        })
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]);
    let built = engine.docker(&["image", "inspect", "--format", "{{json .Config}}", &crate::image::image()]);
    let built: Value = serde_json::from_str(built.stdout.trim()).unwrap();
    for (m, want_machine) in manifests.iter().zip([62u16, 183, 40]) {
        let manifest: Value = serde_json::from_slice(&std::fs::read(blob(dir, m)).unwrap()).unwrap();
        let config: Value = serde_json::from_slice(&std::fs::read(blob(dir, &manifest["config"])).unwrap()).unwrap();
        assert_eq!(config["architecture"], m["platform"]["architecture"]);
        let c = &config["config"];
        assert_eq!(c["User"], "65532:65532");
        assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/bin/healwatch"]));
        assert_eq!(
            c["Healthcheck"]["Test"],
            serde_json::json!(["CMD", "/usr/bin/healwatch", "status", "--max-age", "10m"])
        );
        // What docker build makes of the Dockerfile, field by field.
        for field in ["User", "Env", "Entrypoint", "Cmd", "Volumes", "Healthcheck", "Labels"] {
            assert_eq!(c[field], built[field], "{field}: the archive's config is not the Dockerfile's");
        }
        let layers = manifest["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 1, "{manifest}");
        let size = layers[0]["size"].as_u64().unwrap();
        assert!(size < 4 << 20, "{}: a compressed layer of {size} bytes", m["platform"]);
        let files = tempfile::tempdir().unwrap();
        let layer = blob(dir, &layers[0]);
        let out = run(&["tar", "-xzf", &layer.to_string_lossy(), "-C", &files.path().to_string_lossy()]);
        assert!(out.success(), "{out:?}");
        let binary = files.path().join("usr/bin/healwatch");
        assert_eq!(machine(&binary), want_machine, "{}", m["platform"]);
        let bytes = std::fs::metadata(&binary).unwrap().len();
        assert!(bytes <= 7_500_000, "{}: the binary is {bytes} bytes", m["platform"]);
        eprintln!("{}: binary {bytes} bytes, layer {size} bytes compressed", m["platform"]);
    }

    // Docker (20.10 here) loads all three, each tagged with its platform.
    let load = engine.docker(&["load", "-i", &archive]);
    assert!(load.success(), "{load:?}");
    for (suffix, arch) in [("amd64", "amd64"), ("arm64", "arm64"), ("armv7", "arm")] {
        let tag = format!("healwatch:{version}-{suffix}");
        let inspect = engine.docker(&["image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", &tag]);
        assert_eq!(inspect.stdout.trim(), format!("linux/{arch}"), "{tag}: {inspect:?}");
    }
    let tag = format!("healwatch:{version}-amd64");
    let ran = engine.docker(&["run", "--rm", "--pull", "never", "--network", "none", &tag, "--version"]);
    assert!(ran.success() && ran.stdout.starts_with("healwatch "), "{ran:?}");
    // A foreign platform's container needs the kernel to hand its programs to qemu-user
    // (a binfmt handler): this machine registers none, and the test adds none.
    let handler = Path::new("/proc/sys/fs/binfmt_misc/qemu-aarch64");
    if handler.exists() {
        let tag = format!("healwatch:{version}-arm64");
        let ran = engine.docker(&["run", "--rm", "--pull", "never", "--network", "none", &tag, "--version"]);
        assert!(ran.success(), "{ran:?}");
    } else {
        eprintln!(
            "SKIPPED: running the arm64 and armv7 images: no binfmt handler for qemu on this machine \
             (their binaries ran under qemu-user instead: tests/it/arch.rs)"
        );
    }
    // Podman loads the host's platform from the image index, under the archive's name.
    let host = std::env::var("HEALWATCH_PODMAN_HOST").expect("HEALWATCH_PODMAN_HOST is not set: run scripts/test.sh");
    let podman = ["timeout", "60", "podman", "--remote", "--url", &host];
    let load = run(&[&podman[..], &["load", "-i", &archive]].concat());
    assert!(load.success(), "{load:?}");
    let ran =
        run(&[&podman[..], &["run", "--rm", "--network", "none", &format!("healwatch:{version}"), "--version"]]
            .concat());
    assert!(ran.success() && ran.stdout.starts_with("healwatch "), "{load:?}\n{ran:?}");
}

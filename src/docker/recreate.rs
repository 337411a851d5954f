//! A container made again from its own inspect, for a dependent whose provider was
//! replaced: the body of `POST /containers/create` that gives the same name, image,
//! command, environment, labels, restart policy, resources and mounts, in the new
//! provider's network namespace. Pure: inspect JSON in, request body out.

use anyhow::{Result, bail};
use serde_json::{Map, Value};

/// The `Config` keys a create takes from the old container as they were.
const CONFIG_KEYS: [&str; 14] = [
    "User",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "Env",
    "Cmd",
    "Healthcheck",
    "Entrypoint",
    "WorkingDir",
    "Labels",
    "StopSignal",
];

/// The `HostConfig` keys Docker refuses beside a container network mode (`conflicting
/// options`): ports, DNS and hosts belong to the namespace's owner.
const NAMESPACE_KEYS: [&str; 8] =
    ["PortBindings", "PublishAllPorts", "Dns", "DnsOptions", "DnsSearch", "ExtraHosts", "Links", "MacAddress"];

/// The create body for the container `inspect` describes, joined to the network
/// namespace of container `provider` (its id), with its anonymous volumes attached
/// again by name (a create would otherwise make new, empty ones). The image is the one
/// it ran (by id), so a tag moved since does not change what runs.
pub(crate) fn create_body(inspect: &Value, provider: &str) -> Result<Value> {
    let (Some(config), Some(host)) = (inspect["Config"].as_object(), inspect["HostConfig"].as_object()) else {
        bail!("the container's inspect has no Config or HostConfig");
    };
    let Some(image) = inspect["Image"].as_str().filter(|i| !i.is_empty()) else {
        bail!("the container's inspect names no image");
    };
    let mut body = Map::new();
    for key in CONFIG_KEYS {
        if let Some(value) = config.get(key).filter(|v| !v.is_null()) {
            body.insert(key.to_string(), value.clone());
        }
    }
    if let Some(timeout) = config.get("StopTimeout").filter(|v| v.is_number()) {
        body.insert("StopTimeout".into(), timeout.clone());
    }
    body.insert("Image".into(), Value::String(image.to_string()));
    let mut host = host.clone();
    for key in NAMESPACE_KEYS {
        host.remove(key);
    }
    host.insert("NetworkMode".into(), Value::String(format!("container:{provider}")));
    let (mounts, covered) = anonymous_volumes(inspect, &host);
    if !mounts.is_empty() {
        let listed = host.entry("Mounts").or_insert_with(|| Value::Array(Vec::new()));
        match listed {
            Value::Array(list) => list.extend(mounts),
            other => *other = Value::Array(mounts),
        }
    }
    if let Some(Value::Object(volumes)) = config.get("Volumes") {
        let left: Map<String, Value> =
            volumes.iter().filter(|(k, _)| !covered.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
        if !left.is_empty() {
            body.insert("Volumes".into(), Value::Object(left));
        }
    }
    body.insert("HostConfig".into(), Value::Object(host));
    Ok(Value::Object(body))
}

/// The container's volumes that no bind or mount of its `host` config names (anonymous
/// ones, made for the image's VOLUMEs or a bare `-v /path`), as mounts of the same
/// volumes by name; and the paths they cover.
fn anonymous_volumes(inspect: &Value, host: &Map<String, Value>) -> (Vec<Value>, Vec<String>) {
    let binds: Vec<String> = host
        .get("Binds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.as_str())
        .filter_map(|b| b.split(':').nth(1).map(str::to_string))
        .collect();
    let targets: Vec<String> = host
        .get("Mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m["Target"].as_str().map(str::to_string))
        .collect();
    let mut mounts = Vec::new();
    let mut covered = Vec::new();
    for m in inspect["Mounts"].as_array().into_iter().flatten() {
        let (Some("volume"), Some(name), Some(path)) =
            (m["Type"].as_str(), m["Name"].as_str(), m["Destination"].as_str())
        else {
            continue;
        };
        if binds.iter().chain(&targets).any(|t| t == path) {
            continue;
        }
        let read_only = m["RW"].as_bool().is_some_and(|rw| !rw);
        mounts.push(serde_json::json!({"Type": "volume", "Source": name, "Target": path, "ReadOnly": read_only}));
        covered.push(path.to_string());
    }
    (mounts, covered)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_keeps_what_the_container_was_and_drops_what_the_namespace_owns() {
        let inspect = serde_json::json!({
            "Image": "sha256:abc",
            "Config": {"Image": "app:1", "Cmd": ["serve", "80"], "Env": ["A=1"], "Labels": {"x": "y"},
                       "Hostname": "3f2a", "ExposedPorts": {"80/tcp": {}}, "Volumes": {"/cache": {}, "/data": {}},
                       "StopTimeout": 5, "Entrypoint": null},
            "HostConfig": {"NetworkMode": "container:old", "Binds": ["shared:/data"], "Init": true,
                           "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}, "Memory": 1024,
                           "PortBindings": {"80/tcp": [{"HostPort": "8080"}]}, "Dns": ["1.1.1.1"],
                           "ExtraHosts": ["a:1.2.3.4"]},
            "Mounts": [
                {"Type": "volume", "Name": "shared", "Destination": "/data", "RW": true},
                {"Type": "volume", "Name": "0f9e8d", "Destination": "/cache", "RW": true},
                {"Type": "bind", "Source": "/etc/x", "Destination": "/x", "RW": false}
            ]
        });
        let body = create_body(&inspect, "newid").unwrap();
        assert_eq!(body["Image"], "sha256:abc", "the image it ran");
        assert_eq!((body["Cmd"][1].as_str(), body["Env"][0].as_str()), (Some("80"), Some("A=1")));
        assert_eq!((body["Labels"]["x"].as_str(), body["StopTimeout"].as_u64()), (Some("y"), Some(5)));
        assert!(
            body.get("Hostname").is_none() && body.get("ExposedPorts").is_none() && body.get("Entrypoint").is_none()
        );
        let host = &body["HostConfig"];
        assert_eq!(host["NetworkMode"], "container:newid");
        assert_eq!((host["Init"].as_bool(), host["Memory"].as_u64()), (Some(true), Some(1024)));
        assert_eq!(host["RestartPolicy"]["Name"], "always");
        for gone in ["PortBindings", "Dns", "ExtraHosts"] {
            assert!(host.get(gone).is_none(), "{gone} stays: {host}");
        }
        assert_eq!(host["Binds"][0], "shared:/data", "a named volume stays bound by name");
        let mounts = host["Mounts"].as_array().unwrap();
        assert_eq!(mounts.len(), 1, "{mounts:?}");
        assert_eq!((mounts[0]["Source"].as_str(), mounts[0]["Target"].as_str()), (Some("0f9e8d"), Some("/cache")));
        assert_eq!(body["Volumes"], serde_json::json!({"/data": {}}), "the anonymous one is the mount's now");
    }

    #[test]
    fn an_inspect_without_its_parts_is_refused() {
        for bad in [serde_json::json!({}), serde_json::json!({"Config": {}, "HostConfig": {}})] {
            assert!(create_body(&bad, "p").is_err(), "{bad}");
        }
    }
}

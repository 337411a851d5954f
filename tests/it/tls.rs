//! HTTPS health checks against a real TLS server on 127.0.0.1 with a certificate from a
//! private CA made for the test: trusted with --ca-file, refused without.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;

use crate::util::{Healwatch, write_file};

/// A TLS server answering every request with 200 "ok", and the PEM of the CA behind its certificate.
fn tls_server() -> (u16, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap().signed_by(&key, &ca, &ca_key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let config = Arc::clone(&config);
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(5)));
                let Ok(conn) = rustls::ServerConnection::new(config) else { return };
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match tls.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (port, ca.pem())
}

#[test]
fn https_with_a_private_ca_is_healthy_when_the_ca_is_trusted() {
    let (port, ca_pem) = tls_server();
    let dir = tempfile::tempdir().unwrap();
    let ca = write_file(dir.path(), "ca.pem", &ca_pem);
    let target = format!("app=https://127.0.0.1:{port}/health");
    let run = Healwatch::new().args(["-n", "--retries", "0", "--ca-file"]).arg(&ca).args(["-t", &target]).run();
    run.expect_code(0);
    let t = run.target("app");
    assert_eq!((t["outcome"].as_str(), t["http_status"].as_u64()), (Some("healthy"), Some(200)), "{run}");

    let config = write_file(
        dir.path(),
        "c.toml",
        &format!(
            "[defaults]\nca_file = \"{}\"\n[[target]]\nname = \"app\"\nurl = \"https://127.0.0.1:{port}/\"\nexpect_body = \"ok\"\n",
            ca.display()
        ),
    );
    Healwatch::new().args(["-n", "-c"]).arg(&config).run().expect_code(0);
}

#[test]
fn https_with_an_unknown_ca_is_a_tls_error() {
    let (port, _) = tls_server();
    let run =
        Healwatch::new().args(["-n", "--retries", "0", "-t", &format!("app=https://127.0.0.1:{port}/health")]).run();
    run.expect_code(1);
    let error = run.target("app")["error"].as_str().unwrap().to_string();
    assert!(error.starts_with("TLS error") && error.contains("UnknownIssuer"), "{run}");
}

#[test]
fn a_ca_file_without_certificates_is_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_file(dir.path(), "ca.pem", "not a certificate\n");
    let run = Healwatch::new().arg("--ca-file").arg(&bad).args(["-t", "app=https://127.0.0.1:1/"]).run();
    run.expect_code(2);
    assert!(run.stderr().contains("--ca-file") && run.stderr().contains("no PEM certificates"), "{run}");
}

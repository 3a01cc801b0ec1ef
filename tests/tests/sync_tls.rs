//! S8: the CRM's TLS certificate is always verified. A CRM whose certificate comes from a CA the
//! bridge does not trust gets nothing (the error names the certificate); with that CA given as
//! `CRM_CA_FILE` the same CRM gets every day. No code path switches verification off.
//!
//! The TLS CRM is a small TLS terminator (rustls) in front of the mock CRM, with a CA and a leaf
//! certificate for 127.0.0.1 made by `openssl` for this run.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use attendance_bridge::simulator::crm::Faults;
use attendance_bridge::store::outbox;
use bridge_e2e::crm::{mock_crm, registry, seed_days, sender, settings};
use bridge_e2e::{Backend, TestDb, on_both_backends, workspace_root};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

on_both_backends!(an_untrusted_certificate_gets_nothing_a_configured_ca_gets_everything);

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl").args(args).current_dir(dir).stderr(std::process::Stdio::null()).status().expect("openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A throwaway CA and a server certificate for 127.0.0.1 signed by it.
fn make_certificates(dir: &Path) {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(dir, &[&["req", "-x509"][..], &ec, &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bridge test CA"]].concat());
    openssl(dir, &[&["req"][..], &ec, &["-keyout", "crm.key", "-out", "crm.csr", "-subj", "/CN=127.0.0.1"]].concat());
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").expect("ext");
    openssl(dir, &["x509", "-req", "-in", "crm.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "crm.pem", "-days", "2", "-extfile", "ext"]);
}

/// Terminates TLS on an ephemeral loopback port and forwards to `backend`; returns the port.
async fn tls_front(dir: &Path, backend: std::net::SocketAddr) -> u16 {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("crm.pem")).expect("pem").map(|c| c.expect("cert")).collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("crm.key")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                if let Ok(mut plain) = tokio::net::TcpStream::connect(backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                }
            });
        }
    });
    port
}

async fn an_untrusted_certificate_gets_nothing_a_configured_ca_gets_everything(backend: Backend) {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    seed_days(&store, 10).await;
    let dir = tempfile::tempdir().expect("tempdir");
    make_certificates(dir.path());
    let crm = mock_crm(Faults::default()).await;
    let port = tls_front(dir.path(), crm.addr()).await;
    let registry = registry(vec![]);
    let mut tls = settings(&crm, Duration::from_secs(5), 50);
    tls.url = format!("https://127.0.0.1:{port}/api/attendance/").parse().expect("url");

    let report = sender(&store, &registry, tls.clone()).run_once(None).await.expect("run");
    let error = outbox::for_day(&store, 1).await.expect("rows")[0].last_error.clone().unwrap_or_default();
    println!("S8: CA not trusted → {} delivered, {} deferred; error: {error}", report.delivered, report.retried);
    assert_eq!((report.delivered, crm.stats().requests), (0, 0));
    assert!(error.contains("certificate") || error.contains("UnknownIssuer"), "{error}");

    tls.extra_roots = reqwest::Certificate::from_pem_bundle(&std::fs::read(dir.path().join("ca.pem")).expect("ca")).expect("ca pem");
    tls.retry_max = Duration::ZERO;
    let s = sender(&store, &registry, tls);
    // The failed deliveries wait out their (short) backoff; then everything goes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let report = s.run_once(None).await.expect("run");
    println!("S8: with CRM_CA_FILE → {} delivered", report.delivered);
    assert_eq!((report.delivered, crm.stats().applied), (10, 10));

    let mut offenders = Vec::new();
    for entry in walk(&workspace_root().join("host/src")) {
        if std::fs::read_to_string(&entry).is_ok_and(|text| text.contains(concat!("danger_", "accept_invalid"))) {
            offenders.push(entry);
        }
    }
    assert!(offenders.is_empty(), "certificate verification switched off in {offenders:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

//! Test certificates made at test time (rcgen): a CA, and leaf
//! certificates it signs, valid for 127.0.0.1 and localhost as servers and
//! as clients. Shared by the journal's and the engine's TLS tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose};

/// PEM files of one certificate and its key.
pub struct Identity {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct TestCa {
    pub cert_file: PathBuf,
    cert: rcgen::Certificate,
    key: KeyPair,
    dir: PathBuf,
}

impl TestCa {
    /// A new CA whose files go to `dir`, named after `name`.
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("{name} CA"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let cert = params.self_signed(&key).unwrap();
        let cert_file = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        TestCa {
            cert_file,
            cert,
            key,
            dir: dir.to_path_buf(),
        }
    }

    /// A leaf certificate for 127.0.0.1 and localhost, usable by a server
    /// and by a client.
    pub fn issue(&self, name: &str) -> Identity {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let identity = Identity {
            cert: self.dir.join(format!("{name}.pem")),
            key: self.dir.join(format!("{name}-key.pem")),
        };
        std::fs::write(&identity.cert, cert.pem()).unwrap();
        std::fs::write(&identity.key, key.serialize_pem()).unwrap();
        identity
    }
}

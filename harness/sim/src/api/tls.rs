//! TLS for the API server: a fresh certificate authority and server
//! certificate per run.
//!
//! kubectl (client-go) sends bearer tokens only to `https://` servers, so
//! the simulator serves TLS. At start-up it generates two ECDSA P-256 keys
//! from the OS random source, a self-signed CA certificate and a server
//! certificate for `127.0.0.1`/`localhost` signed by it; the kubeconfig
//! carries the CA (`certificate-authority-data`), so clients verify the
//! server as they would a real cluster. Nothing is written to disk but the
//! CA certificate inside the kubeconfig; the keys live only in memory.
//!
//! The certificates are encoded here in DER by hand (a few dozen bytes of
//! ASN.1) rather than with a certificate-generation crate, using `ring` for
//! keys and signatures, which the workspace already depends on through kube.

use std::sync::Arc;

use ring::{
    rand::{SecureRandom, SystemRandom},
    signature::{self, EcdsaKeyPair, KeyPair},
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::clock::VirtualClock;

/// A failure setting up TLS.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Key generation or signing failed in `ring`.
    #[error("could not generate a key or signature: {0}")]
    Crypto(String),
    /// rustls rejected the generated certificate or key.
    #[error("could not configure TLS: {0}")]
    Config(#[source] rustls::Error),
}

/// The server's TLS material.
pub(crate) struct ServerTls {
    /// The CA certificate in PEM, for the kubeconfig.
    pub(crate) ca_pem: String,
    /// The rustls configuration serving the server certificate.
    pub(crate) config: Arc<rustls::ServerConfig>,
    /// The server certificate in DER (the tests verify it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) server_der: Vec<u8>,
}

// --- minimal DER encoding -------------------------------------------------

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der(0x30, &parts.concat())
}

fn oid(encoded: &[u8]) -> Vec<u8> {
    der(0x06, encoded)
}

fn bit_string(bytes: &[u8], unused_bits: u8) -> Vec<u8> {
    let mut content = vec![unused_bits];
    content.extend_from_slice(bytes);
    der(0x03, &content)
}

fn octet_string(bytes: &[u8]) -> Vec<u8> {
    der(0x04, bytes)
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13];
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25];
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];
const OID_SERVER_AUTH: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01];

fn name(common_name: &str) -> Vec<u8> {
    seq(&[der(
        0x31,
        &seq(&[oid(OID_COMMON_NAME), der(0x0c, common_name.as_bytes())]),
    )])
}

/// UTCTime (`YYMMDDHHMMSSZ`) for an RFC 3339 second-precision timestamp
/// before 2050, GeneralizedTime after, as RFC 5280 requires.
fn time(rfc3339: &str) -> Vec<u8> {
    let digits: String = rfc3339.chars().filter(char::is_ascii_digit).collect();
    let year: u32 = digits[..4].parse().unwrap_or(2000);
    if year < 2050 {
        der(0x17, format!("{}Z", &digits[2..14]).as_bytes())
    } else {
        der(0x18, format!("{}Z", &digits[..14]).as_bytes())
    }
}

fn extension(id: &[u8], critical: bool, value: Vec<u8>) -> Vec<u8> {
    let mut parts = vec![oid(id)];
    if critical {
        parts.push(der(0x01, &[0xff]));
    }
    parts.push(octet_string(&value));
    seq(&parts)
}

/// One generated key pair with its PKCS#8 encoding.
struct Key {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

fn generate_key(rng: &SystemRandom) -> Result<Key, TlsError> {
    let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(alg, rng).map_err(|e| TlsError::Crypto(e.to_string()))?;
    let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), rng)
        .map_err(|e| TlsError::Crypto(e.to_string()))?;
    Ok(Key {
        pair,
        pkcs8: pkcs8.as_ref().to_vec(),
    })
}

/// What goes into one certificate.
struct CertSpec<'a> {
    subject: &'a str,
    issuer: &'a str,
    subject_key: &'a Key,
    signing_key: &'a Key,
    is_ca: bool,
    not_before: &'a str,
    not_after: &'a str,
}

fn certificate(spec: &CertSpec<'_>, rng: &SystemRandom) -> Result<Vec<u8>, TlsError> {
    let mut serial = [0u8; 16];
    rng.fill(&mut serial)
        .map_err(|e| TlsError::Crypto(e.to_string()))?;
    // A positive INTEGER in minimal form: top bit clear, first byte non-zero.
    serial[0] = (serial[0] & 0x7f) | 0x01;
    let algorithm = seq(&[oid(OID_ECDSA_SHA256)]);
    let public_key = seq(&[
        seq(&[oid(OID_EC_PUBLIC_KEY), oid(OID_P256)]),
        bit_string(spec.subject_key.pair.public_key().as_ref(), 0),
    ]);
    let extensions = if spec.is_ca {
        vec![
            extension(OID_BASIC_CONSTRAINTS, true, seq(&[der(0x01, &[0xff])])),
            // keyCertSign | cRLSign
            extension(OID_KEY_USAGE, true, bit_string(&[0x06], 1)),
        ]
    } else {
        vec![
            // digitalSignature
            extension(OID_KEY_USAGE, true, bit_string(&[0x80], 7)),
            extension(OID_EXT_KEY_USAGE, false, seq(&[oid(OID_SERVER_AUTH)])),
            extension(
                OID_SUBJECT_ALT_NAME,
                false,
                seq(&[der(0x87, &[127, 0, 0, 1]), der(0x82, b"localhost")]),
            ),
        ]
    };
    let tbs = seq(&[
        der(0xa0, &der(0x02, &[2])),
        der(0x02, &serial),
        algorithm.clone(),
        name(spec.issuer),
        seq(&[time(spec.not_before), time(spec.not_after)]),
        name(spec.subject),
        public_key,
        der(0xa3, &seq(&extensions)),
    ]);
    let signature = spec
        .signing_key
        .pair
        .sign(rng, &tbs)
        .map_err(|e| TlsError::Crypto(e.to_string()))?;
    Ok(seq(&[tbs, algorithm, bit_string(signature.as_ref(), 0)]))
}

/// PEM armour for a DER certificate.
pub(crate) fn pem(der: &[u8]) -> String {
    let encoded = crate::kubeconfig::base64(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Generates the CA and server certificate and the rustls configuration.
pub(crate) fn server_tls() -> Result<ServerTls, TlsError> {
    let rng = SystemRandom::new();
    let (ca_key, server_key) = (generate_key(&rng)?, generate_key(&rng)?);
    // Validity is checked against the wall clock by clients, whatever the
    // simulator's virtual time: from an hour ago for ten years.
    let wall = VirtualClock::starting_now(1.0).now();
    let not_before = crate::clock::SimTime(wall.0 - 3_600_000).rfc3339();
    let not_after = wall
        .plus(std::time::Duration::from_secs(10 * 365 * 86_400))
        .rfc3339();
    let ca = certificate(
        &CertSpec {
            subject: "harness-sim-ca",
            issuer: "harness-sim-ca",
            subject_key: &ca_key,
            signing_key: &ca_key,
            is_ca: true,
            not_before: &not_before,
            not_after: &not_after,
        },
        &rng,
    )?;
    let server = certificate(
        &CertSpec {
            subject: "harness-sim",
            issuer: "harness-sim-ca",
            subject_key: &server_key,
            signing_key: &ca_key,
            is_ca: false,
            not_before: &not_before,
            not_after: &not_after,
        },
        &rng,
    )?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(server.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.pkcs8.clone())),
        )
        .map_err(TlsError::Config)?;
    // HTTP/1.1 only: Go and kube clients fall back to it from h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        ca_pem: pem(&ca),
        config: Arc::new(config),
        server_der: server,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths_use_long_form_above_127() {
        assert_eq!(der(0x04, &[1, 2]), [0x04, 2, 1, 2]);
        let long = der(0x04, &[0; 200]);
        assert_eq!(&long[..3], &[0x04, 0x81, 200]);
        let longer = der(0x04, &[0; 300]);
        assert_eq!(&longer[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(time("2026-11-21T14:56:23Z"), der(0x17, b"261121145623Z"));
        assert_eq!(time("2051-01-02T03:04:05Z"), der(0x18, b"20510102030405Z"));
    }

    #[test]
    fn generated_certificates_verify_with_rustls() {
        use rustls::{
            client::danger::ServerCertVerifier,
            pki_types::{ServerName, UnixTime},
        };
        let tls = server_tls().unwrap();
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        // The server certificate must chain to the CA for 127.0.0.1, which is
        // what kube and kubectl check; rustls' webpki verifier is the judge.
        let ca_der = crate::kubeconfig::pem_certificates(&tls.ca_pem).remove(0);
        let mut roots = rustls::RootCertStore::empty();
        roots.add(CertificateDer::from(ca_der)).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        let server = CertificateDer::from(tls.server_der.clone());
        for name in ["127.0.0.1", "localhost"] {
            let name = ServerName::try_from(name).unwrap();
            verifier
                .verify_server_cert(&server, &[], &name, &[], UnixTime::now())
                .unwrap();
        }
        let other = ServerName::try_from("10.0.0.1").unwrap();
        assert!(
            verifier
                .verify_server_cert(&server, &[], &other, &[], UnixTime::now())
                .is_err()
        );
    }
}

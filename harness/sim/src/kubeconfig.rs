//! Writing the kubeconfig that points kubectl and kube at the simulator.
//!
//! The file names cluster `harness-sim`, user `harness-admin` and context
//! `harness-sim` (the current context). It carries the bearer token and the
//! server's CA certificate, so it is created with mode 0600 and its contents
//! are never logged. [`Credentials`] reads the server, token and CA back, for
//! tests and tools that speak raw HTTPS.

use std::{io, path::Path};

use serde_json::json;

/// The cluster, user and context name written into the kubeconfig.
pub const CONTEXT: &str = "harness-sim";
/// The user entry's name.
pub const USER: &str = "harness-admin";

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, as kubeconfig `*-data` fields use.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64, ignoring whitespace; `None` if malformed.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3);
    for chunk in symbols.chunks(4) {
        let mut n = 0u32;
        let mut padding = 0;
        for (i, symbol) in chunk.iter().enumerate() {
            let value = match symbol {
                b'=' if i >= 2 => {
                    padding += 1;
                    0
                }
                _ if padding > 0 => return None,
                other => BASE64.iter().position(|c| c == other)? as u32,
            };
            n |= value << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..4 - padding]);
    }
    Some(out)
}

/// The DER bodies of the `CERTIFICATE` blocks in a PEM text.
pub fn pem_certificates(pem: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in pem.lines().map(str::trim) {
        match (line, body.as_mut()) {
            ("-----BEGIN CERTIFICATE-----", _) => body = Some(String::new()),
            ("-----END CERTIFICATE-----", Some(text)) => {
                out.extend(base64_decode(text));
                body = None;
            }
            (line, Some(text)) => text.push_str(line),
            _ => {}
        }
    }
    out
}

/// Renders a kubeconfig for `server` (e.g. `https://127.0.0.1:PORT`),
/// `token` and the PEM of the CA that signed the server's certificate.
pub fn render(server: &str, token: &str, ca_pem: Option<&str>) -> String {
    let mut cluster = json!({"server": server});
    if let Some(ca) = ca_pem {
        cluster["certificate-authority-data"] = json!(base64(ca.as_bytes()));
    }
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": USER, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": USER, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    });
    serde_yaml::to_string(&config).expect("a JSON value always renders as YAML")
}

/// Writes the kubeconfig to `path` with mode 0600, replacing any file there.
pub fn write(path: &Path, server: &str, token: &str, ca_pem: Option<&str>) -> io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // An existing file keeps its old mode on open; tighten it explicitly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(render(server, token, ca_pem).as_bytes())?;
    file.sync_all()
}

/// The server URL, bearer token and CA of a kubeconfig's current context.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// e.g. `https://127.0.0.1:40123`.
    pub server: String,
    /// The bearer token (secret: never print it).
    pub token: String,
    /// The PEM of `certificate-authority-data`, if present.
    pub ca_pem: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Credentials {
    /// Parses kubeconfig text; `None` if the current context does not resolve
    /// to a server and a token.
    pub fn parse(text: &str) -> Option<Credentials> {
        let config: serde_json::Value = serde_yaml::from_str(text).ok()?;
        let current = config["current-context"].as_str()?;
        let named = |list: &str, name: &str| -> Option<serde_json::Value> {
            config[list]
                .as_array()?
                .iter()
                .find(|e| e["name"].as_str() == Some(name))
                .cloned()
        };
        let context = named("contexts", current)?;
        let cluster = named("clusters", context["context"]["cluster"].as_str()?)?;
        let user = named("users", context["context"]["user"].as_str()?)?;
        let ca_pem = cluster["cluster"]["certificate-authority-data"]
            .as_str()
            .and_then(base64_decode)
            .and_then(|bytes| String::from_utf8(bytes).ok());
        Some(Credentials {
            server: cluster["cluster"]["server"].as_str()?.to_string(),
            token: user["user"]["token"].as_str()?.to_string(),
            ca_pem,
        })
    }

    /// Reads and parses a kubeconfig file.
    pub fn read(path: &Path) -> io::Result<Credentials> {
        let text = std::fs::read_to_string(path)?;
        Credentials::parse(&text).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{} has no server and token in its current context",
                    path.display()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_kubeconfig_is_private_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/kubeconfig");
        write(
            &path,
            "https://127.0.0.1:1234",
            "s3cret",
            Some("PEM TEXT\n"),
        )
        .unwrap();
        let creds = Credentials::read(&path).unwrap();
        assert_eq!(creds.server, "https://127.0.0.1:1234");
        assert_eq!(creds.token, "s3cret");
        assert_eq!(creds.ca_pem.as_deref(), Some("PEM TEXT\n"));
        assert!(
            !format!("{creds:?}").contains("s3cret"),
            "Debug must not show the token"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("current-context: harness-sim"), "{text}");
        assert!(Credentials::parse("current-context: nope\n").is_none());
    }

    #[test]
    fn base64_round_trips_and_matches_known_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(base64_decode("Zg="), None);
        assert_eq!(base64_decode("Z=g="), None);
        let pem = "-----BEGIN CERTIFICATE-----\nZm9v\nYmFy\n-----END CERTIFICATE-----\n";
        assert_eq!(pem_certificates(pem), vec![b"foobar".to_vec()]);
    }

    proptest::proptest! {
        #[test]
        fn base64_round_trips(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            proptest::prop_assert_eq!(base64_decode(&base64(&bytes)), Some(bytes));
        }
    }
}

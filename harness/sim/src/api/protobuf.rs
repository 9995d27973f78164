//! Decoding the protobuf request bodies kubectl's typed generators send.
//!
//! client-go sends built-in kinds from its generated clientsets as
//! `application/vnd.kubernetes.protobuf` and never falls back to JSON, so
//! `kubectl create namespace|configmap|secret|serviceaccount|deployment|
//! service|job|cronjob|role|clusterrole|rolebinding|clusterrolebinding|token`
//! and `kubectl auth can-i` would fail against a JSON-only server. This module decodes those bodies: the
//! `k8s\0` envelope (`runtime.Unknown`), then the object with a table of the
//! fields the generators emit ([`SCHEMAS`]), into the JSON the generators
//! would have sent (`kubectl create ... --dry-run=client -o json`).
//!
//! The table was derived by capturing each generator's body and lining it
//! up with its JSON rendering (the kubectl tests check every generator this
//! way). It is not the full Kubernetes schema: fields outside it are skipped,
//! and other kinds get a 415. As in Go's JSON encoding, singular scalars
//! holding their zero value are omitted (gogo-protobuf emits them) unless
//! the Go field is a pointer ([`Kind::OptInt`], [`Kind::OptBool`]).

use serde_json::{Map, Value, json};

use crate::{clock::SimTime, error::ApiError, kubeconfig::base64};

/// How one field is encoded and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A string; omitted when empty (unless repeated).
    Str,
    /// A varint integer; omitted when zero.
    Int,
    /// A boolean; omitted when false.
    Bool,
    /// A pointer integer: kept even when zero.
    OptInt,
    /// A pointer boolean: kept even when false.
    OptBool,
    /// A nested message of the named schema.
    Msg(&'static str),
    /// `map<string, string>`.
    MapStr,
    /// `map<string, bytes>`, rendered base64 as in JSON.
    MapBytes,
    /// `map<string, resource.Quantity>`.
    MapQuantity,
    /// `metav1.Time`, rendered RFC 3339 (zero: omitted).
    Time,
    /// `intstr.IntOrString`.
    IntOrString,
}

/// One field of a message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    number: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
}

const fn one(number: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        number,
        name,
        kind,
        repeated: false,
    }
}

const fn many(number: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        number,
        name,
        kind,
        repeated: true,
    }
}

use Kind::{
    Bool, Int, IntOrString, MapBytes, MapQuantity, MapStr, Msg, OptBool, OptInt, Str, Time,
};

const META: Field = one(1, "metadata", Msg("ObjectMeta"));

/// Messages by name. Roots are looked up by kind.
pub(crate) const SCHEMAS: &[(&str, &[Field])] = &[
    (
        "ObjectMeta",
        &[
            one(1, "name", Str),
            one(2, "generateName", Str),
            one(3, "namespace", Str),
            one(5, "uid", Str),
            one(6, "resourceVersion", Str),
            one(7, "generation", Int),
            one(8, "creationTimestamp", Time),
            one(11, "labels", MapStr),
            one(12, "annotations", MapStr),
            many(14, "finalizers", Str),
        ],
    ),
    ("Namespace", &[META, one(2, "spec", Msg("NamespaceSpec"))]),
    ("NamespaceSpec", &[many(1, "finalizers", Str)]),
    (
        "ConfigMap",
        &[
            META,
            one(2, "data", MapStr),
            one(3, "binaryData", MapBytes),
            one(4, "immutable", OptBool),
        ],
    ),
    (
        "Secret",
        &[
            META,
            one(2, "data", MapBytes),
            one(3, "type", Str),
            one(4, "stringData", MapStr),
            one(5, "immutable", OptBool),
        ],
    ),
    (
        "ServiceAccount",
        &[
            META,
            many(3, "imagePullSecrets", Msg("LocalObjectReference")),
            one(4, "automountServiceAccountToken", OptBool),
        ],
    ),
    ("LocalObjectReference", &[one(1, "name", Str)]),
    ("Deployment", &[META, one(2, "spec", Msg("DeploymentSpec"))]),
    (
        "DeploymentSpec",
        &[
            one(1, "replicas", OptInt),
            one(2, "selector", Msg("LabelSelector")),
            one(3, "template", Msg("PodTemplateSpec")),
            one(4, "strategy", Msg("DeploymentStrategy")),
            one(5, "minReadySeconds", Int),
            one(7, "paused", Bool),
        ],
    ),
    (
        "DeploymentStrategy",
        &[
            one(1, "type", Str),
            one(2, "rollingUpdate", Msg("RollingUpdateDeployment")),
        ],
    ),
    (
        "RollingUpdateDeployment",
        &[
            one(1, "maxUnavailable", IntOrString),
            one(2, "maxSurge", IntOrString),
        ],
    ),
    (
        "LabelSelector",
        &[
            one(1, "matchLabels", MapStr),
            many(2, "matchExpressions", Msg("LabelSelectorRequirement")),
        ],
    ),
    (
        "LabelSelectorRequirement",
        &[
            one(1, "key", Str),
            one(2, "operator", Str),
            many(3, "values", Str),
        ],
    ),
    ("PodTemplateSpec", &[META, one(2, "spec", Msg("PodSpec"))]),
    (
        "PodSpec",
        &[
            many(2, "containers", Msg("Container")),
            one(3, "restartPolicy", Str),
            one(6, "dnsPolicy", Str),
            one(7, "nodeSelector", MapStr),
            one(8, "serviceAccountName", Str),
            one(9, "serviceAccount", Str),
            one(10, "nodeName", Str),
            one(11, "hostNetwork", Bool),
            one(12, "hostPID", Bool),
            one(13, "hostIPC", Bool),
            many(15, "imagePullSecrets", Msg("LocalObjectReference")),
            one(16, "hostname", Str),
            one(17, "subdomain", Str),
            one(19, "schedulerName", Str),
            many(20, "initContainers", Msg("Container")),
            one(24, "priorityClassName", Str),
        ],
    ),
    (
        "Container",
        &[
            one(1, "name", Str),
            one(2, "image", Str),
            many(3, "command", Str),
            many(4, "args", Str),
            one(5, "workingDir", Str),
            many(6, "ports", Msg("ContainerPort")),
            many(7, "env", Msg("EnvVar")),
            one(8, "resources", Msg("ResourceRequirements")),
            one(13, "terminationMessagePath", Str),
            one(14, "imagePullPolicy", Str),
            one(16, "stdin", Bool),
            one(17, "stdinOnce", Bool),
            one(18, "tty", Bool),
            one(20, "terminationMessagePolicy", Str),
        ],
    ),
    (
        "ContainerPort",
        &[
            one(1, "name", Str),
            one(2, "hostPort", Int),
            one(3, "containerPort", Int),
            one(4, "protocol", Str),
            one(5, "hostIP", Str),
        ],
    ),
    ("EnvVar", &[one(1, "name", Str), one(2, "value", Str)]),
    (
        "ResourceRequirements",
        &[
            one(1, "limits", MapQuantity),
            one(2, "requests", MapQuantity),
        ],
    ),
    ("Service", &[META, one(2, "spec", Msg("ServiceSpec"))]),
    (
        "ServiceSpec",
        &[
            many(1, "ports", Msg("ServicePort")),
            one(2, "selector", MapStr),
            one(3, "clusterIP", Str),
            one(4, "type", Str),
            many(5, "externalIPs", Str),
            one(7, "sessionAffinity", Str),
            one(10, "externalName", Str),
        ],
    ),
    (
        "ServicePort",
        &[
            one(1, "name", Str),
            one(2, "protocol", Str),
            one(3, "port", Int),
            one(4, "targetPort", IntOrString),
            one(5, "nodePort", Int),
        ],
    ),
    ("Job", &[META, one(2, "spec", Msg("JobSpec"))]),
    ("JobSpec", &[one(6, "template", Msg("PodTemplateSpec"))]),
    ("CronJob", &[META, one(2, "spec", Msg("CronJobSpec"))]),
    (
        "CronJobSpec",
        &[
            one(1, "schedule", Str),
            one(3, "concurrencyPolicy", Str),
            one(5, "jobTemplate", Msg("JobTemplateSpec")),
        ],
    ),
    ("JobTemplateSpec", &[META, one(2, "spec", Msg("JobSpec"))]),
    ("Role", &[META, many(2, "rules", Msg("PolicyRule"))]),
    (
        "ClusterRole",
        &[
            META,
            many(2, "rules", Msg("PolicyRule")),
            one(3, "aggregationRule", Msg("AggregationRule")),
        ],
    ),
    (
        "AggregationRule",
        &[many(1, "clusterRoleSelectors", Msg("LabelSelector"))],
    ),
    (
        "PolicyRule",
        &[
            many(1, "verbs", Str),
            many(2, "apiGroups", Str),
            many(3, "resources", Str),
            many(4, "resourceNames", Str),
            many(5, "nonResourceURLs", Str),
        ],
    ),
    (
        "RoleBinding",
        &[
            META,
            many(2, "subjects", Msg("Subject")),
            one(3, "roleRef", Msg("RoleRef")),
        ],
    ),
    (
        "ClusterRoleBinding",
        &[
            META,
            many(2, "subjects", Msg("Subject")),
            one(3, "roleRef", Msg("RoleRef")),
        ],
    ),
    (
        "Subject",
        &[
            one(1, "kind", Str),
            one(2, "apiGroup", Str),
            one(3, "name", Str),
            one(4, "namespace", Str),
        ],
    ),
    (
        "RoleRef",
        &[
            one(1, "apiGroup", Str),
            one(2, "kind", Str),
            one(3, "name", Str),
        ],
    ),
    // `kubectl auth can-i` and `kubectl create token`.
    (
        "SelfSubjectAccessReview",
        &[META, one(2, "spec", Msg("SelfSubjectAccessReviewSpec"))],
    ),
    (
        "SelfSubjectAccessReviewSpec",
        &[
            one(1, "resourceAttributes", Msg("ResourceAttributes")),
            one(2, "nonResourceAttributes", Msg("NonResourceAttributes")),
        ],
    ),
    (
        "ResourceAttributes",
        &[
            one(1, "namespace", Str),
            one(2, "verb", Str),
            one(3, "group", Str),
            one(4, "version", Str),
            one(5, "resource", Str),
            one(6, "subresource", Str),
            one(7, "name", Str),
        ],
    ),
    (
        "NonResourceAttributes",
        &[one(1, "path", Str), one(2, "verb", Str)],
    ),
    (
        "TokenRequest",
        &[META, one(2, "spec", Msg("TokenRequestSpec"))],
    ),
    (
        "TokenRequestSpec",
        &[
            many(1, "audiences", Str),
            one(3, "boundObjectRef", Msg("BoundObjectReference")),
            one(4, "expirationSeconds", OptInt),
        ],
    ),
    (
        "BoundObjectReference",
        &[
            one(1, "kind", Str),
            one(2, "apiVersion", Str),
            one(3, "name", Str),
            one(4, "uid", Str),
        ],
    ),
];

/// The kinds a body may carry (the rest of [`SCHEMAS`] are nested messages).
const ROOTS: &[&str] = &[
    "Namespace",
    "ConfigMap",
    "Secret",
    "ServiceAccount",
    "Deployment",
    "Service",
    "Job",
    "CronJob",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "SelfSubjectAccessReview",
    "TokenRequest",
];

fn schema(name: &str) -> Option<&'static [Field]> {
    SCHEMAS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, fields)| *fields)
}

/// One decoded wire value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// A protobuf reader over one message's bytes.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

fn malformed(what: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unable to decode the protobuf request body: {what}"
    ))
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, pos: 0 }
    }

    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .bytes
                .get(self.pos)
                .ok_or_else(|| malformed("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(malformed("varint too long"))
    }

    /// The next field number and value, skipping fixed-width fields.
    fn next(&mut self) -> Result<Option<(u64, Wire<'a>)>, ApiError> {
        while self.pos < self.bytes.len() {
            let key = self.varint()?;
            let (number, wire_type) = (key >> 3, key & 7);
            match wire_type {
                0 => return Ok(Some((number, Wire::Varint(self.varint()?)))),
                2 => {
                    let len = usize::try_from(self.varint()?)
                        .map_err(|_| malformed("length overflow"))?;
                    let end = self
                        .pos
                        .checked_add(len)
                        .filter(|end| *end <= self.bytes.len());
                    let end = end.ok_or_else(|| malformed("truncated field"))?;
                    let value = &self.bytes[self.pos..end];
                    self.pos = end;
                    return Ok(Some((number, Wire::Bytes(value))));
                }
                1 => self.pos += 8,
                5 => self.pos += 4,
                _ => return Err(malformed("unsupported wire type")),
            }
        }
        Ok(None)
    }
}

fn text(bytes: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed("string field is not UTF-8"))
}

/// `{1: key, 2: value}` of a map entry.
fn map_entry(bytes: &[u8]) -> Result<(String, &[u8]), ApiError> {
    let mut reader = Reader::new(bytes);
    let (mut key, mut value) = (String::new(), &[][..]);
    while let Some((number, wire)) = reader.next()? {
        match (number, wire) {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

/// Decodes one field value; `None` means "omit" (a zero scalar).
fn value(kind: Kind, wire: Wire<'_>, repeated: bool) -> Result<Option<Value>, ApiError> {
    Ok(match (kind, wire) {
        (Str, Wire::Bytes(b)) => Some(Value::String(text(b)?)).filter(|v| repeated || v != ""),
        (Int, Wire::Varint(v)) => Some(json!(v as i64)).filter(|v| repeated || v != 0),
        (OptInt, Wire::Varint(v)) => Some(json!(v as i64)),
        (Bool, Wire::Varint(v)) => (v != 0 || repeated).then(|| json!(v != 0)),
        (OptBool, Wire::Varint(v)) => Some(json!(v != 0)),
        (Msg(name), Wire::Bytes(b)) => Some(message(name, b)?),
        (Time, Wire::Bytes(b)) => {
            let mut reader = Reader::new(b);
            let mut seconds = 0i64;
            while let Some((number, wire)) = reader.next()? {
                if let (1, Wire::Varint(v)) = (number, wire) {
                    seconds = v as i64;
                }
            }
            (seconds != 0).then(|| json!(SimTime(seconds * 1000).rfc3339()))
        }
        (IntOrString, Wire::Bytes(b)) => {
            let mut reader = Reader::new(b);
            let (mut is_string, mut int, mut string) = (false, 0i64, String::new());
            while let Some((number, wire)) = reader.next()? {
                match (number, wire) {
                    (1, Wire::Varint(v)) => is_string = v == 1,
                    (2, Wire::Varint(v)) => int = i64::from(v as i32),
                    (3, Wire::Bytes(s)) => string = text(s)?,
                    _ => {}
                }
            }
            Some(if is_string { json!(string) } else { json!(int) })
        }
        _ => return Err(malformed("a field has an unexpected wire type")),
    })
}

/// Decodes a message of schema `name` into a JSON object.
fn message(name: &str, bytes: &[u8]) -> Result<Value, ApiError> {
    let fields = schema(name).ok_or_else(|| malformed(&format!("no schema for {name}")))?;
    let mut out = Map::new();
    let mut reader = Reader::new(bytes);
    while let Some((number, wire)) = reader.next()? {
        // Fields outside the table (and every status) are skipped.
        let Some(field) = fields.iter().find(|f| f.number == number) else {
            continue;
        };
        match field.kind {
            MapStr | MapBytes | MapQuantity => {
                let Wire::Bytes(entry) = wire else {
                    return Err(malformed("map entry is not a message"));
                };
                let (key, raw) = map_entry(entry)?;
                let rendered = match field.kind {
                    MapStr => Value::String(text(raw)?),
                    MapBytes => Value::String(base64(raw)),
                    // resource.Quantity is {1: string}.
                    _ => Value::String(map_entry_string(raw)?),
                };
                let map = out.entry(field.name).or_insert_with(|| json!({}));
                if let Some(map) = map.as_object_mut() {
                    map.insert(key, rendered);
                }
            }
            kind if field.repeated => {
                if let Some(v) = value(kind, wire, true)? {
                    let list = out.entry(field.name).or_insert_with(|| json!([]));
                    if let Some(list) = list.as_array_mut() {
                        list.push(v);
                    }
                }
            }
            kind => {
                if let Some(v) = value(kind, wire, false)? {
                    out.insert(field.name.to_string(), v);
                }
            }
        }
    }
    Ok(Value::Object(out))
}

/// Field 1 of a message as a string (a `resource.Quantity`).
fn map_entry_string(bytes: &[u8]) -> Result<String, ApiError> {
    let mut reader = Reader::new(bytes);
    while let Some((number, wire)) = reader.next()? {
        if let (1, Wire::Bytes(b)) = (number, wire) {
            return text(b);
        }
    }
    Ok(String::new())
}

/// Decodes a `k8s\0`-prefixed protobuf body into the JSON object it encodes.
///
/// Kinds outside [`SCHEMAS`] get the API server's 415 wording plus a hint.
pub(crate) fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(b"k8s\0")
        .ok_or_else(|| malformed("missing the k8s envelope"))?;
    let mut reader = Reader::new(envelope);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((number, wire)) = reader.next()? {
        match (number, wire) {
            (1, Wire::Bytes(type_meta)) => {
                let mut meta = Reader::new(type_meta);
                while let Some((n, w)) = meta.next()? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = text(b)?,
                        (2, Wire::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    if !ROOTS.contains(&kind.as_str()) {
        return Err(ApiError {
            code: 415,
            reason: "UnsupportedMediaType".into(),
            message: format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, \
                 application/yaml (the simulated API server decodes protobuf only for the kinds kubectl's generators \
                 create, not {kind}; use kubectl apply -f or kubectl create -f)"
            ),
            details: None,
        });
    }
    let mut object = message(&kind, raw)?;
    if let Some(map) = object.as_object_mut() {
        map.insert("apiVersion".into(), json!(api_version));
        map.insert("kind".into(), json!(kind));
    }
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `kubectl create namespace ns1` as kubectl 1.32 sends it.
    const NAMESPACE: &[u8] = &[
        0x6b, 0x38, 0x73, 0x00, 0x0a, 0x0f, 0x0a, 0x02, 0x76, 0x31, 0x12, 0x09, 0x4e, 0x61, 0x6d,
        0x65, 0x73, 0x70, 0x61, 0x63, 0x65, 0x12, 0x1b, 0x0a, 0x13, 0x0a, 0x03, 0x6e, 0x73, 0x31,
        0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00, 0x12,
        0x00, 0x1a, 0x02, 0x0a, 0x00, 0x1a, 0x00, 0x22, 0x00,
    ];

    #[test]
    fn decodes_a_captured_namespace() {
        assert_eq!(
            decode(NAMESPACE).unwrap(),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns1"}, "spec": {}})
        );
    }

    /// Encodes a length-delimited field.
    fn field(number: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut type_meta = field(1, api_version.as_bytes());
        type_meta.extend(field(2, kind.as_bytes()));
        let mut out = b"k8s\0".to_vec();
        out.extend(field(1, &type_meta));
        out.extend(field(2, raw));
        out
    }

    #[test]
    fn maps_repeated_fields_pointers_and_int_or_string() {
        let mut entry = field(1, b"k");
        entry.extend(field(2, b"\x00\x01"));
        let secret = [
            field(1, &field(1, b"s")),
            field(2, &entry),
            field(3, b"Opaque"),
        ]
        .concat();
        assert_eq!(
            decode(&envelope("v1", "Secret", &secret)).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "AAE="}, "type": "Opaque"})
        );

        let rule = [field(1, b"get"), field(2, b""), field(3, b"pods")].concat();
        let role = [field(1, &field(1, b"r")), field(2, &rule)].concat();
        let decoded = decode(&envelope("rbac.authorization.k8s.io/v1", "Role", &role)).unwrap();
        assert_eq!(
            decoded["rules"],
            json!([{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]),
            "empty strings survive in lists"
        );

        let port = [
            field(2, b"TCP"),
            vec![3 << 3, 80],
            field(4, &[2 << 3, 0x90, 0x3f]),
        ]
        .concat();
        let spec = [field(1, &port), field(4, b"ClusterIP")].concat();
        let service = [field(1, &field(1, b"svc")), field(2, &spec)].concat();
        let decoded = decode(&envelope("v1", "Service", &service)).unwrap();
        assert_eq!(
            decoded["spec"]["ports"],
            json!([{"protocol": "TCP", "port": 80, "targetPort": 8080}])
        );

        let replicas_zero = [field(1, &field(1, b"d")), field(2, &[1 << 3, 0])].concat();
        let decoded = decode(&envelope("apps/v1", "Deployment", &replicas_zero)).unwrap();
        assert_eq!(
            decoded["spec"]["replicas"], 0,
            "pointer fields keep their zero"
        );
    }

    #[test]
    fn bad_bodies_are_errors_not_panics() {
        assert_eq!(decode(b"nope").unwrap_err().code, 400);
        assert_eq!(decode(&NAMESPACE[..20]).unwrap_err().code, 400);
        assert_eq!(decode(&envelope("v1", "Pod", &[])).unwrap_err().code, 415);
        assert_eq!(
            decode(&envelope("v1", "PodSpec", &[])).unwrap_err().code,
            415
        );
        let mut wrong_wire = b"k8s\0".to_vec();
        wrong_wire.extend([(1 << 3) | 3]);
        assert_eq!(decode(&wrong_wire).unwrap_err().code, 400);
    }
}

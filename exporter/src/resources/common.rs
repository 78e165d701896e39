//! Shapes that many kinds share: lean object metadata, label/annotation allowlist families,
//! timestamps, owner references and one-hot condition series.

use crate::metric::{FamilyGen, Sink, Stability};
use k8s_openapi::apimachinery::pkg::{
    api::resource::Quantity,
    apis::meta::v1::{ObjectMeta, OwnerReference, Time},
    util::intstr::IntOrString,
};
use serde::{Deserialize, Deserializer};
use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

/// Deserializes only the metadata fields metrics read; `managedFields` and the rest are skipped
/// without being built.
pub fn lean_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Lean {
        name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        generation: Option<i64>,
        creation_timestamp: Option<Time>,
        deletion_timestamp: Option<Time>,
        labels: Option<BTreeMap<String, String>>,
        annotations: Option<BTreeMap<String, String>>,
        owner_references: Option<Vec<OwnerReference>>,
    }
    let l = Lean::deserialize(d)?;
    Ok(ObjectMeta {
        name: l.name,
        namespace: l.namespace,
        uid: l.uid,
        resource_version: l.resource_version,
        generation: l.generation,
        creation_timestamp: l.creation_timestamp,
        deletion_timestamp: l.deletion_timestamp,
        labels: l.labels,
        annotations: l.annotations,
        owner_references: l.owner_references,
        ..ObjectMeta::default()
    })
}

/// Seconds of Go's zero time (0001-01-01T00:00:00Z), which upstream's `IsZero` treats as unset.
const GO_ZERO_SECONDS: i64 = -62_135_596_800;

/// Whether `t` is Go's zero time, i.e. unset for upstream.
pub fn is_go_zero(t: &Time) -> bool {
    t.0.as_second() == GO_ZERO_SECONDS
}

/// Seconds since the epoch, as upstream writes timestamps (whole seconds).
pub fn unix_seconds(t: &Time) -> f64 {
    t.0.as_second() as f64
}

/// An entry of `--metric-labels-allowlist` / `--metric-annotations-allowlist` for one resource.
#[derive(Clone, Debug, Default)]
pub struct KeyAllowlist {
    all: bool,
    exact: Vec<String>,
    globs: Vec<regex::Regex>,
}

impl KeyAllowlist {
    /// Builds the matcher from the entry's items. `*` as the first item allows every key; an item
    /// with one `*` is an anchored glob; anything else matches exactly.
    pub fn new(items: &[String]) -> Self {
        let mut allow = KeyAllowlist::default();
        for (i, item) in items.iter().enumerate() {
            if item == "*" {
                // Upstream honours `*` only as the first entry.
                if i == 0 {
                    allow.all = true;
                }
                continue;
            }
            match item.matches('*').count() {
                0 => allow.exact.push(item.clone()),
                1 => {
                    let (pre, post) = item.split_once('*').unwrap_or((item, ""));
                    let pattern = format!("^{}.*{}$", regex::escape(pre), regex::escape(post));
                    if let Ok(re) = regex::Regex::new(&pattern) {
                        allow.globs.push(re);
                    }
                }
                _ => {} // rejected when the flag is parsed
            }
        }
        allow
    }

    /// Whether `key` passes.
    pub fn allows(&self, key: &str) -> bool {
        self.all || self.exact.iter().any(|e| e == key) || self.globs.iter().any(|g| g.is_match(key))
    }
}

/// Maps a Kubernetes label key to a Prometheus label name the way upstream does: every rune
/// outside `[a-zA-Z0-9_]` becomes `_`, then camelCase becomes snake_case, then lowercase.
pub fn sanitize_label_name(prefix: &str, key: &str) -> String {
    let sanitized: Vec<char> =
        key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    let mut out = String::with_capacity(prefix.len() + 1 + sanitized.len() + 4);
    out.push_str(prefix);
    out.push('_');
    let mut i = 0;
    while i < sanitized.len() {
        let c = sanitized[i];
        if (c.is_ascii_lowercase() || c.is_ascii_digit())
            && sanitized.get(i + 1).is_some_and(|n| n.is_ascii_uppercase())
        {
            out.push(c);
            out.push('_');
            out.push(sanitized[i + 1].to_ascii_lowercase());
            i += 2;
        } else {
            out.push(c.to_ascii_lowercase());
            i += 1;
        }
    }
    out
}

/// Label names for sorted `keys`, renaming clashes as upstream's `mapToPrometheusLabels` does:
/// the first collision renames the name already emitted to `_conflict1` and the newcomer takes
/// the next free suffix; a suffix taken by any emitted name is skipped.
pub fn label_names<'k>(prefix: &str, keys: impl IntoIterator<Item = &'k str>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    // Emitted name -> its position; suffixes handed out per sanitised base name.
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut conflicts: HashMap<String, usize> = HashMap::new();
    let next_free = |base: &str, count: &mut usize, used: &HashMap<String, usize>| loop {
        *count += 1;
        let candidate = format!("{base}_conflict{count}");
        if !used.contains_key(&candidate) {
            return candidate;
        }
    };
    for key in keys {
        let base = sanitize_label_name(prefix, key);
        let mut name = base.clone();
        if let Some(count) = conflicts.get_mut(&base) {
            name = next_free(&base, count, &used);
        } else if let Some(idx) = used.get(&name).copied() {
            let mut count = 0;
            let renamed = next_free(&base, &mut count, &used);
            used.remove(&name);
            names[idx] = renamed.clone();
            used.insert(renamed, idx);
            name = next_free(&base, &mut count, &used);
            conflicts.insert(base, count);
        }
        used.insert(name.clone(), names.len());
        names.push(name);
    }
    names
}

/// Writes one `kube_<kind>_labels`-style sample: the allowed entries of `map` as `prefix_*`
/// labels. Without an allowlist entry no sample is written, as upstream.
pub fn write_allowed(
    sink: &mut Sink<'_>,
    map: Option<&BTreeMap<String, String>>,
    allow: Option<&KeyAllowlist>,
    prefix: &str,
) {
    let Some(allow) = allow else { return };
    let empty = BTreeMap::new();
    let pairs: Vec<(&str, &str)> = map
        .unwrap_or(&empty)
        .iter()
        .filter(|(k, _)| allow.allows(k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let names = label_names(prefix, pairs.iter().map(|(k, _)| *k));
    sink.sample(names.iter().zip(pairs.iter().map(|(_, v)| *v)), 1.0);
}

/// The `kube_<kind>_labels` family: allowlisted Kubernetes labels as `label_*`.
pub fn labels_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
    allow: Option<Arc<KeyAllowlist>>,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, move |o: &K, s| {
        write_allowed(s, o.meta().labels.as_ref(), allow.as_deref(), "label")
    })
}

/// The `kube_<kind>_annotations` family: allowlisted annotations as `annotation_*`.
pub fn annotations_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
    allow: Option<Arc<KeyAllowlist>>,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, move |o: &K, s| {
        write_allowed(s, o.meta().annotations.as_ref(), allow.as_deref(), "annotation")
    })
}

/// The `kube_<kind>_created` family: creation timestamp in seconds, when set.
pub fn created_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
) -> FamilyGen<K> {
    timestamp_family(name, help, stability, |m| m.creation_timestamp.as_ref())
}

/// The `kube_<kind>_deletion_timestamp` family: deletion timestamp in seconds, when set.
pub fn deletion_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
) -> FamilyGen<K> {
    timestamp_family(name, help, stability, |m| m.deletion_timestamp.as_ref())
}

/// One sample of a metadata timestamp in seconds; none when unset or Go's zero time.
fn timestamp_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
    field: fn(&ObjectMeta) -> Option<&Time>,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, move |o: &K, s| {
        if let Some(t) = field(o.meta()).filter(|t| !is_go_zero(t)) {
            s.value(unix_seconds(t))
        }
    })
}

/// `kube_<kind>_owner`: one sample per owner reference, or one with empty values.
pub fn owner_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, |o: &K, s| write_owners(s, o.meta().owner_references.as_deref()))
}

/// Owner samples as upstream writes them: kind, name and is_controller (`false` when unset) per
/// reference; a single sample of empty values when there is no owner.
pub fn write_owners(s: &mut Sink<'_>, owners: Option<&[OwnerReference]>) {
    let owners = owners.unwrap_or_default();
    if owners.is_empty() {
        s.sample([("owner_kind", ""), ("owner_name", ""), ("owner_is_controller", "")], 1.0);
    }
    for r in owners {
        let controller = if r.controller == Some(true) { "true" } else { "false" };
        s.sample(
            [
                ("owner_kind", r.kind.as_str()),
                ("owner_name", r.name.as_str()),
                ("owner_is_controller", controller),
            ],
            1.0,
        );
    }
}

/// One-hot condition status: three samples `status=true|false|unknown`, 1 on the one that holds.
pub fn write_condition_status(s: &mut Sink<'_>, leading: &[(&'static str, &str)], status: &str) {
    for (label, value) in [("true", "True"), ("false", "False"), ("unknown", "Unknown")] {
        let labels = leading.iter().copied().chain(std::iter::once(("status", label)));
        s.sample(labels, crate::metric::bool_f64(status == value));
    }
}

/// Scales an int-or-percent against `total` as apimachinery's `GetScaledValueFromIntOrPercent`:
/// an int is taken as is, `"N%"` becomes N% of total rounded up or down; anything else is `None`.
pub fn scaled_int_or_percent(v: &IntOrString, total: i32, round_up: bool) -> Option<i32> {
    match v {
        IntOrString::Int(i) => Some(*i),
        IntOrString::String(s) => {
            let percent: i32 = s.strip_suffix('%')?.parse().ok()?;
            let scaled = f64::from(percent) * f64::from(total) / 100.0;
            Some(if round_up { scaled.ceil() } else { scaled.floor() } as i32)
        }
    }
}

/// Access to an object's metadata, for the shared families.
pub trait HasMeta {
    /// The object's (lean) metadata.
    fn meta(&self) -> &ObjectMeta;
}

impl<K: kube::Resource> HasMeta for K {
    fn meta(&self) -> &ObjectMeta {
        kube::Resource::meta(self)
    }
}

// --- quantities ---

/// apimachinery's `MaxMilliValue`: above it upstream reads `Value()` instead of `MilliValue()`.
const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;

/// A resource quantity as upstream's `convertValueToFloat64` reads it: `float64(Value())` when
/// `Value()` exceeds `MaxMilliValue`, else `float64(MilliValue()) / 1000`. Both round away from
/// zero as apimachinery does (`"0.1n"` reads as 0.001), including its int64 quirks (`"1e20"` reads
/// as 0 because `Value()` overflows). `None` when the string is not a quantity; upstream would have
/// failed to decode the whole object, here only that sample is skipped. Also `None` when the exact
/// value in nanos needs more than 38 digits (i128), far beyond any real resource amount.
pub fn quantity_to_f64(q: &Quantity) -> Option<f64> {
    // Quantity.UnmarshalJSON trims surrounding whitespace before parsing.
    let amount = parse_quantity(q.0.trim())?;
    let value = amount.scaled_value(0);
    Some(if value > MAX_MILLI_VALUE { value as f64 } else { amount.scaled_value(-3) as f64 / 1000.0 })
}

/// `Quantity.Value()`: the value rounded up (away from zero) to a whole number, e.g. `1.5` is 2
/// and `100m` is 1. `None` when the string is not a quantity.
pub fn quantity_value(q: &Quantity) -> Option<i64> {
    parse_quantity(q.0.trim()).map(|a| a.scaled_value(0))
}

/// A resource name as a label value, upstream's `SanitizeLabelName`: every rune outside
/// `[a-zA-Z0-9_]` becomes `_` (no snake-casing, no prefix).
pub fn sanitize_resource_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

/// `hugepages-*`, upstream's `isHugePageResourceName`.
pub fn is_huge_page_resource_name(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// `attachable-volumes-*`, upstream's `isAttachableVolumeResourceName`.
pub fn is_attachable_volume_resource_name(name: &str) -> bool {
    name.starts_with("attachable-volumes-")
}

/// Upstream's `isExtendedResourceName`: a prefixed name outside `kubernetes.io/` whose quota form
/// `requests.<name>` is a valid qualified name (`<dns-subdomain>/<label-key-name>`).
pub fn is_extended_resource_name(name: &str) -> bool {
    let native = !name.contains('/') || name.contains("kubernetes.io/");
    if native || name.starts_with("requests.") {
        return false;
    }
    let quota = format!("requests.{name}");
    let mut parts = quota.split('/');
    let (Some(prefix), Some(key), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    is_dns1123_subdomain(prefix) && is_label_key_name(key)
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`, at most 253 bytes.
fn is_dns1123_subdomain(s: &str) -> bool {
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    s.len() <= 253
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty() && edge(b[0]) && edge(b[b.len() - 1]) && b.iter().all(|&c| edge(c) || c == b'-')
        })
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 bytes.
fn is_label_key_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A parsed quantity in one of apimachinery's two representations; which one is chosen matters,
/// because they round and overflow differently.
#[derive(Debug, PartialEq)]
enum Amount {
    /// `int64Amount`: `value * 10^scale`.
    Int { value: i64, scale: i32 },
    /// `inf.Dec`: `unscaled * 10^-scale` (inf's scale counts decimal places).
    Dec { unscaled: i128, scale: i32 },
}

/// Suffix -> (base, exponent, binary), as apimachinery's suffixer interprets it.
fn interpret_suffix(suffix: &[u8]) -> Option<(u32, i32, bool)> {
    let decimal = |e| Some((10, e, false));
    let binary = |e| Some((2, e, true));
    match suffix {
        b"" => decimal(0),
        b"n" => decimal(-9),
        b"u" => decimal(-6),
        b"m" => decimal(-3),
        b"k" => decimal(3),
        b"M" => decimal(6),
        b"G" => decimal(9),
        b"T" => decimal(12),
        b"P" => decimal(15),
        b"E" => decimal(18),
        b"Ki" => binary(10),
        b"Mi" => binary(20),
        b"Gi" => binary(30),
        b"Ti" => binary(40),
        b"Pi" => binary(50),
        b"Ei" => binary(60),
        [b'e' | b'E', rest @ ..] if !rest.is_empty() => {
            // strconv.ParseInt(.., 10, 64) then a truncating int32 conversion.
            let exponent: i64 = std::str::from_utf8(rest).ok()?.parse().ok()?;
            decimal(exponent as i32)
        }
        _ => None,
    }
}

/// The pieces of a quantity string: sign, the numeric text (`value`), integer digits without
/// leading zeros (`num`), fraction digits (`denom`) and suffix; apimachinery's
/// `parseQuantityString`, byte for byte.
struct Split<'a> {
    positive: bool,
    value: &'a [u8],
    num: &'a [u8],
    denom: &'a [u8],
    suffix: &'a [u8],
}

fn split_quantity(s: &[u8]) -> Option<Split<'_>> {
    let end = s.len();
    let mut out = Split { positive: true, value: b"0", num: b"0", denom: b"", suffix: b"" };
    let mut pos = 0;
    match s.first() {
        Some(b'-') => {
            out.positive = false;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    while pos < end && s[pos] == b'0' {
        pos += 1;
    }
    if pos >= end {
        return Some(out); // only zeros: num and value are "0"
    }
    let start = pos;
    while pos < end && s[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos >= end {
        out.num = &s[start..];
        out.value = s;
        return Some(out);
    }
    if pos > start {
        out.num = &s[start..pos];
    }
    if s[pos] == b'.' {
        pos += 1;
        let start = pos;
        while pos < end && s[pos].is_ascii_digit() {
            pos += 1;
        }
        out.denom = &s[start..pos];
        if pos >= end {
            out.value = s;
            return Some(out);
        }
    }
    out.value = &s[..pos];
    let suffix_start = pos;
    while pos < end && b"eEinumkKMGTP".contains(&s[pos]) {
        pos += 1;
    }
    if pos < end && matches!(s[pos], b'-' | b'+') {
        pos += 1;
    }
    while pos < end && s[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < end {
        return None; // ErrFormatWrong
    }
    out.suffix = &s[suffix_start..];
    Some(out)
}

/// apimachinery's `ParseQuantity`, down to which representation it picks.
fn parse_quantity(s: &str) -> Option<Amount> {
    if s.is_empty() {
        return None;
    }
    let split = split_quantity(s.as_bytes())?;
    let (base, exponent, binary) = interpret_suffix(split.suffix)?;
    let digits = (split.num.len() + split.denom.len()) as i32;

    // The int64 fast path, taken when the digits surely fit.
    let (precision, mut scale, mantissa) = if binary {
        if split.denom.is_empty() {
            (15 - split.num.len() as i32 - exponent * 3 / 10 - 1, 0i32, 1i64 << exponent)
        } else {
            (-1, 0, 1)
        }
    } else {
        (18 - digits, exponent, 1)
    };
    if precision >= 0 {
        scale = scale.wrapping_sub(split.denom.len() as i32);
        if scale >= -9 {
            let shifted = [split.num, split.denom].concat();
            let value: i64 = std::str::from_utf8(&shifted).ok()?.parse().ok()?;
            if let Some(result) = value.checked_mul(mantissa) {
                let value = if split.positive { result } else { -result };
                return Some(Amount::Int { value, scale });
            }
        }
    }

    // The inf.Dec path: exact decimal, rounded up to nanos, BinarySI capped at MaxInt64.
    let value = std::str::from_utf8(split.value).ok()?;
    let (int_part, frac_part) = value.split_once('.').unwrap_or((value, ""));
    let int_part = int_part.trim_start_matches(['+', '-']);
    if int_part.is_empty() && frac_part.is_empty() {
        return None; // ErrNumeric: no digits
    }
    let mut unscaled: i128 = format!("{int_part}{frac_part}").parse().ok()?;
    let mut scale = frac_part.len() as i32;
    if base == 10 {
        scale = scale.wrapping_add(exponent.wrapping_neg());
    } else {
        unscaled = unscaled.checked_mul(1i128 << exponent)?;
    }
    if unscaled != 0 {
        unscaled = round_up_to_nanos(unscaled, scale)?;
        scale = 9;
        if binary && unscaled > i128::from(i64::MAX) * 1_000_000_000 {
            unscaled = i128::from(i64::MAX);
            scale = 0;
        }
    }
    Some(Amount::Dec { unscaled: if split.positive { unscaled } else { -unscaled }, scale })
}

/// A non-negative `unscaled * 10^-scale` re-expressed with 9 decimal places, rounding up.
fn round_up_to_nanos(unscaled: i128, scale: i32) -> Option<i128> {
    let shift = i64::from(scale) - 9;
    if shift <= 0 {
        return unscaled.checked_mul(10i128.checked_pow(u32::try_from(-shift).ok()?)?);
    }
    let Some(divisor) = u32::try_from(shift).ok().and_then(|s| 10i128.checked_pow(s)) else {
        return Some(1); // below one nano and not zero
    };
    let quotient = unscaled / divisor;
    Some(if unscaled % divisor != 0 { quotient + 1 } else { quotient })
}

impl Amount {
    /// `ScaledValue(scale)`: 0 is `Value()`, -3 is `MilliValue()`.
    fn scaled_value(&self, scale: i32) -> i64 {
        match *self {
            Amount::Int { value, scale: own } => {
                if own < scale {
                    negative_scale(value, scale.wrapping_sub(own))
                } else {
                    positive_scale(value, own.wrapping_sub(scale))
                }
            }
            Amount::Dec { unscaled, scale: own } => dec_scaled_value(unscaled, own, -scale),
        }
    }
}

/// `negativeScaleInt64`: divides by `10^scale`, rounding away from zero.
fn negative_scale(base: i64, scale: i32) -> i64 {
    let mut value = base;
    let mut fraction = false;
    for _ in 0..scale {
        fraction |= value % 10 != 0;
        value /= 10;
        if value == 0 {
            return match (fraction, base > 0) {
                (false, _) => 0,
                (true, true) => 1,
                (true, false) => -1,
            };
        }
    }
    match (fraction, base > 0) {
        (false, _) => value,
        (true, true) => value + 1,
        (true, false) => value - 1,
    }
}

/// `positiveScaleInt64`: multiplies by `10^scale`. The fixed steps keep the wrapped product on
/// overflow, the step-by-ten loop gives 0, exactly as apimachinery.
fn positive_scale(base: i64, scale: i32) -> i64 {
    let wrapping = |factor: i64| match base {
        0 | 1 => base * factor,
        i64::MIN => 0,
        _ => base.wrapping_mul(factor),
    };
    match scale {
        0 => base,
        1 => wrapping(10),
        2 => wrapping(100),
        3 => wrapping(1000),
        6 => wrapping(1_000_000),
        9 => wrapping(1_000_000_000),
        _ => {
            let mut value = base;
            for _ in 0..scale.max(0) {
                match value.checked_mul(10) {
                    Some(0) | None => return 0,
                    Some(v) => value = v,
                }
            }
            value
        }
    }
}

/// big.Int's `Int64()`: the low 64 bits of the magnitude, with the sign applied.
fn go_int64(v: i128) -> i64 {
    let low = v.unsigned_abs() as u64 as i64;
    if v < 0 { low.wrapping_neg() } else { low }
}

/// apimachinery's `scaledValue(unscaled, scale, newScale)` for an inf.Dec amount.
fn dec_scaled_value(unscaled: i128, scale: i32, new_scale: i32) -> i64 {
    let dif = i64::from(scale) - i64::from(new_scale);
    if dif == 0 {
        return go_int64(unscaled);
    }
    if dif < 0 {
        // int64(math.Pow10(n)) is exact up to 10^18; beyond, amd64 yields MinInt64.
        let factor = if -dif <= 18 { 10i64.pow((-dif) as u32) } else { i64::MIN };
        return go_int64(unscaled).wrapping_mul(factor);
    }
    if unscaled < i128::from(i64::MAX) && dif < 19 {
        let (value, divisor) = (go_int64(unscaled), 10i64.pow(dif as u32));
        let result = value / divisor;
        return if value % divisor != 0 { result + 1 } else { result };
    }
    // big.Int DivMod is Euclidean: the quotient rounds down and the remainder is non-negative.
    let (quotient, inexact) = match u32::try_from(dif).ok().and_then(|d| 10i128.checked_pow(d)) {
        Some(divisor) => (unscaled.div_euclid(divisor), unscaled.rem_euclid(divisor) != 0),
        None => (if unscaled < 0 { -1 } else { 0 }, unscaled != 0),
    };
    go_int64(quotient).wrapping_add(i64::from(inexact))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitised_like_upstream() {
        let cases = [
            ("camelCase", "label_camel_case"),
            ("fooBAR", "label_foo_bar"),
            ("ABCDef", "label_abcdef"),
            ("app.kubernetes.io/name", "label_app_kubernetes_io_name"),
            ("_app5", "label__app5"),
            ("$app4", "label__app4"),
            ("0_app3", "label_0_app3"),
            ("", "label_"),
            ("é-x", "label___x"),
        ];
        for (key, want) in cases {
            assert_eq!(sanitize_label_name("label", key), want, "key {key:?}");
        }
    }

    #[test]
    fn clashing_names_get_conflict_suffixes_in_sorted_key_order() {
        let names = label_names("label", ["conflicting-label1", "conflicting.label1", "conflicting_label1"]);
        assert_eq!(
            names,
            [
                "label_conflicting_label1_conflict1",
                "label_conflicting_label1_conflict2",
                "label_conflicting_label1_conflict3"
            ]
        );
        let names = label_names("label", ["A.b.conflict1", "a-b", "a.b"]);
        assert_eq!(names, ["label_a_b_conflict1", "label_a_b_conflict2", "label_a_b_conflict3"]);
        // A generated suffix that equals a later key's own name pushes that key on.
        let names = label_names("annotation", ["x-y", "x_y", "x_y_conflict1"]);
        assert_eq!(
            names,
            [
                "annotation_x_y_conflict1_conflict1",
                "annotation_x_y_conflict2",
                "annotation_x_y_conflict1_conflict2"
            ]
        );
    }

    #[test]
    fn go_zero_timestamps_count_as_unset() {
        let zero: Time = serde_json::from_str("\"0001-01-01T00:00:00Z\"").expect("time");
        let real: Time = serde_json::from_str("\"2017-08-01T06:30:18Z\"").expect("time");
        assert!(is_go_zero(&zero));
        assert!(!is_go_zero(&real));
        assert_eq!(unix_seconds(&real), 1_501_569_018.0);
    }

    #[test]
    fn allowlist_matches_star_exact_and_globs() {
        let allow = KeyAllowlist::new(&["app".into(), "team-*".into()]);
        assert!(allow.allows("app"));
        assert!(allow.allows("team-a"));
        assert!(!allow.allows("xteam-a"));
        assert!(!allow.allows("apps"));
        assert!(KeyAllowlist::new(&["*".into()]).allows("anything"));
        // `*` after the first entry is ignored.
        assert!(!KeyAllowlist::new(&["app".into(), "*".into()]).allows("other"));
    }

    fn q(s: &str) -> Option<f64> {
        quantity_to_f64(&Quantity(s.into()))
    }

    #[test]
    fn quantities_read_like_upstream_convert_value_to_float64() {
        // Expected values printed by upstream's convertValueToFloat64 (apimachinery v0.36.3).
        let cases: &[(&str, f64)] = &[
            ("0", 0.0),
            ("1", 1.0),
            ("100m", 0.1),
            ("250m", 0.25),
            ("1.5", 1.5),
            ("0.5", 0.5),
            ("1e3", 1000.0),
            ("1E3", 1000.0),
            ("1e+3", 1000.0),
            ("12e6", 1.2e7),
            ("1k", 1000.0),
            ("1Ki", 1024.0),
            ("10Ki", 10240.0),
            ("1Mi", 1048576.0),
            ("1Gi", 1073741824.0),
            ("16Gi", 17179869184.0),
            ("32843800Ki", 33632051200.0),
            ("1Pi", 1125899906842624.0),
            ("1.5Gi", 1610612736.0),
            ("0.5Gi", 536870912.0),
            ("110", 110.0),
            ("123.456789", 123.457),
            ("1.23456789012345678901", 1.235),
            ("3.999999999999999999", 4.0),
            ("1.0", 1.0),
            ("1.000", 1.0),
            ("+5", 5.0),
            (".5", 0.5),
            ("5.", 5.0),
            (".", 0.0),
            ("+", 0.0),
            ("Ki", 0.0),
            ("  3  ", 3.0),
            // Rounded up to the milli, away from zero.
            ("1m", 0.001),
            ("999m", 0.999),
            ("1001m", 1.001),
            ("0.5m", 0.001),
            ("1.5m", 0.002),
            ("0.0001", 0.001),
            ("1u", 0.001),
            ("1n", 0.001),
            ("0.1n", 0.001),
            ("0.000000001", 0.001),
            ("0.0000000001", 0.001),
            ("1e-3", 0.001),
            ("5e-4", 0.001),
            ("1e-10", 0.001),
            ("-1", -1.0),
            ("-1.5", -1.5),
            ("-100m", -0.1),
            ("-1.5Gi", -1610612736.0),
            // Large values switch from MilliValue to Value, then int64 overflow shows.
            ("9223372036854774", 9.223372036854774e15),
            ("9223372036854775", 9.223372036854774e15),
            ("9223372036854776", 9.223372036854776e15),
            ("9223372036854775.5", 9.223372036854776e15),
            ("9.2233720368547e15", 9.2233720368547e15),
            ("1E", 1e18),
            ("1e18", 1e18),
            ("9E", 9e18),
            ("1Ei", 1.152921504606847e18),
            ("7Ei", 8.070450532247929e18),
            ("8Ei", 9.223372036854776e18),
            ("100Ei", 9.223372036854776e18),
            ("9223372036854775807", 9.223372036854776e18),
            ("10E", 0.0),
            ("1e19", 0.0),
            ("1e20", 0.0),
            ("1.5e100", 0.0),
            ("9223372036854775808", 0.0),
            ("12345678901234567890", 4.807115922877859e15),
            ("1234567890123456789012345", 1.0962463713375599e18),
        ];
        for (s, want) in cases {
            assert_eq!(q(s), Some(*want), "quantity {s:?}");
        }
    }

    #[test]
    fn malformed_quantities_are_none() {
        for s in ["", "abc", "1 Gi", "1gi", "1Gi1", "1e", "1.2.3", "--1", "1Ki2", "é"] {
            assert_eq!(q(s), None, "quantity {s:?}");
        }
    }

    #[test]
    fn resource_names_sanitise_without_snake_case() {
        assert_eq!(sanitize_resource_name("nvidia.com/gpu"), "nvidia_com_gpu");
        assert_eq!(sanitize_resource_name("hugepages-2Mi"), "hugepages_2Mi");
        assert_eq!(sanitize_resource_name("é/x"), "__x");
    }

    #[test]
    fn extended_resource_names_follow_upstream() {
        for name in ["nvidia.com/gpu", "example.com/Foo_bar.1", "a.b/c"] {
            assert!(is_extended_resource_name(name), "{name}");
        }
        for name in [
            "cpu",
            "hugepages-2Mi",
            "kubernetes.io/x",
            "foo.kubernetes.io/x",
            "requests.x/y",
            "Example.com/gpu",
            "a/b/c",
            "nvidia.com/",
            "nvidia.com/-gpu",
            "x_y.com/gpu",
        ] {
            assert!(!is_extended_resource_name(name), "{name}");
        }
    }
}
#[cfg(test)]
mod apimachinery_quantity_vectors {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.to_string())
    }

    /// `(input, Value(), convertValueToFloat64)`, printed by apimachinery v0.36.3 itself, overflow
    /// wrap-arounds included.
    const APIMACHINERY_VECTORS: &[(&str, i64, f64)] = &[
        ("100m", 1, 0.1),
        ("250m", 1, 0.25),
        ("1", 1, 1.0),
        ("1.5", 2, 1.5),
        ("1k", 1000, 1000.0),
        ("1e3", 1000, 1000.0),
        ("1E3", 1000, 1000.0),
        ("1Ki", 1024, 1024.0),
        ("1Gi", 1073741824, 1.073741824e+09),
        ("1.5Gi", 1610612736, 1.610612736e+09),
        ("0.5Gi", 536870912, 5.36870912e+08),
        ("0.1Ki", 103, 102.4),
        ("123Mi", 128974848, 1.28974848e+08),
        ("129e6", 129000000, 1.29e+08),
        ("1n", 1, 0.001),
        ("1.5n", 1, 0.001),
        ("1u", 1, 0.001),
        ("0", 0, 0.0),
        ("-", 0, 0.0),
        ("+1", 1, 1.0),
        ("-100m", -1, -0.1),
        ("-1.5", -2, -1.5),
        (".5", 1, 0.5),
        ("1.", 1, 1.0),
        (" 2 ", 2, 2.0),
        ("1001m", 2, 1.001),
        ("10T", 10000000000000, 1.0e+13),
        ("1E", 1000000000000000000, 1.0e+18),
        ("5e18", 5000000000000000000, 5.0e+18),
        ("100E", 0, 0.0),
        ("9.3e18", 0, 0.0),
        ("1e100", 0, 0.0),
        ("1e-300", 1, 0.001),
        ("-1e-10", 1, 0.001),
        ("1.23456789012345678901", 2, 1.235),
        ("999999999999999999", 999999999999999999, 1.0e+18),
        ("9999999999999999999", -8446744073709551617, 1.864712049423023e+15),
        ("12345678901234567890123", 4807115922877859019, 4.807115922877859e+18),
        ("2Ei", 2305843009213693952, 2.305843009213694e+18),
        ("8Ei", 9223372036854775807, 9.223372036854776e+18),
        ("9Ei", 9223372036854775807, 9.223372036854776e+18),
        ("1.5Ei", 1729382256910270464, 1.7293822569102705e+18),
        ("1e4294967296", 1, 1.0),
    ];

    #[test]
    fn quantities_match_apimachinery_vectors() {
        for &(s, value, float) in APIMACHINERY_VECTORS {
            assert_eq!(quantity_value(&q(s)), Some(value), "Value() of {s:?}");
            assert_eq!(quantity_to_f64(&q(s)), Some(float), "float of {s:?}");
        }
    }

    #[test]
    fn malformed_quantities_are_none() {
        for s in ["", "abc", "1.5.3", "1Zi", "1e", "1ee3", "1Gi ", "1 Gi", "--1", "0x10", "1e1.5"] {
            let got = quantity_to_f64(&q(s));
            // `"1Gi "` is trimmed first, like UnmarshalJSON does.
            if s == "1Gi " {
                assert_eq!(got, Some(1073741824.0));
            } else {
                assert_eq!(got, None, "quantity {s:?}");
            }
        }
    }

    #[test]
    fn resource_names_classify_like_upstream() {
        assert_eq!(sanitize_resource_name("nvidia.com/gpu"), "nvidia_com_gpu");
        assert_eq!(sanitize_resource_name("hugepages-2Mi"), "hugepages_2Mi");
        assert!(is_huge_page_resource_name("hugepages-1Gi"));
        assert!(is_attachable_volume_resource_name("attachable-volumes-aws-ebs"));
        assert!(is_extended_resource_name("nvidia.com/gpu"));
        assert!(is_extended_resource_name("example.com/Foo_bar"));
        for name in [
            "cpu",
            "pods",
            "kubernetes.io/x",
            "requests.example.com/x",
            "Example.com/x",
            "a/b/c",
            "x.com/-y",
            "/x",
        ] {
            assert!(!is_extended_resource_name(name), "{name}");
        }
    }
}

// --- group B shared shapes ---

/// A family with a single sample of value 1 that carries only the default labels, as upstream's
/// `kube_<kind>_info` families without labels of their own.
pub fn info_family<K: 'static>(name: &'static str, help: &'static str, stability: Stability) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, |_: &K, s| s.value(1.0))
}

/// `kube_<kind>_metadata_resource_version`: `metadata.resourceVersion` read as upstream's
/// `resourceVersionMetric` reads it (`strconv.ParseFloat`); no sample when it does not parse.
pub fn resource_version_family<K: HasMeta + 'static>(
    name: &'static str,
    help: &'static str,
    stability: Stability,
) -> FamilyGen<K> {
    FamilyGen::gauge(name, help, stability, |o: &K, s| {
        if let Some(v) = o.meta().resource_version.as_deref().and_then(parse_go_float) {
            s.value(v)
        }
    })
}

/// One sample per entry of a resource list: `resource` (the raw name) followed by `labels`, with
/// the quantity read as upstream's `convertValueToFloat64`. Upstream walks a Go map, so its order
/// is random; here it is by resource name. A quantity upstream could not have decoded (it would
/// have dropped the whole object) skips only its own sample.
pub fn write_quantities(
    s: &mut Sink<'_>,
    list: Option<&BTreeMap<String, Quantity>>,
    labels: &[(&'static str, &str)],
) {
    for (resource, quantity) in list.into_iter().flatten() {
        if let Some(value) = quantity_to_f64(quantity) {
            s.sample(std::iter::once(("resource", resource.as_str())).chain(labels.iter().copied()), value);
        }
    }
}

/// Go's `strconv.ParseFloat(s, 64)` where it succeeds, `None` where it returns an error:
/// decimal and hexadecimal (`0x1p-2`) forms, `_` digit separators, `inf`/`infinity`/`nan` in any
/// case (only infinities may be signed), and out-of-range values (ErrRange) as `None`.
pub fn parse_go_float(s: &str) -> Option<f64> {
    let (negative, body) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case("inf") || body.eq_ignore_ascii_case("infinity") {
        return Some(if negative { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    if body.eq_ignore_ascii_case("nan") {
        return (body.len() == s.len()).then_some(f64::NAN);
    }
    if s.contains('_') && !go_underscore_ok(s) {
        return None;
    }
    let b = body.as_bytes();
    if b.len() > 2 && b[0] == b'0' && b[1].eq_ignore_ascii_case(&b'x') {
        return parse_go_hex_float(&body[2..], negative);
    }
    // What is left is a decimal literal; Rust's parser is correctly rounded like Go's, and its
    // grammar is Go's once separators are gone and the special words are handled above.
    let cleaned = body.replace('_', "");
    if cleaned.starts_with(['+', '-'])
        || cleaned.bytes().any(|c| c.is_ascii_alphabetic() && c != b'e' && c != b'E')
    {
        return None;
    }
    let v: f64 = cleaned.parse().ok()?;
    // ParseFloat reports ErrRange (and upstream writes no sample) when the value overflows.
    (!v.is_infinite()).then_some(if negative { -v } else { v })
}

/// strconv's `underscoreOK`: `_` only between digits (or after a base prefix).
fn go_underscore_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s).as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &s[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// The hexadecimal half of strconv's `readFloat` + `atofHex` (after `0x`): up to 16 mantissa
/// digits with a sticky bit for the rest, a mandatory `p` exponent, round half to even.
fn parse_go_hex_float(s: &str, negative: bool) -> Option<f64> {
    const MANT_BITS: u32 = 52;
    const BIAS: i64 = -1023;
    const MAX_EXP: i64 = (1 << 11) + BIAS - 2;
    const MIN_EXP: i64 = BIAS + 1;
    let b = s.as_bytes();
    let (mut mantissa, mut trunc, mut saw_dot, mut saw_digits) = (0u64, false, false, false);
    let (mut nd, mut nd_mant, mut dp, mut i) = (0i64, 0i64, 0i64, 0usize);
    while i < b.len() {
        let c = b[i];
        match c {
            b'_' => {}
            b'.' if !saw_dot => {
                saw_dot = true;
                dp = nd;
            }
            b'0' if nd == 0 => {
                // Leading zeros only move the point.
                saw_digits = true;
                dp -= 1;
            }
            _ if c.is_ascii_hexdigit() => {
                saw_digits = true;
                nd += 1;
                if nd_mant < 16 {
                    mantissa = mantissa * 16 + u64::from((c as char).to_digit(16).unwrap_or(0));
                    nd_mant += 1;
                } else if c != b'0' {
                    trunc = true;
                }
            }
            _ => break,
        }
        i += 1;
    }
    if !saw_digits {
        return None;
    }
    if !saw_dot {
        dp = nd;
    }
    dp *= 4;
    nd_mant *= 4;
    // The binary exponent is mandatory.
    if !b.get(i)?.eq_ignore_ascii_case(&b'p') {
        return None;
    }
    i += 1;
    let esign = match b.get(i)? {
        b'+' => {
            i += 1;
            1
        }
        b'-' => {
            i += 1;
            -1
        }
        _ => 1,
    };
    if !b.get(i)?.is_ascii_digit() {
        return None;
    }
    let mut e = 0i64;
    while let Some(&c) = b.get(i) {
        if c.is_ascii_digit() {
            if e < 10000 {
                e = e * 10 + i64::from(c - b'0');
            }
        } else if c != b'_' {
            return None; // trailing garbage
        }
        i += 1;
    }
    dp += e * esign;
    let mut exp = if mantissa != 0 { dp - nd_mant } else { 0 };

    exp += i64::from(MANT_BITS);
    while mantissa != 0 && mantissa >> (MANT_BITS + 2) == 0 {
        mantissa <<= 1;
        exp -= 1;
    }
    if trunc {
        mantissa |= 1;
    }
    while mantissa >> (1 + MANT_BITS + 2) != 0 {
        mantissa = (mantissa >> 1) | (mantissa & 1);
        exp += 1;
    }
    while mantissa > 1 && exp < MIN_EXP - 2 {
        mantissa = (mantissa >> 1) | (mantissa & 1);
        exp += 1;
    }
    let mut round = mantissa & 3;
    mantissa >>= 2;
    round |= mantissa & 1;
    exp += 2;
    if round == 3 {
        mantissa += 1;
        if mantissa == 1 << (1 + MANT_BITS) {
            mantissa >>= 1;
            exp += 1;
        }
    }
    if mantissa >> MANT_BITS == 0 {
        exp = BIAS;
    }
    if exp > MAX_EXP {
        return None; // ErrRange
    }
    let mut bits = mantissa & ((1 << MANT_BITS) - 1);
    bits |= (((exp - BIAS) & ((1 << 11) - 1)) as u64) << MANT_BITS;
    if negative {
        bits |= 1 << 63;
    }
    Some(f64::from_bits(bits))
}

#[cfg(test)]
mod group_b_tests {
    use super::*;

    #[test]
    fn parse_go_float_matches_strconv_vectors() {
        // `(input, ParseFloat result or None on error)`, printed by Go 1.26 strconv.ParseFloat.
        let cases: &[(&str, Option<f64>)] = &[
            ("", None),
            ("0", Some(0.0)),
            ("1", Some(1.0)),
            ("123456", Some(123456.0)),
            ("987654321", Some(9.87654321e+08)),
            ("18446744073709551616", Some(1.8446744073709552e+19)),
            ("1.5", Some(1.5)),
            ("-2", Some(-2.0)),
            ("+3", Some(3.0)),
            (".5", Some(0.5)),
            ("5.", Some(5.0)),
            (".", None),
            ("1e3", Some(1000.0)),
            ("1E3", Some(1000.0)),
            ("1e", None),
            ("1e+", None),
            ("1e-3", Some(0.001)),
            ("1_000", Some(1000.0)),
            ("1__0", None),
            ("_1", None),
            ("1_", None),
            ("1_.5", None),
            ("1._5", None),
            ("1_23.50_0_0e+1_2", Some(1.235e+14)),
            ("123.5e+_12", None),
            ("0x10", None),
            ("0x1p-2", Some(0.25)),
            ("0X1.8P1", Some(3.0)),
            ("0x1_0p0", Some(16.0)),
            ("0x_1p0", Some(1.0)),
            ("0x1p", None),
            ("0x", None),
            ("0x.8p1", Some(1.0)),
            ("0x1.fffffffffffff8p1023", None),
            ("0x1p-1074", Some(5e-324)),
            ("0x1p-1075", Some(0.0)),
            ("0x1.0000000000000000001p0", Some(1.0)),
            ("0x1.00000000000008p0", Some(1.0)),
            ("0x1.00000000000018p0", Some(1.0000000000000004)),
            ("inf", Some(f64::INFINITY)),
            ("Inf", Some(f64::INFINITY)),
            ("+inf", Some(f64::INFINITY)),
            ("-Infinity", Some(f64::NEG_INFINITY)),
            ("infinity", Some(f64::INFINITY)),
            ("infin", None),
            ("+nan", None),
            ("-nan", None),
            ("1e308", Some(1e+308)),
            ("1e309", None),
            ("-1e309", None),
            ("1e-400", Some(0.0)),
            ("0e99999", Some(0.0)),
            ("1e99999", None),
            (" 1", None),
            ("1 ", None),
            ("abc", None),
            ("12a", None),
            ("0.1", Some(0.1)),
            ("9007199254740993", Some(9.007199254740992e+15)),
            ("1.7976931348623157e308", Some(1.7976931348623157e+308)),
            ("1.7976931348623159e308", None),
            ("4.9e-324", Some(5e-324)),
            ("2e-324", Some(0.0)),
        ];
        for &(s, want) in cases {
            assert_eq!(parse_go_float(s), want, "ParseFloat({s:?})");
        }
        for s in ["nan", "NaN"] {
            assert!(parse_go_float(s).is_some_and(f64::is_nan), "{s}");
        }
    }

    #[test]
    fn quantities_write_one_sample_per_parsable_entry_in_name_order() {
        let list: BTreeMap<String, Quantity> = [("memory", "1Gi"), ("cpu", "250m"), ("bad", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
            .collect();
        let mut buf = Vec::new();
        write_quantities(&mut Sink::new(&mut buf, "kube_x", b"", b""), Some(&list), &[("type", "hard")]);
        write_quantities(&mut Sink::new(&mut buf, "kube_x", b"", b""), None, &[]);
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            "kube_x{resource=\"cpu\",type=\"hard\"} 0.25\nkube_x{resource=\"memory\",type=\"hard\"} 1.073741824e+09\n"
        );
    }
}

// --- group C shared shapes ---
// Shapes of the storage, networking, certificates, RBAC and admissionregistration kinds. Paths are
// spelled out in full so this section needs no imports of its own.

/// Every entry of `map` as a `prefix_*` label in one sample of value 1, with no allowlist
/// (upstream's `kubeMapToPrometheusLabels`); the sample is written even when the map is empty.
pub fn write_map_labels(s: &mut Sink<'_>, map: Option<&BTreeMap<String, String>>, prefix: &str) {
    let entries = map.into_iter().flatten();
    let names = label_names(prefix, entries.clone().map(|(k, _)| k.as_str()));
    s.sample(names.iter().zip(entries.map(|(_, v)| v.as_str())), 1.0);
}

/// The five families upstream's clusterrole, clusterrolebinding, role and rolebinding stores
/// share, as `(name, help)` pairs in their order: annotations, labels, info, created and
/// metadata_resource_version, all ALPHA. `info` writes the info sample.
pub fn rbac_families<K: HasMeta + 'static>(
    families: [(&'static str, &'static str); 5],
    options: &super::FamilyOptions,
    info: impl Fn(&K, &mut Sink<'_>) + Send + Sync + 'static,
) -> Vec<FamilyGen<K>> {
    let [annotations, labels, info_family, created, resource_version] = families;
    vec![
        annotations_family(annotations.0, annotations.1, Stability::Alpha, options.annotations.clone()),
        labels_family(labels.0, labels.1, Stability::Alpha, options.labels.clone()),
        FamilyGen::gauge(info_family.0, info_family.1, Stability::Alpha, info),
        created_family(created.0, created.1, Stability::Alpha),
        resource_version_family(resource_version.0, resource_version.1, Stability::Alpha),
    ]
}

/// The info sample of a (cluster) role binding: the kind and name of its roleRef.
pub fn write_role_ref(s: &mut Sink<'_>, role_ref: Option<&k8s_openapi::api::rbac::v1::RoleRef>) {
    let (kind, name) = role_ref.map_or(("", ""), |r| (r.kind.as_str(), r.name.as_str()));
    s.sample([("roleref_kind", kind), ("roleref_name", name)], 1.0);
}

/// The `spec` of a mutating or validating admission policy, as far as metrics read it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionPolicySpec {
    /// The kind of the policy's parameter resource.
    pub param_kind: Option<k8s_openapi::api::admissionregistration::v1::ParamKind>,
    /// `Fail` or `Ignore`.
    pub failure_policy: Option<String>,
    /// `Never` or `IfNeeded`; mutating policies only.
    pub reinvocation_policy: Option<String>,
}

/// The `spec` of a mutating or validating admission policy binding, as far as metrics read it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionPolicyBindingSpec {
    /// The bound policy.
    pub policy_name: Option<String>,
    /// The parameter resource.
    pub param_ref: Option<k8s_openapi::api::admissionregistration::v1::ParamRef>,
    /// `Deny`, `Warn`, `Audit`; validating bindings only.
    pub validation_actions: Option<Vec<String>>,
}

/// One entry of a mutating or validating webhook configuration's `webhooks`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Webhook {
    /// The webhook's name.
    pub name: Option<String>,
    /// How the API server reaches it.
    pub client_config: Option<WebhookClientConfig>,
}

/// A webhook's `clientConfig`, as far as metrics read it.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WebhookClientConfig {
    /// The in-cluster service, when the webhook is not called by URL.
    pub service: Option<k8s_openapi::api::admissionregistration::v1::ServiceReference>,
}

/// The info sample of an admission policy: its parameter kind and failure policy, and for
/// mutating policies (`reinvocation`) the reinvocation policy. Unset fields are `""`.
pub fn write_admission_policy_info(s: &mut Sink<'_>, spec: Option<&AdmissionPolicySpec>, reinvocation: bool) {
    let param_kind = spec.and_then(|p| p.param_kind.as_ref());
    let labels = [
        ("param_api_version", param_kind.and_then(|k| k.api_version.as_deref()).unwrap_or_default()),
        ("param_kind", param_kind.and_then(|k| k.kind.as_deref()).unwrap_or_default()),
        ("failure_policy", spec.and_then(|p| p.failure_policy.as_deref()).unwrap_or_default()),
        ("reinvocation_policy", spec.and_then(|p| p.reinvocation_policy.as_deref()).unwrap_or_default()),
    ];
    s.sample(labels[..if reinvocation { 4 } else { 3 }].iter().copied(), 1.0);
}

/// The info sample of an admission policy binding: policy name and parameter reference.
pub fn write_admission_binding_info(s: &mut Sink<'_>, spec: Option<&AdmissionPolicyBindingSpec>) {
    let param_ref = spec.and_then(|b| b.param_ref.as_ref());
    let ref_field = |f: fn(&k8s_openapi::api::admissionregistration::v1::ParamRef) -> Option<&str>| {
        param_ref.and_then(f).unwrap_or_default()
    };
    s.sample(
        [
            ("policy_name", spec.and_then(|b| b.policy_name.as_deref()).unwrap_or_default()),
            ("param_name", ref_field(|r| r.name.as_deref())),
            ("param_namespace", ref_field(|r| r.namespace.as_deref())),
            ("param_not_found_action", ref_field(|r| r.parameter_not_found_action.as_deref())),
        ],
        1.0,
    );
}

/// The four families of upstream's mutating and validating webhook configuration stores, as
/// `(name, help)` pairs in their order: info, created, metadata_resource_version and
/// webhook_clientconfig_service, all ALPHA. `webhooks` lists the configuration's webhooks.
pub fn webhook_configuration_families<K: HasMeta + 'static>(
    families: [(&'static str, &'static str); 4],
    webhooks: fn(&K) -> &[Webhook],
) -> Vec<FamilyGen<K>> {
    let [info, created, resource_version, service] = families;
    vec![
        FamilyGen::gauge(info.0, info.1, Stability::Alpha, |_: &K, s| s.value(1.0)),
        created_family(created.0, created.1, Stability::Alpha),
        resource_version_family(resource_version.0, resource_version.1, Stability::Alpha),
        FamilyGen::gauge(service.0, service.1, Stability::Alpha, move |c: &K, s| {
            for w in webhooks(c) {
                let service = w.client_config.as_ref().and_then(|c| c.service.as_ref());
                s.sample(
                    [
                        ("webhook_name", w.name.as_deref().unwrap_or_default()),
                        ("service_name", service.map_or("", |r| r.name.as_str())),
                        ("service_namespace", service.map_or("", |r| r.namespace.as_str())),
                    ],
                    1.0,
                );
            }
        }),
    ]
}

#[cfg(test)]
mod group_c_tests {
    use super::*;

    #[test]
    fn floats_parse_like_go_strconv_for_resource_versions() {
        // Printed by strconv.ParseFloat(s, 64) of Go 1.26.
        let ok: &[(&str, f64)] = &[
            ("12345", 12345.0),
            ("00012", 12.0),
            ("1_000", 1000.0),
            ("1.5_5", 1.55),
            ("+Inf", f64::INFINITY),
            ("inf", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("1e-400", 0.0),
            ("1.5", 1.5),
            (".5", 0.5),
            ("5.", 5.0),
            ("1E5", 100000.0),
            ("9007199254740993", 9007199254740992.0),
            ("18446744073709551617", 1.8446744073709552e19),
        ];
        for &(s, want) in ok {
            assert_eq!(parse_go_float(s), Some(want), "{s:?}");
        }
        assert!(parse_go_float("NaN").is_some_and(f64::is_nan));
        assert!(parse_go_float("nan").is_some_and(f64::is_nan));
        for s in ["", "+nan", "1e400", " 1", "abc", "1e", "0x10", "1__0", "_1", "1_", "infinit", "infx", "+"]
        {
            assert_eq!(parse_go_float(s), None, "{s:?}");
        }
    }

    #[test]
    fn map_labels_take_every_key_and_always_write_a_sample() {
        let render = |map: Option<&BTreeMap<String, String>>| {
            let mut buf = Vec::new();
            write_map_labels(&mut Sink::new(&mut buf, "m", b"", b""), map, "metadata");
            String::from_utf8(buf).expect("utf8")
        };
        assert_eq!(render(None), "m 1\n");
        let map: BTreeMap<String, String> =
            [("b.c", "2"), ("a", "1"), ("b-c", "3")].map(|(k, v)| (k.to_string(), v.to_string())).into();
        assert_eq!(
            render(Some(&map)),
            "m{metadata_a=\"1\",metadata_b_c_conflict1=\"3\",metadata_b_c_conflict2=\"2\"} 1\n"
        );
    }
}

// --- grpa (cronjobs, jobs, horizontalpodautoscalers, poddisruptionbudgets,
// replicationcontrollers) shared shapes ---

/// `Quantity.AsApproximateFloat64()`: the parsed amount's digits times a power of ten, in float64
/// arithmetic (so `"0.1"` is `1 * 10^-1`, and a value that overflows int64 elsewhere still reads
/// close to its decimal value). `None` when the string is not a quantity, or its exact digits need
/// more than 38 (see [`quantity_to_f64`]).
pub fn quantity_approximate_f64(q: &Quantity) -> Option<f64> {
    let (base, exponent) = match parse_quantity(q.0.trim())? {
        Amount::Int { value, scale } => (value as f64, scale),
        // inf.Dec's scale counts decimal places, so it is the negated exponent.
        Amount::Dec { unscaled, scale } => (unscaled as f64, scale.wrapping_neg()),
    };
    Some(if exponent == 0 { base } else { base * go_pow10(exponent) })
}

/// Go's `math.Pow10`: exact tables of powers of ten, multiplied for positive and divided for
/// negative exponents (this is not `powi`, whose rounding differs).
fn go_pow10(n: i32) -> f64 {
    const TAB: [f64; 32] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
        1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29, 1e30, 1e31,
    ];
    const POS32: [f64; 10] = [1e0, 1e32, 1e64, 1e96, 1e128, 1e160, 1e192, 1e224, 1e256, 1e288];
    const NEG32: [f64; 11] =
        [1e-0, 1e-32, 1e-64, 1e-96, 1e-128, 1e-160, 1e-192, 1e-224, 1e-256, 1e-288, 1e-320];
    match n {
        0..=308 => POS32[n as usize / 32] * TAB[n as usize % 32],
        -323..=-1 => NEG32[n.unsigned_abs() as usize / 32] / TAB[n.unsigned_abs() as usize % 32],
        _ if n > 0 => f64::INFINITY,
        _ => 0.0,
    }
}

#[cfg(test)]
mod grpa_shared_shapes {
    use super::*;

    #[test]
    fn approximate_floats_match_as_approximate_float64() {
        // (input, float64 bits) printed by apimachinery v0.36.3's AsApproximateFloat64; note
        // "0.7" is 7 * 10^-1 = 0.7000000000000001 there.
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("0.1", 4591870180066957722),
            ("0.05", 4587366580439587226),
            ("1.0", 4607182418800017408),
            ("100m", 4591870180066957722),
            ("1.5", 4609434218613702656),
            ("3", 4613937818241073152),
            ("1Ki", 4652218415073722368),
            ("1.5Gi", 4744542207434817536),
            ("1e3", 4652007308841189376),
            ("-0.25", 13821547256400052224),
            ("0.3333333333333333333", 4599676419433076181),
            ("12345678901234567890", 4892433759222981602),
            ("1n", 4472406533629990549),
            ("0.0000000001", 4472406533629990549),
            ("1.1", 4607632778762754458),
            ("2.2", 4612136378390124954),
            ("0.7", 4604480259023595111),
            ("123.456", 4638387860618067575),
            ("1e-7", 4502148214488346440),
            ("9.999", 4621818554639018099),
            ("1Ei", 4877398396442247168),
            ("8Ei", 4890909195324358656),
            ("1.5Ei", 4879650196255932416),
            ("1e100", 6103021453049119613),
            ("99999999999999999999999999", 4995809153217856309),
            ("0.000001", 4517329193108106637),
            ("5e-3", 4572414629676717179),
            ("250m", 4598175219545276416),
            ("1u", 4517329193108106637),
            ("33.3333333333", 4629888066921437484),
        ];
        for (s, bits) in cases {
            let got = quantity_approximate_f64(&Quantity((*s).into())).map(f64::to_bits);
            assert_eq!(got, Some(*bits), "{s:?}: {:?}", got.map(f64::from_bits));
        }
        assert_eq!(quantity_approximate_f64(&Quantity("abc".into())), None);
    }

    #[test]
    fn pow10_uses_go_tables() {
        assert_eq!(go_pow10(-1), 0.1);
        assert_eq!(go_pow10(-9), 1e-9);
        assert_eq!(go_pow10(22), 1e22);
        assert_eq!(go_pow10(309), f64::INFINITY);
        assert_eq!(go_pow10(-324), 0.0);
    }
}

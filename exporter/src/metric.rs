//! Metric families and the exposition bytes they render: headers, sample lines, label escaping
//! and value formatting, byte-compatible with upstream kube-state-metrics (reference §4).
//!
//! A family is data plus one closure that writes the samples of one object through a [`Sink`].
//! The sink prepends the kind's default labels (rendered once per object) and appends the
//! fleet-wide extra labels (e.g. `cluster`), so closures only name what is their own.

use std::fmt::Write as _;

/// The Prometheus metric type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// A value that goes up and down.
    Gauge,
    /// A monotonic counter (the name keeps its `_total`).
    Counter,
}

impl MetricType {
    /// The word written after `# TYPE <name>`.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        }
    }
}

/// Upstream's stability level; STABLE families get a `[STABLE] ` help prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stability {
    /// `[STABLE]` in the help text.
    Stable,
    /// No prefix (the docs call it EXPERIMENTAL).
    Alpha,
}

impl Stability {
    /// The name used by `statefleet-exporter families`.
    pub fn as_str(self) -> &'static str {
        match self {
            Stability::Stable => "STABLE",
            Stability::Alpha => "ALPHA",
        }
    }
}

type GenerateFn<K> = dyn Fn(&K, &mut Sink<'_>) + Send + Sync;

/// One metric family of kind `K`: its description and the closure that writes its samples.
pub struct FamilyGen<K> {
    /// Full metric name, e.g. `kube_pod_info`.
    pub name: &'static str,
    /// Help text without the stability or deprecation prefix.
    pub help: &'static str,
    /// Gauge or counter.
    pub metric_type: MetricType,
    /// Stability level as in upstream's code.
    pub stability: Stability,
    /// Only served when a `--metric-opt-in-list` entry matches the name.
    pub opt_in: bool,
    /// Upstream version that deprecated the family, if any.
    pub deprecated_since: Option<&'static str>,
    generate: Box<GenerateFn<K>>,
}

impl<K> FamilyGen<K> {
    /// A gauge family.
    pub fn gauge(
        name: &'static str,
        help: &'static str,
        stability: Stability,
        generate: impl Fn(&K, &mut Sink<'_>) + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, help, MetricType::Gauge, stability, generate)
    }

    /// A counter family.
    pub fn counter(
        name: &'static str,
        help: &'static str,
        stability: Stability,
        generate: impl Fn(&K, &mut Sink<'_>) + Send + Sync + 'static,
    ) -> Self {
        Self::new(name, help, MetricType::Counter, stability, generate)
    }

    fn new(
        name: &'static str,
        help: &'static str,
        metric_type: MetricType,
        stability: Stability,
        generate: impl Fn(&K, &mut Sink<'_>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            name,
            help,
            metric_type,
            stability,
            opt_in: false,
            deprecated_since: None,
            generate: Box::new(generate),
        }
    }

    /// Marks the family opt-in (`--metric-opt-in-list`).
    pub fn opt_in(mut self) -> Self {
        self.opt_in = true;
        self
    }

    /// Marks the family deprecated since an upstream version; it is still served.
    pub fn deprecated(mut self, since: &'static str) -> Self {
        self.deprecated_since = Some(since);
        self
    }

    /// Writes this family's samples for `obj`.
    pub fn generate(&self, obj: &K, sink: &mut Sink<'_>) {
        (self.generate)(obj, sink)
    }

    /// `# HELP` and `# TYPE` lines, as upstream builds them once per family.
    pub fn header(&self) -> String {
        let mut help = String::new();
        if self.stability == Stability::Stable {
            help.push_str("[STABLE] ");
        }
        if let Some(since) = self.deprecated_since {
            let _ = write!(help, "(Deprecated since {since}) ");
        }
        help.push_str(self.help);
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        format!(
            "# HELP {name} {help}\n# TYPE {name} {ty}\n",
            name = self.name,
            ty = self.metric_type.as_str()
        )
    }
}

/// Writes sample lines of one family for one object into the object's buffer.
///
/// A compact sink (what the store keeps) writes only each sample's tail: its own labels, the
/// trailing labels and the value, `,k="v"} 1\n`. The metric name and the object's default labels
/// are the same on every line, so the scrape writes them in front of each tail
/// ([`expand_tails`]) instead of every object storing them once per series.
pub struct Sink<'a> {
    buf: &'a mut Vec<u8>,
    /// Empty for a compact sink.
    name: &'static str,
    compact: bool,
    /// `k1="v1",k2="v2"` of the kind's default labels, already escaped.
    leading: &'a [u8],
    /// `,cluster="x"` style labels appended to every sample, already escaped.
    trailing: &'a [u8],
}

impl<'a> Sink<'a> {
    /// A sink writing samples named `name` into `buf`.
    pub fn new(buf: &'a mut Vec<u8>, name: &'static str, leading: &'a [u8], trailing: &'a [u8]) -> Self {
        Self { buf, name, compact: false, leading, trailing }
    }

    /// A compact sink: only tails, see the type's docs.
    pub fn compact(buf: &'a mut Vec<u8>, trailing: &'a [u8]) -> Self {
        Self { buf, name: "", compact: true, leading: b"", trailing }
    }

    /// One sample with only the default labels.
    pub fn value(&mut self, value: f64) {
        self.sample(std::iter::empty::<(&str, &str)>(), value)
    }

    /// One sample with the default labels followed by `labels`, in order.
    pub fn sample<'l, I, S>(&mut self, labels: I, value: f64)
    where
        I: IntoIterator<Item = (S, &'l str)>,
        S: AsRef<str>,
    {
        let buf = &mut *self.buf;
        if self.compact {
            for (key, val) in labels {
                buf.push(b',');
                write_label(buf, key.as_ref(), val);
            }
            buf.extend_from_slice(self.trailing);
            buf.extend_from_slice(b"} ");
            write_value(buf, value);
            buf.push(b'\n');
            return;
        }
        buf.extend_from_slice(self.name.as_bytes());
        let mut any = !self.leading.is_empty();
        let mut open = false;
        if any {
            buf.push(b'{');
            open = true;
            buf.extend_from_slice(self.leading);
        }
        for (key, val) in labels {
            buf.push(if any { b',' } else { b'{' });
            open = true;
            any = true;
            write_label(buf, key.as_ref(), val);
        }
        if !self.trailing.is_empty() {
            // `trailing` starts with a comma; without other labels it opens the braces instead.
            if open {
                buf.extend_from_slice(self.trailing);
            } else {
                buf.push(b'{');
                buf.extend_from_slice(&self.trailing[1..]);
                open = true;
            }
        }
        if open {
            buf.push(b'}');
        }
        buf.push(b' ');
        write_value(buf, value);
        buf.push(b'\n');
    }
}

/// Expands compact tails (one per line) into full sample lines: `name{leading` + tail. With no
/// leading labels the tail's first comma is dropped, or the braces when there is no label at all.
pub fn expand_tails(out: &mut Vec<u8>, name: &str, leading: &[u8], tails: &[u8]) {
    if tails.is_empty() {
        return;
    }
    if leading.is_empty() {
        for tail in lines(tails) {
            out.extend_from_slice(name.as_bytes());
            if let Some(rest) = tail.strip_prefix(b",") {
                out.push(b'{');
                out.extend_from_slice(rest);
            } else {
                // `} value`: no label at all.
                out.extend_from_slice(&tail[1..]);
            }
        }
        return;
    }
    // Most objects write a handful of lines per family that share `name{leading`: write that
    // prefix once, then copy it from the output itself, so each line costs two copies.
    let prefix = out.len();
    out.extend_from_slice(name.as_bytes());
    out.push(b'{');
    out.extend_from_slice(leading);
    let prefix = prefix..out.len();
    for (i, tail) in lines(tails).enumerate() {
        if i > 0 {
            out.extend_from_within(prefix.clone());
        }
        out.extend_from_slice(tail);
    }
}

/// The lines of `bytes`, each with its `\n`. A scrape splits every stored byte this way, and
/// `memchr` finds the ends a word at a time where a byte loop would test each byte.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = memchr::memchr(b'\n', rest).map_or(rest.len(), |at| at + 1);
        let (line, after) = rest.split_at(end);
        rest = after;
        Some(line)
    })
}

/// Appends `key="escaped value"`.
pub fn write_label(buf: &mut Vec<u8>, key: &str, value: &str) {
    buf.extend_from_slice(key.as_bytes());
    buf.extend_from_slice(b"=\"");
    escape_label_value(buf, value);
    buf.push(b'"');
}

/// Escapes a label value per the text format: backslash, double quote and newline only.
pub fn escape_label_value(buf: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        buf.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => buf.extend_from_slice(b"\\\\"),
            b'"' => buf.extend_from_slice(b"\\\""),
            b'\n' => buf.extend_from_slice(b"\\n"),
            _ => buf.push(b),
        }
    }
}

/// Formats a value as Go's `strconv.AppendFloat(v, 'g', -1, 64)` with upstream's fast paths:
/// the shortest round-trip digits, in exponent form when the decimal exponent is below -4 or
/// at least 6 (`1e+06`, `1.5e+09`, `1e-05`).
pub fn write_value(buf: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        buf.extend_from_slice(b"NaN");
        return;
    }
    if v.is_infinite() {
        buf.extend_from_slice(if v > 0.0 { b"+Inf" } else { b"-Inf" });
        return;
    }
    if v.fract() == 0.0 && v.abs() < 1e6 {
        // Integral and below the exponent threshold: plain digits (covers 0, 1 and -1).
        let _ = std::io::Write::write_fmt(buf, format_args!("{}", v as i64));
        return;
    }
    // `{:e}` gives the shortest round-trip digits, e.g. "1.501569018e9" or "-2.5e-7".
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if negative {
        buf.push(b'-');
    }
    if !(-4..6).contains(&exp) {
        buf.extend_from_slice(mantissa.as_bytes());
        buf.push(b'e');
        buf.push(if exp < 0 { b'-' } else { b'+' });
        let _ = std::io::Write::write_fmt(buf, format_args!("{:02}", exp.abs()));
        return;
    }
    if exp < 0 {
        buf.extend_from_slice(b"0.");
        buf.extend(std::iter::repeat_n(b'0', (-exp - 1) as usize));
        buf.extend_from_slice(digits.as_bytes());
        return;
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        buf.extend_from_slice(digits.as_bytes());
        buf.extend(std::iter::repeat_n(b'0', int_len - digits.len()));
    } else {
        buf.extend_from_slice(&digits.as_bytes()[..int_len]);
        buf.push(b'.');
        buf.extend_from_slice(&digits.as_bytes()[int_len..]);
    }
}

/// 1 for true, 0 for false.
pub fn bool_f64(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(v: f64) -> String {
        let mut buf = Vec::new();
        write_value(&mut buf, v);
        String::from_utf8(buf).expect("utf8")
    }

    #[test]
    fn values_format_like_go_strconv_g() {
        let cases = [
            (0.0, "0"),
            (1.0, "1"),
            (-1.0, "-1"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1.5e9, "1.5e+09"),
            (1501569018.0, "1.501569018e+09"),
            (8589934592.0, "8.589934592e+09"),
            (0.5, "0.5"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (2.5e-7, "2.5e-07"),
            (-0.25, "-0.25"),
            (12.75, "12.75"),
            (999999.5, "999999.5"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ];
        for (v, want) in cases {
            assert_eq!(fmt(v), want, "value {v}");
        }
    }

    #[test]
    fn label_values_escape_only_backslash_quote_newline() {
        let mut buf = Vec::new();
        escape_label_value(&mut buf, "a\\b\"c\nd\té");
        assert_eq!(buf, "a\\\\b\\\"c\\nd\té".as_bytes());
    }

    #[test]
    fn sink_writes_default_then_own_then_trailing_labels() {
        let mut buf = Vec::new();
        let mut sink = Sink::new(&mut buf, "kube_x", b"namespace=\"ns\"", b",cluster=\"c\"");
        sink.sample([("phase", "Running")], 1.0);
        sink.value(0.0);
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            "kube_x{namespace=\"ns\",phase=\"Running\",cluster=\"c\"} 1\nkube_x{namespace=\"ns\",cluster=\"c\"} 0\n"
        );
    }

    #[test]
    fn sink_without_any_label_writes_no_braces() {
        let mut buf = Vec::new();
        Sink::new(&mut buf, "kube_x", b"", b"").value(2.0);
        Sink::new(&mut buf, "kube_y", b"", b",cluster=\"c\"").value(3.0);
        Sink::new(&mut buf, "kube_z", b"", b"").sample([("a", "b")], 4.0);
        assert_eq!(
            String::from_utf8(buf).expect("utf8"),
            "kube_x 2\nkube_y{cluster=\"c\"} 3\nkube_z{a=\"b\"} 4\n"
        );
    }

    #[test]
    fn compact_tails_expand_to_the_same_lines_as_a_full_sink() {
        for (leading, trailing) in [
            (&b"namespace=\"ns\""[..], &b""[..]),
            (b"", b""),
            (b"", b",cluster=\"c\""),
            (b"a=\"b\"", b",cluster=\"c\""),
        ] {
            let (mut full, mut tails) = (Vec::new(), Vec::new());
            for buf_is_full in [true, false] {
                let mut sink = if buf_is_full {
                    Sink::new(&mut full, "kube_x", leading, trailing)
                } else {
                    Sink::compact(&mut tails, trailing)
                };
                sink.value(1.0);
                sink.sample([("phase", "Running"), ("q", "a\"b")], 0.5);
            }
            // Expanding after other output must not disturb it.
            let mut expanded = b"# before\n".to_vec();
            expand_tails(&mut expanded, "kube_x", leading, &tails);
            let expanded = String::from_utf8(expanded).expect("utf8");
            assert_eq!(
                expanded.strip_prefix("# before\n"),
                Some(String::from_utf8(full).expect("utf8").as_str())
            );
        }
    }

    #[test]
    fn lines_keep_their_newlines_and_a_last_line_without_one() {
        let split = |bytes: &'static [u8]| lines(bytes).collect::<Vec<_>>();
        assert!(split(b"").is_empty());
        assert_eq!(split(b"} 1\n"), [&b"} 1\n"[..]]);
        assert_eq!(split(b"} 1\n\n,a=\"b\"} 2"), [&b"} 1\n"[..], b"\n", b",a=\"b\"} 2"]);
    }

    #[test]
    fn header_prefixes_stable_and_deprecated() {
        let f = FamilyGen::<()>::gauge(
            "kube_endpoint_ports",
            "Information about the Endpoint ports.",
            Stability::Stable,
            |_, _| {},
        )
        .deprecated("v2.14.0");
        assert_eq!(
            f.header(),
            "# HELP kube_endpoint_ports [STABLE] (Deprecated since v2.14.0) Information about the Endpoint ports.\n# TYPE kube_endpoint_ports gauge\n"
        );
    }
}

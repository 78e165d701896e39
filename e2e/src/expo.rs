//! The Prometheus text exposition format (version 0.0.4): a parser into samples with sorted
//! labels, a readable diff of two expositions, and a lint of the structure KSM promises (each
//! family's HELP and TYPE once, HELP right before TYPE, both before the family's samples, samples
//! of a family contiguous, no duplicate series).

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

/// Label names to values, sorted by name, so label order does not matter when comparing.
pub type Labels = BTreeMap<String, String>;

/// A series identity: metric name and labels.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Metric name.
    pub name: String,
    /// Labels, sorted.
    pub labels: Labels,
}

impl fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{{", self.name)?;
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v:?}")?;
        }
        f.write_str("}")
    }
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels, sorted by name.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// 1-based line number in the parsed text.
    pub line: usize,
}

impl Sample {
    /// The series this sample belongs to.
    pub fn key(&self) -> SeriesKey {
        SeriesKey { name: self.name.clone(), labels: self.labels.clone() }
    }
}

/// A `# HELP` or `# TYPE` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// `HELP` or `TYPE`.
    pub kind: HeaderKind,
    /// Family name.
    pub name: String,
    /// Help text (unescaped) or type.
    pub text: String,
    /// 1-based line number.
    pub line: usize,
}

/// Which header line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderKind {
    /// `# HELP`.
    Help,
    /// `# TYPE`.
    Type,
}

/// A parsed exposition: headers and samples in text order.
#[derive(Clone, Debug, Default)]
pub struct Exposition {
    /// HELP and TYPE lines in order.
    pub headers: Vec<Header>,
    /// Samples in order.
    pub samples: Vec<Sample>,
}

/// A line that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}: {text:?}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
    /// The line.
    pub text: String,
}

impl Exposition {
    /// Series to values. A duplicated series keeps its last value ([`lint`] reports duplicates).
    pub fn series(&self) -> BTreeMap<SeriesKey, f64> {
        self.samples.iter().map(|s| (s.key(), s.value)).collect()
    }

    /// Family names in the order of their TYPE lines.
    pub fn family_order(&self) -> Vec<String> {
        self.headers.iter().filter(|h| h.kind == HeaderKind::Type).map(|h| h.name.clone()).collect()
    }

    /// `(name, kind, text)` of every header, for comparing headers apart from line numbers.
    pub fn header_texts(&self) -> Vec<(String, HeaderKind, String)> {
        self.headers.iter().map(|h| (h.name.clone(), h.kind, h.text.clone())).collect()
    }

    /// Samples whose labels include every `(name, value)` of `want`.
    pub fn matching<'a>(&'a self, want: &'a [(&str, &str)]) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples
            .iter()
            .filter(move |s| want.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|have| have == v)))
    }

    /// The value of the one series `name` whose labels include `want`, if there is exactly one.
    pub fn value(&self, name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.matching(want).filter(|s| s.name == name);
        let first = found.next()?;
        found.next().is_none().then_some(first.value)
    }
}

/// Parses text exposition format.
pub fn parse(text: &str) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let err = |reason: &str| ParseError { line: n, reason: reason.to_string(), text: line.to_string() };
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            let (kind, rest) = if let Some(r) = rest.strip_prefix("HELP ") {
                (HeaderKind::Help, r)
            } else if let Some(r) = rest.strip_prefix("TYPE ") {
                (HeaderKind::Type, r)
            } else {
                continue; // A plain comment.
            };
            let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
            if !valid_metric_name(name) {
                return Err(err("invalid metric name in header"));
            }
            let text = match kind {
                HeaderKind::Help => unescape(text, false).map_err(|r| err(&r))?,
                HeaderKind::Type => text.trim().to_string(),
            };
            out.headers.push(Header { kind, name: name.to_string(), text, line: n });
            continue;
        }
        out.samples.push(parse_sample(line, n).map_err(|r| err(&r))?);
    }
    Ok(out)
}

fn parse_sample(line: &str, n: usize) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ', '\t']).ok_or("no value after the metric name")?;
    let name = &line[..name_end];
    if !valid_metric_name(name) {
        return Err("invalid metric name".into());
    }
    let mut rest = &line[name_end..];
    let mut labels = Labels::new();
    if let Some(after) = rest.strip_prefix('{') {
        let (parsed, remaining) = parse_labels(after)?;
        for (k, v) in parsed {
            if labels.insert(k.clone(), v).is_some() {
                return Err(format!("label {k:?} appears twice"));
            }
        }
        rest = remaining;
    }
    let mut fields = rest.split_whitespace();
    let value_text = fields.next().ok_or("no value")?;
    let value = parse_value(value_text).ok_or_else(|| format!("bad value {value_text:?}"))?;
    if let Some(ts) = fields.next() {
        ts.parse::<i64>().map_err(|_| format!("bad timestamp {ts:?}"))?;
    }
    if fields.next().is_some() {
        return Err("trailing text after the timestamp".into());
    }
    Ok(Sample { name: name.to_string(), labels, value, line: n })
}

/// Label pairs in text order, and the text after the closing brace.
type ParsedLabels<'a> = (Vec<(String, String)>, &'a str);

/// Parses `k="v",k2="v2"}` (the opening brace already consumed).
fn parse_labels(mut s: &str) -> Result<ParsedLabels<'_>, String> {
    let mut out = Vec::new();
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix('}') {
            return Ok((out, rest));
        }
        let eq = s.find('=').ok_or("label without '='")?;
        let name = s[..eq].trim();
        if !valid_label_name(name) {
            return Err(format!("invalid label name {name:?}"));
        }
        s = s[eq + 1..].trim_start();
        s = s.strip_prefix('"').ok_or("label value does not start with '\"'")?;
        let mut end = None;
        let mut escaped = false;
        for (i, c) in s.char_indices() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let end = end.ok_or("unterminated label value")?;
        out.push((name.to_string(), unescape(&s[..end], true)?));
        s = s[end + 1..].trim_start();
        if let Some(rest) = s.strip_prefix(',') {
            s = rest;
        } else if !s.starts_with('}') {
            return Err("expected ',' or '}' after a label".into());
        }
    }
}

/// Undoes `\\`, `\n` and (in label values) `\"`.
fn unescape(s: &str, quotes: bool) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('"') if quotes => out.push('"'),
            // Outside label values other escapes are kept literally, as Prometheus does.
            Some(other) if !quotes => {
                out.push('\\');
                out.push(other);
            }
            other => {
                return Err(format!("invalid escape \\{}", other.map(String::from).unwrap_or_default()));
            }
        }
    }
    Ok(out)
}

fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Two values are the same if they are bit-identical or both NaN.
pub fn same_value(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}

/// How two sets of series differ.
#[derive(Clone, Debug, Default)]
pub struct Diff {
    /// In the expected set only, with the expected value.
    pub missing: Vec<(SeriesKey, f64)>,
    /// In the actual set only, with the actual value.
    pub extra: Vec<(SeriesKey, f64)>,
    /// In both, with (expected, actual) values.
    pub different: Vec<(SeriesKey, f64, f64)>,
}

impl Diff {
    /// Whether the two sets were equal.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.different.is_empty()
    }
}

/// How many lines of each kind [`Diff`]'s `Display` prints before summarising.
const SHOWN: usize = 25;

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("no differences");
        }
        writeln!(
            f,
            "{} missing, {} extra, {} with a different value",
            self.missing.len(),
            self.extra.len(),
            self.different.len()
        )?;
        let mut section = |title: &str, lines: Vec<String>| -> fmt::Result {
            if lines.is_empty() {
                return Ok(());
            }
            writeln!(f, "  {title}:")?;
            for l in lines.iter().take(SHOWN) {
                writeln!(f, "    {l}")?;
            }
            if lines.len() > SHOWN {
                writeln!(f, "    ... and {} more", lines.len() - SHOWN)?;
            }
            Ok(())
        };
        section(
            "missing (expected, not found)",
            self.missing.iter().map(|(k, v)| format!("{k} {v}")).collect(),
        )?;
        section("extra (found, not expected)", self.extra.iter().map(|(k, v)| format!("{k} {v}")).collect())?;
        section(
            "different value (expected -> found)",
            self.different.iter().map(|(k, e, a)| format!("{k} {e} -> {a}")).collect(),
        )
    }
}

/// Compares series and values of `expected` and `actual`; headers and order are not compared.
pub fn diff(expected: &Exposition, actual: &Exposition) -> Diff {
    diff_series(&expected.series(), &actual.series())
}

/// [`diff`] on series maps.
pub fn diff_series(expected: &BTreeMap<SeriesKey, f64>, actual: &BTreeMap<SeriesKey, f64>) -> Diff {
    let mut d = Diff::default();
    for (k, &e) in expected {
        match actual.get(k) {
            None => d.missing.push((k.clone(), e)),
            Some(&a) if !same_value(a, e) => d.different.push((k.clone(), e, a)),
            Some(_) => {}
        }
    }
    for (k, &a) in actual {
        if !expected.contains_key(k) {
            d.extra.push((k.clone(), a));
        }
    }
    d
}

/// Structural problems of an exposition, as readable lines; empty when clean.
///
/// Checks: the text parses and ends with a newline; each family has exactly one HELP and one
/// TYPE, HELP directly before TYPE, both before the family's first sample; the type is known; the
/// samples of a family are contiguous and belong to a declared family; no series appears twice.
pub fn lint(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !text.is_empty() && !text.ends_with('\n') {
        problems.push("the text does not end with a newline".to_string());
    }
    let expo = match parse(text) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("does not parse: {e}"));
            return problems;
        }
    };
    let mut help_line: BTreeMap<&str, usize> = BTreeMap::new();
    let mut type_line: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for (i, h) in expo.headers.iter().enumerate() {
        match h.kind {
            HeaderKind::Help => {
                if let Some(first) = help_line.insert(&h.name, h.line) {
                    problems
                        .push(format!("{}: HELP on line {} repeats the one on line {first}", h.name, h.line));
                }
            }
            HeaderKind::Type => {
                if !matches!(h.text.as_str(), "gauge" | "counter" | "histogram" | "summary" | "untyped") {
                    problems.push(format!("{}: unknown type {:?} on line {}", h.name, h.text, h.line));
                }
                if let Some((first, _)) = type_line.insert(&h.name, (h.line, &h.text)) {
                    problems
                        .push(format!("{}: TYPE on line {} repeats the one on line {first}", h.name, h.line));
                }
                let prev = i.checked_sub(1).map(|p| &expo.headers[p]);
                let help_before = prev
                    .is_some_and(|p| p.kind == HeaderKind::Help && p.name == h.name && p.line + 1 == h.line);
                if !help_before {
                    problems.push(format!(
                        "{}: TYPE on line {} is not directly preceded by its HELP",
                        h.name, h.line
                    ));
                }
            }
        }
    }
    for name in help_line.keys() {
        if !type_line.contains_key(name) {
            problems.push(format!("{name}: HELP without TYPE"));
        }
    }
    let mut seen_series: BTreeMap<SeriesKey, usize> = BTreeMap::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut current: Option<String> = None;
    for s in &expo.samples {
        let family = family_of(&s.name, &type_line);
        let Some((family, (tline, _))) = family else {
            problems.push(format!("{}: sample on line {} has no TYPE", s.name, s.line));
            continue;
        };
        if *tline > s.line {
            problems
                .push(format!("{family}: sample on line {} comes before its TYPE on line {tline}", s.line));
        }
        if current.as_deref() != Some(family) {
            if finished.contains(family) {
                problems.push(format!(
                    "{family}: sample on line {} is separated from the family's earlier samples",
                    s.line
                ));
            }
            if let Some(prev) = current.replace(family.to_string()) {
                finished.insert(prev);
            }
        }
        if let Some(first) = seen_series.insert(s.key(), s.line) {
            problems.push(format!("{}: duplicate series on lines {first} and {}", s.key(), s.line));
        }
    }
    problems
}

/// The declared family a sample name belongs to (histogram and summary suffixes included).
fn family_of<'b>(
    name: &str,
    types: &'b BTreeMap<&'b str, (usize, &'b str)>,
) -> Option<(&'b str, &'b (usize, &'b str))> {
    if let Some((k, v)) = types.get_key_value(name) {
        return Some((k, v));
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && let Some((k, v)) = types.get_key_value(base)
            && matches!(v.1, "histogram" | "summary")
        {
            return Some((k, v));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "# HELP kube_a [STABLE] A \\\\ thing.\\nMore.\n# TYPE kube_a gauge\n\
        kube_a{namespace=\"n\",x=\"q\\\"uote\\\\ \\n\"} 1\nkube_a{namespace=\"m\",x=\"\"} 1.5e+09\n\
        # HELP kube_b B.\n# TYPE kube_b gauge\n# HELP kube_c_total C.\n# TYPE kube_c_total counter\n\
        kube_c_total 3\nkube_c_total{a=\"1\"} 4 1700000000\n";

    #[test]
    fn parses_headers_labels_escapes_and_values() {
        let e = parse(GOOD).expect("parses");
        assert_eq!(e.family_order(), ["kube_a", "kube_b", "kube_c_total"]);
        assert_eq!(e.headers[0].text, "[STABLE] A \\ thing.\nMore.");
        assert_eq!(e.samples[0].labels["x"], "q\"uote\\ \n");
        assert_eq!(e.samples[1].value, 1.5e9);
        assert_eq!(e.value("kube_a", &[("namespace", "m")]), Some(1.5e9));
        assert_eq!(e.value("kube_a", &[]), None, "two series match");
        for v in ["NaN", "+Inf", "-Inf"] {
            let s = parse(&format!("m {v}\n")).expect("parses");
            assert_eq!(format!("{}", s.samples[0].value).to_lowercase().trim_start_matches('+'), {
                match v {
                    "NaN" => "nan",
                    "+Inf" => "inf",
                    _ => "-inf",
                }
            });
        }
        for bad in ["m{a=\"x} 1", "m{a=x} 1", "m{a=\"x\"} one", "1m 1", "m{a=\"1\",a=\"2\"} 1", "m"] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn label_order_does_not_matter_and_diff_reports_each_kind() {
        let a = parse("m{a=\"1\",b=\"2\"} 1\nm{a=\"2\",b=\"2\"} 1\nn 5\np NaN\n").expect("a");
        let b = parse("m{b=\"2\",a=\"1\"} 1\nn 6\no 1\np NaN\n").expect("b");
        let d = diff(&a, &b);
        assert_eq!(d.missing.len(), 1, "{d}");
        assert_eq!(d.extra.len(), 1, "{d}");
        assert_eq!(d.different.len(), 1, "{d}");
        let text = d.to_string();
        assert!(text.contains("m{a=\"2\",b=\"2\"} 1"), "{text}");
        assert!(text.contains("n{} 5 -> 6"), "{text}");
        assert!(text.contains("o{} 1"), "{text}");
        assert!(diff(&a, &a).is_empty());
    }

    #[test]
    fn lint_accepts_good_text_and_names_each_problem() {
        assert_eq!(lint(GOOD), Vec::<String>::new());
        let cases = [
            ("# TYPE a gauge\na 1\n", "not directly preceded by its HELP"),
            ("# HELP a A\n# TYPE a gauge\n# HELP a A\n# TYPE a gauge\na 1\n", "repeats"),
            ("a 1\n# HELP a A\n# TYPE a gauge\n", "comes before its TYPE"),
            ("# HELP a A\n# TYPE a gauge\nb 1\n", "has no TYPE"),
            ("# HELP a A\n# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n", "duplicate series"),
            ("# HELP a A\n# TYPE a gauge\n# HELP b B\n# TYPE b gauge\na 1\nb 1\na{x=\"\"} 1\n", "separated"),
            ("# HELP a A\n# TYPE a gauge\na 1", "newline"),
            ("# HELP a A\n# TYPE a info\na 1\n", "unknown type"),
            ("# HELP a A\na 1\n", "HELP without TYPE"),
            ("# HELP a A\n# TYPE a gauge\na{1=\"\"} 1\n", "does not parse"),
        ];
        for (text, want) in cases {
            let problems = lint(text);
            assert!(
                problems.iter().any(|p| p.contains(want)),
                "lint({text:?}) = {problems:?}, wanted one containing {want:?}"
            );
        }
    }
}

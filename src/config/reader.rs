//! A walker over a parsed TOML document that takes typed values by dotted key and collects *every* problem.
//!
//! serde's derive stops at the first wrong value; an operator fixing a lamp's config over SSH wants the whole list at once.
//! So config and profile files are parsed into a [`toml::Table`] and read through a [`Reader`]: each getter either
//! returns a typed value or records a [`Problem`] (key, value as written, what was expected) and returns `None`.
//! [`Reader::finish`] adds one problem for every key that nothing asked for, so typos are reported, not ignored.
//!
//! This module owns no knowledge of particular keys; `config` and `profile` say which keys exist.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

/// One thing wrong with a file: which key, the value as written, and what would have been accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub value: String,
    pub expected: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: expected {}", self.key, self.value, self.expected)
    }
}

/// Reads typed values out of a TOML table, remembering what was read and what was wrong.
pub struct Reader<'a> {
    root: &'a toml::Table,
    used: BTreeSet<String>,
    problems: Vec<Problem>,
}

fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("{s:?}"),
        toml::Value::Table(_) => "{table}".to_string(),
        other => other.to_string(),
    }
}

impl<'a> Reader<'a> {
    pub fn new(root: &'a toml::Table) -> Self {
        Reader { root, used: BTreeSet::new(), problems: Vec::new() }
    }

    /// Looks a dotted key up (`mqtt.tls.ca_file`); a numeric segment indexes an array (`actions.2.weight`).
    pub fn lookup(&self, key: &str) -> Option<&'a toml::Value> {
        let mut parts = key.split('.');
        let mut cur = self.root.get(parts.next()?)?;
        for part in parts {
            cur = match cur {
                toml::Value::Table(t) => t.get(part)?,
                toml::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Records a problem found by the caller (a cross-field check, say).
    pub fn problem(&mut self, key: &str, value: impl Into<String>, expected: impl Into<String>) {
        self.problems.push(Problem { key: key.to_string(), value: value.into(), expected: expected.into() });
    }

    fn mark(&mut self, key: &str) {
        self.used.insert(key.to_string());
    }

    /// Marks a whole subtree as read (its keys are checked by the caller some other way).
    pub fn mark_subtree(&mut self, key: &str) {
        self.mark(key);
    }

    /// Takes a value with `convert`; a present value that fails conversion is recorded with `expected`.
    pub fn get<T>(&mut self, key: &str, expected: &str, convert: impl FnOnce(&toml::Value) -> Option<T>) -> Option<T> {
        let v = self.lookup(key)?;
        self.mark(key);
        match convert(v) {
            Some(t) => Some(t),
            None => {
                self.problem(key, show(v), expected);
                None
            }
        }
    }

    pub fn string(&mut self, key: &str) -> Option<String> {
        self.get(key, "a string", |v| v.as_str().map(str::to_string))
    }

    pub fn bool(&mut self, key: &str) -> Option<bool> {
        self.get(key, "true or false", toml::Value::as_bool)
    }

    /// An integer in `lo..=hi`.
    pub fn int(&mut self, key: &str, lo: i64, hi: i64) -> Option<i64> {
        let expected = format!("a whole number from {lo} to {hi}");
        self.get(key, &expected, |v| v.as_integer().filter(|n| (lo..=hi).contains(n)))
    }

    /// A number (integer or float) in `lo..=hi`.
    pub fn float(&mut self, key: &str, lo: f64, hi: f64) -> Option<f64> {
        let expected = format!("a number from {lo} to {hi}");
        self.get(key, &expected, |v| {
            let x = v.as_float().or_else(|| v.as_integer().map(|i| i as f64))?;
            (x.is_finite() && x >= lo && x <= hi).then_some(x)
        })
    }

    /// A duration written the humantime way (`"500ms"`, `"60s"`, `"1m 30s"`), within `lo..=hi`.
    pub fn duration(&mut self, key: &str, lo: Duration, hi: Duration) -> Option<Duration> {
        let expected = format!(
            "a duration such as \"500ms\" or \"30s\", from {} to {}",
            humantime::format_duration(lo),
            humantime::format_duration(hi)
        );
        self.get(key, &expected, |v| {
            let d = humantime::parse_duration(v.as_str()?.trim()).ok()?;
            (d >= lo && d <= hi).then_some(d)
        })
    }

    /// One of a fixed set of words.
    pub fn choice(&mut self, key: &str, choices: &[&str]) -> Option<String> {
        let expected = format!("one of {}", choices.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", "));
        self.get(key, &expected, |v| v.as_str().filter(|s| choices.contains(s)).map(str::to_string))
    }

    /// The keys of a table (empty when absent; a problem when not a table).
    pub fn keys(&mut self, key: &str) -> Vec<String> {
        match self.lookup(key) {
            None => Vec::new(),
            Some(toml::Value::Table(t)) => t.keys().cloned().collect(),
            Some(v) => {
                self.mark(key);
                let shown = show(v);
                self.problem(key, shown, "a table");
                Vec::new()
            }
        }
    }

    /// The length of an array (0 when absent; a problem when not an array).
    pub fn len(&mut self, key: &str) -> usize {
        match self.lookup(key) {
            None => 0,
            Some(toml::Value::Array(a)) => a.len(),
            Some(v) => {
                self.mark(key);
                let shown = show(v);
                self.problem(key, shown, "an array");
                0
            }
        }
    }

    /// Records a problem for every leaf key nothing asked for, then returns all problems found.
    pub fn finish(mut self) -> Vec<Problem> {
        let mut unknown = Vec::new();
        walk(&toml::Value::Table(self.root.clone()), String::new(), &self.used, &mut unknown);
        for (key, value) in unknown {
            self.problem(&key, value, "no such key (check the spelling against the documented file)");
        }
        self.problems
    }
}

fn walk(v: &toml::Value, path: String, used: &BTreeSet<String>, out: &mut Vec<(String, String)>) {
    if !path.is_empty() && used.contains(&path) {
        return;
    }
    match v {
        toml::Value::Table(t) => {
            for (k, child) in t {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                walk(child, p, used, out);
            }
        }
        toml::Value::Array(a) if a.iter().any(toml::Value::is_table) => {
            for (i, child) in a.iter().enumerate() {
                walk(child, format!("{path}.{i}"), used, out);
            }
        }
        other => out.push((path, show(other))),
    }
}

/// Parses TOML text into a table, turning a syntax error into a [`Problem`] that names the line.
pub fn parse_toml(text: &str) -> Result<toml::Table, Problem> {
    text.parse::<toml::Table>().map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| {
                let before = &text[..s.start.min(text.len())];
                (before.matches('\n').count() + 1, before.rsplit('\n').next().map_or(0, str::len) + 1)
            })
            .unwrap_or((0, 0));
        Problem {
            key: format!("(line {line}, column {col})"),
            value: text.lines().nth(line.saturating_sub(1)).unwrap_or("").trim().to_string(),
            expected: format!("valid TOML: {}", e.message()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(s: &str) -> toml::Table {
        parse_toml(s).unwrap()
    }

    #[test]
    fn collects_every_problem_with_key_value_and_expectation() {
        let t = table("[mqtt]\nport = 70000\nhost = 5\n[led]\ngamma = \"x\"\ntypo = 1\n");
        let mut r = Reader::new(&t);
        assert_eq!(r.int("mqtt.port", 1, 65535), None);
        assert_eq!(r.string("mqtt.host"), None);
        assert_eq!(r.float("led.gamma", 0.1, 5.0), None);
        let problems = r.finish();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["mqtt.port", "mqtt.host", "led.gamma", "led.typo"]);
        assert_eq!(problems[0].value, "70000");
        assert!(problems[0].expected.contains("1 to 65535"), "{}", problems[0]);
        assert_eq!(problems[2].value, "\"x\"");
    }

    #[test]
    fn durations_and_choices() {
        let t = table("a = \"250ms\"\nb = \"fast\"\nc = \"sim\"\nd = \"2h\"\n");
        let mut r = Reader::new(&t);
        assert_eq!(r.duration("a", Duration::ZERO, Duration::from_secs(60)), Some(Duration::from_millis(250)));
        assert_eq!(r.duration("b", Duration::ZERO, Duration::from_secs(60)), None);
        assert_eq!(r.choice("c", &["auto", "sim", "rppal"]).as_deref(), Some("sim"));
        assert_eq!(r.duration("d", Duration::ZERO, Duration::from_secs(60)), None);
        assert_eq!(r.finish().len(), 2);
    }

    #[test]
    fn arrays_of_tables_are_indexed_and_checked_for_unknown_keys() {
        let t = table("[[x]]\nw = 1\n[[x]]\nw = 2\nbad = true\n");
        let mut r = Reader::new(&t);
        assert_eq!(r.len("x"), 2);
        assert_eq!(r.int("x.1.w", 0, 9), Some(2));
        assert_eq!(r.int("x.0.w", 0, 9), Some(1));
        let p = r.finish();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "x.1.bad");
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let p = parse_toml("a = 1\nb = = 2\n").unwrap_err();
        assert!(p.key.contains("line 2"), "{p}");
        assert!(p.value.contains("b = = 2"));
    }
}

//! Facts about the host this process runs on, read from `/proc` text: parsers only, shared by every mode that
//! reports on the machine (the load generator's `system.csv`, the self-test's memory check). Pure: callers read
//! the files and pass the text in, so each parser is tested on fixed input.

use std::collections::BTreeMap;

/// /proc/meminfo as kB values by key.
pub fn meminfo(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, rest) = l.split_once(':')?;
            Some((k.trim().to_string(), rest.split_whitespace().next()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn meminfo_values_are_kb_by_key_and_bad_lines_are_skipped() {
        let m = super::meminfo("MemTotal:       1000 kB\nMemFree: 200 kB\nnot a line\nHugePages_Total:       0\n");
        assert_eq!(m.get("MemTotal"), Some(&1000));
        assert_eq!(m.get("MemFree"), Some(&200));
        assert_eq!(m.get("HugePages_Total"), Some(&0));
        assert_eq!(m.len(), 3);
    }
}

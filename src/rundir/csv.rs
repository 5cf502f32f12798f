//! Reading back the CSV framings a run writes: sysstat `sadf -d` blocks (`# hostname;interval;timestamp;...` then
//! `;`-separated rows; a file may hold several blocks, as `system.csv` does) and Locust's comma CSV with Python's
//! minimal quoting. Pure text in, rows out; the caller names the file in errors.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

const SADF_TIME: &[FormatItem<'static>] = format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
const LOCUST_TIME: &[FormatItem<'static>] = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");

/// One `sadf -d` block: its column names (without the leading `# `) and rows with their 1-based line numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub columns: Vec<String>,
    pub rows: Vec<(usize, Vec<String>)>,
}

impl Block {
    /// The index of a column, by name.
    pub fn col(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }
}

/// Splits `sadf -d` text into blocks. Rows before any header line are an error (the line number is returned).
pub fn sadf_blocks(text: &str) -> Result<Vec<Block>, (usize, String)> {
    let mut blocks: Vec<Block> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix("# ") {
            blocks.push(Block { columns: header.split(';').map(str::to_string).collect(), rows: Vec::new() });
            continue;
        }
        let Some(block) = blocks.last_mut() else {
            return Err((n, "a data row before any `# hostname;...` header line".into()));
        };
        let row: Vec<String> = line.split(';').map(str::to_string).collect();
        if row.len() != block.columns.len() {
            return Err((n, format!("{} fields where the header has {}", row.len(), block.columns.len())));
        }
        block.rows.push((n, row));
    }
    Ok(blocks)
}

/// `2026-11-27 14:48:37 UTC` as Unix seconds.
pub fn sadf_time(s: &str) -> Option<i64> {
    PrimitiveDateTime::parse(s, SADF_TIME).ok().map(|t| t.assume_utc().unix_timestamp())
}

/// `2026-11-27T14:48:37Z` (Locust's failures file).
pub fn locust_time(s: &str) -> Option<OffsetDateTime> {
    PrimitiveDateTime::parse(s, LOCUST_TIME).ok().map(PrimitiveDateTime::assume_utc)
}

/// Splits one line of comma CSV with RFC 4180 quoting (`"a,b"`, `""` for a quote). `None` for an unclosed quote.
pub fn split_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sadf_text_splits_into_blocks_with_line_numbers() {
        let text = "# hostname;interval;timestamp;CPU;%idle\nvm;1;2026-11-27 14:48:37 UTC;-1;78.89\n\
                    # hostname;interval;timestamp;runq-sz\nvm;1;2026-11-27 14:48:37 UTC;3\n";
        let blocks = sadf_blocks(text).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].col("%idle"), Some(4));
        assert_eq!(
            blocks[1].rows,
            vec![(4, vec!["vm".into(), "1".into(), "2026-11-27 14:48:37 UTC".into(), "3".into()])]
        );
        assert_eq!(sadf_blocks("vm;1\n").unwrap_err().0, 1);
        assert_eq!(sadf_blocks("# a;b\n1;2;3\n").unwrap_err().0, 2);
        assert_eq!(sadf_time("2026-11-27 14:48:37 UTC"), Some(1_795_790_917));
        assert_eq!(sadf_time("yesterday"), None);
    }

    #[test]
    fn csv_lines_undo_pythons_minimal_quoting() {
        assert_eq!(split_csv_line("POST,/login/,HTTP 500,2").unwrap(), ["POST", "/login/", "HTTP 500", "2"]);
        assert_eq!(
            split_csv_line("POST,/login/,\"wrong, said \"\"nope\"\"\",2").unwrap(),
            ["POST", "/login/", "wrong, said \"nope\"", "2"]
        );
        assert_eq!(split_csv_line(",Aggregated").unwrap(), ["", "Aggregated"]);
        assert!(split_csv_line("a,\"open").is_none());
        assert_eq!(locust_time("2026-11-27T14:48:38Z").unwrap().unix_timestamp(), 1_795_790_918);
    }
}

//! TOML config parsing shared by every binary: one error shape that names the
//! file, line and column, so `unknown field` is never a guess.

use serde::de::DeserializeOwned;

/// A config file that did not parse or did not match the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}:{line}:{column}: {message}")]
pub struct ConfigError {
    /// File path (or `<built-in>` for embedded defaults).
    pub origin: String,
    /// 1-based line of the offending key or value.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, from the TOML parser or the type's validation.
    pub message: String,
}

/// Parses `src` as TOML into `T`, reporting errors as `origin:line:col: msg`.
///
/// Types should use `#[serde(deny_unknown_fields, rename_all = "kebab-case")]`
/// so a misspelt key is an error, never a silent default.
pub fn parse_toml<T: DeserializeOwned>(origin: &str, src: &str) -> Result<T, ConfigError> {
    toml::from_str(src).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |span| line_column(src, span.start));
        ConfigError {
            origin: origin.to_owned(),
            line,
            column,
            message: e.message().trim().to_owned(),
        }
    })
}

/// 1-based line and column of byte `offset` in `src`.
pub fn line_column(src: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(src.len());
    while !src.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = src.get(..offset).unwrap_or_default();
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |nl| {
        before.get(nl + 1..).map_or(0, |s| s.chars().count())
    }) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Demo {
        listen: String,
        #[serde(default)]
        max_body: u64,
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let src = "listen = \"x\"\n\n  colour = 3\n";
        let err = parse_toml::<Demo>("/etc/x.toml", src).unwrap_err();
        assert_eq!((err.line, err.column), (3, 3), "{err}");
        assert!(
            err.to_string()
                .starts_with("/etc/x.toml:3:3: unknown field `colour`"),
            "{err}"
        );
    }

    #[test]
    fn wrong_type_is_located() {
        let err = parse_toml::<Demo>("c.toml", "listen = \"x\"\nmax-body = \"big\"\n").unwrap_err();
        assert_eq!(err.line, 2, "{err}");
    }

    #[test]
    fn line_column_counts_chars() {
        assert_eq!(line_column("ab\n守望x", 9), (2, 3));
        assert_eq!(line_column("ab\n守望x", 7), (2, 2));
        assert_eq!(line_column("", 10), (1, 1));
    }
}

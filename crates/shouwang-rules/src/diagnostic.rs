//! [`Diagnostic`]: one problem in a rule file, located at file:line:col,
//! with a hint. Every compile step reports these (all of them, not just the
//! first).

/// One problem in a rule file, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based; 0 until located.
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// What to write instead.
    pub hint: Option<String>,
    span: Option<std::ops::Range<usize>>,
}

impl Diagnostic {
    /// An error at a byte range of the file being compiled.
    pub fn span(span: std::ops::Range<usize>, message: String, hint: Option<String>) -> Self {
        Self {
            file: String::new(),
            line: 0,
            column: 0,
            message,
            hint,
            span: Some(span),
        }
    }

    /// An error at a known line.
    pub fn at_line(file: &str, line: usize, message: String, hint: Option<String>) -> Self {
        Self {
            file: file.to_owned(),
            line,
            column: 1,
            message,
            hint,
            span: None,
        }
    }

    /// Turns the byte span into file:line:col.
    pub fn locate(&mut self, file: &str, src: &str) {
        if self.file.is_empty() {
            self.file = file.to_owned();
        }
        if let Some(span) = self.span.take() {
            let (l, c) = shouwang_proto::config::line_column(src, span.start);
            self.line = l;
            self.column = c;
        }
    }
}

impl std::error::Error for Diagnostic {}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(h) = &self.hint {
            write!(f, "\n    help: {h}")?;
        }
        Ok(())
    }
}

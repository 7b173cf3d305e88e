//! Diagnostics are values: collected, returned, and rendered only at the edge (the CLI).
//!
//! A diagnostic says what went wrong (summary), why (detail), where (file:line:column and
//! the field path such as `resources.root_ca.properties.validity`) and what to do next (help).
//! Providers report a field path only; the engine attaches the source span.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A place in a source file. Lines and columns are 1-based; `offset`/`len` are bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Span {
    pub file: Arc<PathBuf>,
    pub line: usize,
    pub column: usize,
    pub offset: usize,
    pub len: usize,
    /// The file's text as it was loaded, which the excerpt of a rendered diagnostic is
    /// taken from (the file on disk may have changed since, or be gone).
    #[serde(skip)]
    pub source: Option<SourceText>,
}

/// The loaded text of a source file, shared by every span into it.
#[derive(Clone, PartialEq, Eq)]
pub struct SourceText(pub Arc<String>);

impl fmt::Debug for SourceText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A span's debug form names the place; the whole file would drown it.
        write!(f, "SourceText({} bytes)", self.0.len())
    }
}

impl Span {
    pub fn new(file: Arc<PathBuf>, line: usize, column: usize, offset: usize, len: usize) -> Span {
        Span {
            file,
            line,
            column,
            offset,
            len,
            source: None,
        }
    }

    /// This span, pointing into `text` (the file's text as loaded).
    #[must_use]
    pub fn with_source(mut self, text: &Arc<String>) -> Span {
        self.source = Some(SourceText(text.clone()));
        self
    }

    /// A span covering a whole file, for errors with no better place (a missing file).
    pub fn file_only(file: &Path) -> Span {
        Span::new(Arc::new(file.to_path_buf()), 0, 0, 0, 0)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier, e.g. `stack::unknown_field`.
    pub code: &'static str,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// Field path inside the stack, e.g. `resources.root_ca.properties.validity`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Resource address, when the diagnostic is about one resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            summary: summary.into(),
            detail: None,
            help: None,
            span: None,
            field: None,
            address: None,
        }
    }

    pub fn warning(code: &'static str, summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, summary)
        }
    }

    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    #[must_use]
    pub fn with_span(mut self, span: Span) -> Self {
        self.span = Some(span);
        self
    }

    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    #[must_use]
    pub fn with_address(mut self, address: impl Into<String>) -> Self {
        self.address = Some(address.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// One-line form: `error[code]: file:line:col: summary (field)`. Used in logs and tests;
/// the CLI renders the richer form in [`render`].
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}[{}]: ", self.code)?;
        if let Some(span) = &self.span {
            write!(f, "{span}: ")?;
        }
        write!(f, "{}", self.summary)?;
        if let Some(field) = &self.field {
            write!(f, " (at {field})")?;
        } else if let Some(address) = &self.address {
            write!(f, " (resource {address})")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, "\n  {detail}")?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// A collection of diagnostics, the usual return companion of fallible engine work.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics(Vec::new())
    }
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }
    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.is_error())
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Self {
        Diagnostics(vec![d])
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Suggests the candidate closest to `input`, if one is close enough to be a typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(input, c), c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c.to_string())
}

/// Renders diagnostics for a terminal: a miette report with the source excerpt when the
/// span carries the loaded text, otherwise the one-line form.
pub fn render(diags: &Diagnostics, color: bool) -> String {
    let mut out = String::new();
    for d in diags.iter() {
        out.push_str(&render_one(d, color));
        out.push('\n');
    }
    out
}

fn render_one(d: &Diagnostic, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

    let d = &printable(d);
    let Some(span) = d.span.as_ref().filter(|s| s.line > 0) else {
        return d.to_string();
    };
    let Some(SourceText(source)) = &span.source else {
        return d.to_string();
    };
    if span.offset + span.len > source.len() || !snippet_is_printable(source, span.offset) {
        return d.to_string();
    }
    let report = MietteDiagnostic {
        header: headline(d),
        help: d.help.clone(),
        source: NamedSource::new(span.file.display().to_string(), source.to_string()),
        labels: vec![LabeledSpan::new(
            d.detail.clone(),
            span.offset,
            span.len.max(1),
        )],
        severity: d.severity,
    };
    let mut theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // The headline already says error or warning.
    theme.characters.error = String::new();
    theme.characters.warning = String::new();
    let mut out = String::new();
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_wrap_lines(false);
    if handler.render_report(&mut out, &report).is_err() {
        return d.to_string();
    }
    out
}

/// Longest text of one message part, and longest source line shown, in characters: a
/// message quotes input, and input can be hostile (a 4 MB name, a 6 MB line).
const MAX_SHOWN: usize = 400;

/// The diagnostic as it may reach a terminal: control characters from the input (an
/// escape sequence in a quoted YAML key) escaped, and very long quotes cut.
fn printable(d: &Diagnostic) -> Diagnostic {
    let clean = |text: &str| {
        let mut out = String::new();
        for (i, c) in text.chars().enumerate() {
            if i == MAX_SHOWN {
                out.push_str(&format!(
                    "... ({} more characters)",
                    text.chars().count() - MAX_SHOWN
                ));
                break;
            }
            match c {
                '\n' => out.push(c),
                c if c.is_control() => out.extend(c.escape_default()),
                c => out.push(c),
            }
        }
        out
    };
    Diagnostic {
        summary: clean(&d.summary),
        detail: d.detail.as_deref().map(clean),
        help: d.help.as_deref().map(clean),
        field: d.field.as_deref().map(clean),
        address: d.address.as_deref().map(clean),
        ..d.clone()
    }
}

/// Whether the lines around `offset` can be shown as they are: short, and without
/// control characters other than tabs.
fn snippet_is_printable(source: &str, offset: usize) -> bool {
    if !source.is_char_boundary(offset) {
        return false;
    }
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    source[start..]
        .lines()
        .take(3)
        .chain(source[..start].lines().rev().take(2))
        .all(|line| {
            line.chars().count() <= MAX_SHOWN && !line.chars().any(|c| c.is_control() && c != '\t')
        })
}

/// The first line of the one-line form: level, code, place, summary and field.
fn headline(d: &Diagnostic) -> String {
    let full = Diagnostic {
        detail: None,
        help: None,
        ..d.clone()
    };
    full.to_string()
}

/// Adapter that shows a [`Diagnostic`] through miette's renderer: our headline, then
/// the source snippet with the detail as the label, then the help.
#[derive(Debug)]
struct MietteDiagnostic {
    header: String,
    help: Option<String>,
    source: miette::NamedSource<String>,
    labels: Vec<miette::LabeledSpan>,
    severity: Severity,
}

impl fmt::Display for MietteDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header)
    }
}

impl std::error::Error for MietteDiagnostic {}

impl miette::Diagnostic for MietteDiagnostic {
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["validity", "subject", "kind"];
        assert_eq!(did_you_mean("validty", names), Some("validity".into()));
        assert_eq!(did_you_mean("zzzz", names), None);
    }

    #[test]
    fn rendering_keeps_the_one_line_headline_and_shows_the_source() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.yaml");
        let text = Arc::new("stack: s\nresources:\n  a:\n    type: core.nul\n".to_string());
        let d = Diagnostic::error("stack::unknown_type", "unknown resource type \"core.nul\"")
            .with_span(Span::new(Arc::new(file.clone()), 4, 11, 35, 8).with_source(&text))
            .with_field("resources.a.type")
            .with_detail("not a type any provider serves")
            .with_help("did you mean `core.null`?");
        let text = render(&Diagnostics::from(d), false);
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap();
        assert!(
            first.contains(&format!(
                "error[stack::unknown_type]: {}:4:11: unknown resource type",
                file.display()
            )),
            "{text}"
        );
        assert!(text.contains("type: core.nul"), "snippet: {text}");
        assert!(text.contains("not a type any provider serves"), "{text}");
        assert!(text.contains("did you mean `core.null`?"), "{text}");
    }

    #[test]
    fn the_excerpt_comes_from_the_text_as_loaded_not_the_file_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, "stack: s\nresourcez: {}\n").unwrap();
        let (stack, diags) =
            crate::config::load::load_file(&file, &crate::provider::Registry::builtin());
        assert!(stack.is_none() && diags.has_errors(), "{diags}");
        // Edited since: the lines there now are not the ones the diagnostic is about.
        std::fs::write(&file, "# edited\nstack: s\nresources: {}\n").unwrap();
        let text = render(&diags, false);
        assert!(text.contains("resourcez: {}"), "the loaded line: {text}");
        assert!(
            !text.contains("# edited"),
            "not the file as it is now: {text}"
        );
        // Deleted since: the excerpt still shows.
        std::fs::remove_file(&file).unwrap();
        assert_eq!(render(&diags, false), text);
    }

    #[test]
    fn a_span_without_loaded_text_renders_the_one_line_form() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.yaml");
        std::fs::write(&file, "stack: s\nresourcez: {}\n").unwrap();
        let d = Diagnostic::error("stack::unknown_field", "unknown field \"resourcez\"")
            .with_span(Span::new(Arc::new(file), 2, 1, 9, 9));
        assert_eq!(
            render(&Diagnostics::from(d.clone()), false),
            format!("{d}\n")
        );
    }

    #[test]
    fn one_line_form_names_place_and_field() {
        let d = Diagnostic::error("stack::unknown_field", "unknown field \"validty\"")
            .with_span(Span::new(Arc::new("s.yaml".into()), 3, 7, 20, 7))
            .with_field("resources.a.properties.validty")
            .with_help("did you mean \"validity\"?");
        let text = d.to_string();
        assert!(text.starts_with("error[stack::unknown_field]: s.yaml:3:7: unknown field"));
        assert!(text.contains("(at resources.a.properties.validty)"));
        assert!(text.ends_with("help: did you mean \"validity\"?"));
    }
}

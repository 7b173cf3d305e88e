//! Appending a Markdown report to a GitHub Actions job summary: the file that
//! `GITHUB_STEP_SUMMARY` names, which GitHub shows on the run's page and refuses past
//! 1 MiB per step.

use std::io::Write;
use std::path::{Path, PathBuf};

/// GitHub's limit on one step's summary.
pub const STEP_SUMMARY_LIMIT: usize = 1024 * 1024;

pub const ENV: &str = "GITHUB_STEP_SUMMARY";

#[derive(Debug, thiserror::Error)]
pub enum StepSummaryError {
    #[error(
        "--step-summary needs {ENV}, which is not set: GitHub Actions sets it in each step; \
         elsewhere, leave out --step-summary and save the output of `--format markdown`"
    )]
    Unset,
    #[error(
        "cannot add the report to the job summary {}: it already holds {held} bytes and \
         the report's summary alone needs {needed} more, over GitHub's limit of \
         {STEP_SUMMARY_LIMIT} bytes per step; write fewer summaries in this step",
        path.display()
    )]
    Full {
        path: PathBuf,
        held: usize,
        needed: usize,
    },
    #[error("cannot write the job summary {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Where the job summary is: the value of `GITHUB_STEP_SUMMARY` as given (`None` when
/// unset or empty), checked before any work is done.
pub fn target(value: Option<std::ffi::OsString>) -> Result<PathBuf, StepSummaryError> {
    value
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .ok_or(StepSummaryError::Unset)
}

/// Appends the report to `path`. `render(budget)` gives the Markdown within `budget`
/// bytes (its summary whole, resource sections left out past it); the budget is the
/// room left of the step's 1 MiB after what earlier commands of the step wrote.
pub fn append(path: &Path, render: impl Fn(usize) -> String) -> Result<(), StepSummaryError> {
    let io = |source| StepSummaryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let held = match std::fs::metadata(path) {
        Ok(m) => usize::try_from(m.len()).unwrap_or(usize::MAX),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(io(e)),
    };
    let room = STEP_SUMMARY_LIMIT.saturating_sub(held);
    // A blank line first, so the report starts a block of its own after earlier text.
    let separator = if held > 0 { "\n" } else { "" };
    let text = format!(
        "{separator}{}",
        render(room.saturating_sub(separator.len()))
    );
    if text.len() > room {
        return Err(StepSummaryError::Full {
            path: path.to_path_buf(),
            held,
            needed: text.len(),
        });
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_or_empty_variable_is_an_error_that_says_what_to_do() {
        for value in [None, Some("".into())] {
            let err = target(value).unwrap_err();
            assert!(matches!(err, StepSummaryError::Unset));
            assert!(err.to_string().contains("GITHUB_STEP_SUMMARY"), "{err}");
        }
        assert_eq!(
            target(Some("/x/s.md".into())).unwrap(),
            PathBuf::from("/x/s.md")
        );
    }

    #[test]
    fn the_report_is_appended_within_the_room_left_of_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "x".repeat(STEP_SUMMARY_LIMIT - 100)).unwrap();
        let budgets = std::cell::RefCell::new(Vec::new());
        append(&path, |budget| {
            budgets.borrow_mut().push(budget);
            "report\n".to_string()
        })
        .unwrap();
        assert_eq!(*budgets.borrow(), vec![99]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with("x\nreport\n"),
            "{}",
            &text[text.len() - 20..]
        );
        assert!(text.len() <= STEP_SUMMARY_LIMIT);
    }

    #[test]
    fn a_report_whose_summary_does_not_fit_is_refused_and_nothing_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.md");
        std::fs::write(&path, "x".repeat(STEP_SUMMARY_LIMIT - 10)).unwrap();
        let err = append(&path, |_| "a summary longer than ten bytes\n".into()).unwrap_err();
        assert!(matches!(err, StepSummaryError::Full { .. }), "{err}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len() as usize,
            STEP_SUMMARY_LIMIT - 10
        );
    }
}

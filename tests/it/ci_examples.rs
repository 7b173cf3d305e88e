//! The example pipelines in examples/ci/ run trustplane commands that exist: every
//! `trustplane ...` line of their scripts is parsed by the binary itself (with `--help`
//! appended, so nothing runs), which rejects an unknown subcommand, a misspelled flag or
//! a value a flag does not take.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::common::{bin, repo_root};

/// The pipelines of one stack, with its state in S3 so that they run on hosted runners.
const STACK_EXAMPLES: [&str; 2] = [
    "examples/ci/github-actions.yml",
    "examples/ci/gitlab-ci.yml",
];

/// The pipelines of a fleet, with its states in S3 too.
const FLEET_EXAMPLES: [&str; 2] = [
    "examples/ci/github-actions-fleet.yml",
    "examples/ci/gitlab-ci-fleet.yml",
];

/// Every shell script of a pipeline file: GitHub's `run`, GitLab's `script`,
/// `before_script` and `after_script`, wherever they sit.
fn scripts(doc: &serde_yaml::Value, out: &mut Vec<String>) {
    match doc {
        serde_yaml::Value::Mapping(m) => {
            for (k, v) in m {
                let is_script = matches!(
                    k.as_str(),
                    Some("run" | "script" | "before_script" | "after_script")
                );
                match v {
                    serde_yaml::Value::String(s) if is_script => out.push(s.clone()),
                    serde_yaml::Value::Sequence(items) if is_script => {
                        out.extend(items.iter().filter_map(|i| i.as_str()).map(str::to_string))
                    }
                    _ => scripts(v, out),
                }
            }
        }
        serde_yaml::Value::Sequence(items) => items.iter().for_each(|i| scripts(i, out)),
        _ => {}
    }
}

/// The words of each `trustplane` command in a script, as the shell would split them,
/// up to the end of the command (a redirection, pipe, `;`, `&&` or comment).
fn commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let words = shell_words(line);
        for (i, w) in words.iter().enumerate() {
            let at_command = i == 0
                || ["$(", "&&", "||", ";", "|", "then", "do", "!"].contains(&words[i - 1].as_str());
            if w == "trustplane" && at_command {
                let end = words[i + 1..]
                    .iter()
                    .position(|w| is_operator(w))
                    .map_or(words.len(), |p| i + 1 + p);
                out.push(words[i + 1..end].to_vec());
            }
        }
    }
    out
}

fn is_operator(w: &str) -> bool {
    ["|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "#", ")"].contains(&w)
}

/// Splits a line into words and operators; quotes are removed, `$VAR` kept as written.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    let flush = |word: &mut String, quoted: &mut bool, words: &mut Vec<String>| {
        if !word.is_empty() || *quoted {
            words.push(std::mem::take(word));
        }
        *quoted = false;
    };
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' => {
                quoted = true;
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    word.push(q);
                }
            }
            ' ' | '\t' => flush(&mut word, &mut quoted, &mut words),
            '#' if word.is_empty() => {
                flush(&mut word, &mut quoted, &mut words);
                words.push("#".into());
                break;
            }
            '$' if chars.peek() == Some(&'(') => {
                chars.next();
                flush(&mut word, &mut quoted, &mut words);
                words.push("$(".into());
            }
            '|' | '&' | ';' | '>' | '<' | ')' => {
                let mut op = if word.chars().all(|d| d.is_ascii_digit()) && c == '>' {
                    std::mem::take(&mut word) // `2>`: the descriptor belongs to the operator
                } else {
                    flush(&mut word, &mut quoted, &mut words);
                    String::new()
                };
                op.push(c);
                while let Some(&n) = chars.peek() {
                    if matches!(n, '|' | '&' | '>') || (op.ends_with('&') && n.is_ascii_digit()) {
                        op.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                words.push(op);
            }
            c => word.push(c),
        }
    }
    flush(&mut word, &mut quoted, &mut words);
    words
}

/// Parses `trustplane ARGS --help` with the binary: Ok when every subcommand, flag and
/// value is accepted.
fn accepted(args: &[String]) -> Result<(), String> {
    let out = std::process::Command::new(bin())
        .args(args)
        .arg("--help")
        .env("NO_COLOR", "1")
        .output()
        .expect("run trustplane");
    let stdout = String::from_utf8_lossy(&out.stdout);
    if out.status.success() && stdout.contains("Usage: trustplane") {
        Ok(())
    } else {
        Err(format!(
            "`trustplane {}` is refused:\n{}{}",
            args.join(" "),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A pipeline file: its commands, and its pipeline-wide variables (GitHub's `env`,
/// GitLab's `variables`).
struct Example {
    commands: Vec<Vec<String>>,
    variables: BTreeMap<String, String>,
}

impl Example {
    fn read(path: &str) -> Example {
        let file = repo_root().join(path);
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{path}: {e}"));
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"));
        let mut all = Vec::new();
        scripts(&doc, &mut all);
        let variables = ["env", "variables"]
            .iter()
            .filter_map(|k| doc.get(*k)?.as_mapping())
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
            .collect();
        Example {
            commands: all.iter().flat_map(|s| commands(s)).collect(),
            variables,
        }
    }

    /// The first command that starts with `words` and carries every one of `flags` (a
    /// flag and its value as one string, `"--out prod.plan"`).
    fn find(&self, words: &[&str], flags: &[&str]) -> Option<&Vec<String>> {
        self.commands.iter().find(|c| {
            c.len() >= words.len()
                && c.iter().zip(words).all(|(a, b)| a == b)
                && flags
                    .iter()
                    .all(|f| c.windows(f.split(' ').count()).any(|w| w.join(" ") == *f))
        })
    }

    fn has(&self, words: &[&str], flags: &[&str]) -> bool {
        self.find(words, flags).is_some()
    }

    /// The value of `flag` in `command`, a `$VAR` replaced by the pipeline's variable.
    fn flag_value(&self, command: &[String], flag: &str) -> Option<String> {
        let i = command.iter().position(|w| w == flag)?;
        let value = command.get(i + 1)?;
        Some(match value.strip_prefix('$') {
            Some(var) => self.variables.get(var)?.clone(),
            None => value.clone(),
        })
    }

    /// Every command is accepted by the binary.
    fn check_accepted(&self, path: &str) {
        let errors: Vec<String> = self
            .commands
            .iter()
            .filter_map(|c| accepted(c).err())
            .collect();
        assert!(errors.is_empty(), "{path}:\n{}", errors.join("\n"));
    }
}

#[test]
fn every_trustplane_command_of_the_example_pipelines_exists_with_its_flags() {
    assert!(Path::new(&repo_root().join("examples/ci")).is_dir());
    for path in STACK_EXAMPLES {
        let example = Example::read(path);
        example.check_accepted(path);
        let commands = &example.commands;
        // The three pipelines of the examples are all there.
        assert!(
            example.has(&["plan"], &["--out prod.plan", "--format markdown"]),
            "{path}: {commands:?}"
        );
        assert!(
            example.has(&["apply", "prod.plan"], &[]),
            "{path}: {commands:?}"
        );
        assert!(
            example.has(&["drift"], &["--format junit"]),
            "{path}: {commands:?}"
        );
        let subcommands: BTreeSet<&str> = commands
            .iter()
            .filter_map(|c| c.first())
            .map(String::as_str)
            .collect();
        assert!(subcommands.len() >= 3, "{path}: {subcommands:?}");
        // Every command that reaches the state finds it in S3, so no runner keeps it.
        for c in commands
            .iter()
            .filter(|c| ["plan", "apply", "drift"].contains(&c.first().map_or("", String::as_str)))
        {
            let state = example.flag_value(c, "--state");
            assert!(
                state.as_deref().is_some_and(|s| s.starts_with("s3://")),
                "{path}: `trustplane {}` keeps its state in {state:?}, not in S3",
                c.join(" ")
            );
        }
    }
}

#[test]
fn the_fleet_pipelines_plan_apply_the_reviewed_plan_and_report_drift() {
    for path in FLEET_EXAMPLES {
        let example = Example::read(path);
        example.check_accepted(path);
        let commands = &example.commands;
        let plan = example
            .find(
                &["fleet", "plan"],
                &["--format markdown", "--detailed-exitcode"],
            )
            .unwrap_or_else(|| panic!("{path}: no fleet plan in {commands:?}"));
        let out = example
            .flag_value(plan, "--out")
            .unwrap_or_else(|| panic!("{path}: the fleet plan is not saved: {plan:?}"));
        assert!(
            example.has(&["fleet", "apply", &out], &[]),
            "{path}: the saved plan {out} is not what is applied: {commands:?}"
        );
        let drift = example
            .find(&["fleet", "drift"], &["--format junit"])
            .unwrap_or_else(|| panic!("{path}: no fleet drift in {commands:?}"));
        // Plan and drift use one state root in S3, under which the rollout record lives
        // too, so no runner keeps it.
        let root = example.flag_value(plan, "--state");
        assert!(
            root.as_deref().is_some_and(|r| r.starts_with("s3://")),
            "{path}: the fleet's states are in {root:?}, not in S3"
        );
        assert_eq!(root, example.flag_value(drift, "--state"), "{path}");
        assert!(example.has(&["validate"], &[]), "{path}: {commands:?}");
    }
}

#[test]
fn the_check_refuses_a_misspelled_flag_or_value_and_an_unknown_command() {
    let script = "set +e\ntrustplane plan \"$STACK\" --var-file \"$VAR_FILE\" \\\n  --out prod.plan --detailed-exitcode --format markdown > plan.md 2>&1\ncode=$?";
    let found = commands(script);
    assert_eq!(
        found,
        [[
            "plan",
            "$STACK",
            "--var-file",
            "$VAR_FILE",
            "--out",
            "prod.plan",
            "--detailed-exitcode",
            "--format",
            "markdown"
        ]]
    );
    accepted(&found[0]).unwrap();
    for bad in [
        "trustplane plan s.yaml --detailed-exit-code",
        "trustplane drift s.yaml --format junti",
        "trustplane drfit s.yaml",
        "x=$(trustplane plan s.yaml --max-bytes lots)",
    ] {
        let found = commands(bad);
        assert_eq!(found.len(), 1, "{bad}");
        assert!(accepted(&found[0]).is_err(), "{bad} was accepted");
    }
    // Text that only names trustplane runs nothing.
    assert!(commands("gh run list --workflow trustplane.yml").is_empty());
    assert!(commands("echo checking with trustplane").is_empty());
}

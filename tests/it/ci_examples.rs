//! The example pipelines in examples/ci/ run trustplane commands that exist: every
//! `trustplane ...` line of their scripts is parsed by the binary itself (with `--help`
//! appended, so nothing runs), which rejects an unknown subcommand, a misspelled flag or
//! a value a flag does not take.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{bin, repo_root};

const EXAMPLES: [&str; 2] = [
    "examples/ci/github-actions.yml",
    "examples/ci/gitlab-ci.yml",
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

fn example_commands(path: &str) -> Vec<Vec<String>> {
    let file = repo_root().join(path);
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{path}: {e}"));
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"));
    let mut all = Vec::new();
    scripts(&doc, &mut all);
    all.iter().flat_map(|s| commands(s)).collect()
}

#[test]
fn every_trustplane_command_of_the_example_pipelines_exists_with_its_flags() {
    assert!(Path::new(&repo_root().join("examples/ci")).is_dir());
    for path in EXAMPLES {
        let commands = example_commands(path);
        let errors: Vec<String> = commands.iter().filter_map(|c| accepted(c).err()).collect();
        assert!(errors.is_empty(), "{path}:\n{}", errors.join("\n"));
        // The three pipelines of the examples are all there.
        let has = |sub: &str, flags: &[&str]| {
            commands.iter().any(|c| {
                c.first().map(String::as_str) == Some(sub)
                    && flags
                        .iter()
                        .all(|f| c.windows(f.split(' ').count()).any(|w| w.join(" ") == *f))
            })
        };
        assert!(
            has("plan", &["--out prod.plan", "--format markdown"]),
            "{path}: {commands:?}"
        );
        assert!(has("apply", &["prod.plan"]), "{path}: {commands:?}");
        assert!(has("drift", &["--format junit"]), "{path}: {commands:?}");
        let subcommands: BTreeSet<&str> = commands
            .iter()
            .filter_map(|c| c.first())
            .map(String::as_str)
            .collect();
        assert!(subcommands.len() >= 3, "{path}: {subcommands:?}");
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

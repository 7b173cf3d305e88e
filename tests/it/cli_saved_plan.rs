//! A saved plan is applied exactly as it was made: flags that would change it (variables,
//! --target, --replace, --refresh-only) are refused, naming the flag and why, and nothing
//! is applied.

use crate::common::Sandbox;

const STACK: &str = r#"
stack: site
variables:
  greeting:
    type: string
    default: hello
resources:
  marker:
    type: core.null
  page:
    type: core.file
    properties:
      path: out/page.txt
      content: "${var.greeting} from ${marker.id}\n"
"#;

#[test]
fn flags_a_saved_plan_cannot_honour_are_refused() {
    let s = Sandbox::new();
    s.write("site.yaml", STACK);
    s.write("vars.yaml", "greeting: howdy\n");
    s.run(&["plan", "site.yaml", "--out", "site.plan"]).ok();

    let refused: [(&[&str], &str); 5] = [
        (
            &["--var", "greeting=howdy"],
            "a saved plan was made with its own variables",
        ),
        (
            &["--var-file", "vars.yaml"],
            "a saved plan was made with its own variables",
        ),
        (
            &["--target", "page"],
            "a saved plan holds the changes chosen when it was made",
        ),
        (
            &["--replace", "marker"],
            "a saved plan holds the changes chosen when it was made",
        ),
        (
            &["--refresh-only"],
            "a saved plan applies the changes it holds, not live values",
        ),
    ];
    for (flags, why) in refused {
        let mut line = vec!["apply", "site.plan", "--auto-approve"];
        line.extend_from_slice(flags);
        let r = s.run(&line);
        assert_eq!(r.code, 1, "{flags:?}: {}", r.all());
        assert!(
            r.stderr.contains("apply::saved_plan_flag"),
            "{flags:?}: {}",
            r.all()
        );
        assert!(
            r.stderr
                .contains(&format!("{} cannot be used with the saved plan", flags[0])),
            "{flags:?}: {}",
            r.all()
        );
        assert!(r.stderr.contains(why), "{flags:?}: {}", r.all());
        assert!(
            !s.path("out/page.txt").exists(),
            "{flags:?}: nothing is applied"
        );
    }

    // Refusals touched nothing: the plan is not stale, and applies as it was made
    // (--auto-approve is accepted: a saved plan needs no confirmation anyway).
    s.run(&["apply", "site.plan", "--auto-approve"]).ok();
    assert!(s.read("out/page.txt").starts_with("hello from"));
}

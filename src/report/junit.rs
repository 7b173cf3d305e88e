//! Drift as JUnit XML, for the test view of any CI system: one test suite per stack
//! (per member in a fleet), one test case per resource in state, and each drifted
//! resource a failure whose text is its attribute diff.
//!
//! Written with quick-xml, which escapes text and attribute values; characters that XML
//! 1.0 cannot hold at all (control characters a file's content may carry) are replaced
//! here first, since no escaping makes them legal.

use std::collections::BTreeMap;

use quick_xml::escape::partial_escape;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

use super::entries::{drift_entries, Entry};
use super::{Failed, Section};
use crate::ops::drift::DriftReport;

pub fn drift(sections: &[Section<'_, DriftReport>]) -> String {
    let tests: usize = sections.iter().map(|s| s.report.checked.len()).sum();
    let failures: usize = sections.iter().map(|s| s.report.drifts.len()).sum();
    let mut w = Xml(Writer::new_with_indent(Vec::new(), b' ', 2));
    w.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    w.start(
        "testsuites",
        &[
            ("name", "trustplane drift"),
            ("tests", &tests.to_string()),
            ("failures", &failures.to_string()),
        ],
    );
    for s in sections {
        suite(&mut w, s);
    }
    w.end("testsuites");
    let mut out = String::from_utf8(w.0.into_inner()).expect("the writer was given UTF-8");
    out.push('\n');
    out
}

/// A fleet's drift, in the order given: a suite per member as in [`drift`] (the trust
/// tier's too), and for a member whose drift could not be found a suite of one test case
/// in error, so the test view shows it broken rather than clean.
pub fn fleet_drift(units: &[Result<Section<'_, DriftReport>, Failed<'_>>]) -> String {
    let (mut tests, mut failures, mut errors) = (0, 0, 0);
    for u in units {
        match u {
            Ok(s) => {
                tests += s.report.checked.len();
                failures += s.report.drifts.len();
            }
            Err(_) => {
                tests += 1;
                errors += 1;
            }
        }
    }
    let mut w = Xml(Writer::new_with_indent(Vec::new(), b' ', 2));
    w.event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    w.start(
        "testsuites",
        &[
            ("name", "trustplane fleet drift"),
            ("tests", &tests.to_string()),
            ("failures", &failures.to_string()),
            ("errors", &errors.to_string()),
        ],
    );
    for u in units {
        match u {
            Ok(s) => suite(&mut w, s),
            Err(f) => error_suite(&mut w, f),
        }
    }
    w.end("testsuites");
    let mut out = String::from_utf8(w.0.into_inner()).expect("the writer was given UTF-8");
    out.push('\n');
    out
}

/// A member that could not be checked: one test case, `drift`, in error.
fn error_suite(w: &mut Xml, f: &Failed<'_>) {
    w.start(
        "testsuite",
        &[
            ("name", f.name),
            ("tests", "1"),
            ("failures", "0"),
            ("errors", "1"),
            ("skipped", "0"),
        ],
    );
    w.start(
        "testcase",
        &[("classname", "trustplane.fleet"), ("name", "drift")],
    );
    let message = f.error.lines().next().unwrap_or("failed");
    w.start("error", &[("type", "error"), ("message", message)]);
    w.text(&f.error);
    w.end("error");
    w.end("testcase");
    w.end("testsuite");
}

fn suite(w: &mut Xml, s: &Section<'_, DriftReport>) {
    let r = s.report;
    let drifted: BTreeMap<String, Entry> = drift_entries(r)
        .into_iter()
        .map(|e| (e.address.clone(), e))
        .collect();
    w.start(
        "testsuite",
        &[
            ("name", s.name.unwrap_or(&r.stack)),
            ("tests", &r.checked.len().to_string()),
            ("failures", &r.drifts.len().to_string()),
            ("errors", "0"),
            ("skipped", "0"),
        ],
    );
    w.start("properties", &[]);
    for (name, value) in [("stack", &r.stack), ("workspace", &r.workspace)] {
        w.empty("property", &[("name", name), ("value", value)]);
    }
    w.end("properties");
    for checked in &r.checked {
        let attrs = [
            ("classname", checked.type_name.as_str()),
            ("name", checked.address.as_str()),
        ];
        match drifted.get(&checked.address) {
            None => w.empty("testcase", &attrs),
            Some(entry) => {
                w.start("testcase", &attrs);
                w.start(
                    "failure",
                    &[("type", "drift"), ("message", &failure_message(r, entry))],
                );
                let mut text = entry.headline.clone();
                for line in &entry.body {
                    text.push('\n');
                    text.push_str(line);
                }
                w.text(&text);
                w.end("failure");
                w.end("testcase");
            }
        }
    }
    w.end("testsuite");
}

/// One line: what happened and which attributes.
fn failure_message(r: &DriftReport, entry: &Entry) -> String {
    let drift = r.drifts.iter().find(|d| d.address == entry.address);
    match drift {
        Some(d) if d.gone => "deleted outside trustplane".to_string(),
        Some(d) => {
            let paths: Vec<&str> = d.changes.iter().map(|c| c.path.as_str()).collect();
            format!("changed outside trustplane: {}", paths.join(", "))
        }
        None => "changed outside trustplane".to_string(),
    }
}

/// A writer to memory, which cannot fail.
struct Xml(Writer<Vec<u8>>);

impl Xml {
    fn event(&mut self, e: Event<'_>) {
        self.0.write_event(e).expect("writing to memory");
    }

    fn tag<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
        let mut tag = BytesStart::new(name);
        for (k, v) in attrs {
            tag.push_attribute((*k, legal(&v.replace(['\n', '\r'], " ")).as_str()));
        }
        tag
    }

    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Start(Self::tag(name, attrs)));
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.event(Event::Empty(Self::tag(name, attrs)));
    }

    fn end(&mut self, name: &str) {
        self.event(Event::End(BytesEnd::new(name)));
    }

    fn text(&mut self, text: &str) {
        // Only `<` and `&` (and `>`, for `]]>`) need escaping in text; quotes stay readable.
        let text = legal(text);
        self.event(Event::Text(BytesText::from_escaped(partial_escape(&text))));
    }
}

/// `text` with every character XML 1.0 forbids (control characters other than tab and
/// line breaks, U+FFFE, U+FFFF) replaced by U+FFFD.
fn legal(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\t' | '\n' | '\r' => c,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => '\u{FFFD}',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::diff::FieldChange;
    use crate::report::testing::drift_report;
    use crate::value::Value;
    use quick_xml::events::Event;
    use quick_xml::Reader;

    /// (test case name, failure text) for every test case, read back by an XML parser.
    fn cases(xml: &str) -> Vec<(String, Option<String>)> {
        let mut reader = Reader::from_str(xml);
        let mut out = Vec::new();
        let mut in_failure = false;
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) | Event::Empty(e) if e.name().as_ref() == b"testcase" => {
                    let name = e
                        .try_get_attribute("name")
                        .unwrap()
                        .unwrap()
                        .unescape_value()
                        .unwrap()
                        .into_owned();
                    out.push((name, None));
                }
                Event::Start(e) if e.name().as_ref() == b"failure" => in_failure = true,
                Event::End(e) if e.name().as_ref() == b"failure" => in_failure = false,
                Event::Text(t) if in_failure => {
                    out.last_mut().unwrap().1 = Some(t.unescape().unwrap().into_owned());
                }
                Event::Eof => break,
                _ => {}
            }
        }
        out
    }

    #[test]
    fn one_case_per_resource_and_a_failure_per_drifted_one() {
        let report = drift_report("site", 5, 3);
        let xml = drift(&[Section::single(&report)]);
        assert!(
            xml.contains(r#"<testsuites name="trustplane drift" tests="5" failures="3">"#),
            "{xml}"
        );
        let cases = cases(&xml);
        assert_eq!(cases.len(), 5);
        let failed: Vec<&str> = cases
            .iter()
            .filter(|(_, f)| f.is_some())
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(failed, ["file_000", "file_001", "file_002"]);
        assert!(
            cases[0]
                .1
                .as_deref()
                .unwrap()
                .contains("- line 0\n          + edited 0"),
            "{:?}",
            cases[0]
        );
        assert!(
            xml.contains(r#"message="deleted outside trustplane""#),
            "{xml}"
        );
    }

    #[test]
    fn markup_in_values_is_escaped_and_illegal_characters_replaced() {
        let mut report = drift_report("site", 1, 1);
        report.drifts[0].changes = vec![FieldChange {
            path: "content".into(),
            before: Some(Value::from("<a href=\"x\">&amp;</a>]]>\u{7}\n")),
            after: Some(Value::from("plain\n")),
        }];
        let xml = drift(&[Section::single(&report)]);
        let cases = cases(&xml);
        let text = cases[0].1.as_deref().unwrap();
        assert!(
            text.contains("- <a href=\"x\">&amp;</a>]]>\u{FFFD}"),
            "{text}"
        );
        assert!(!xml.contains('\u{7}'));
    }

    #[test]
    fn a_fleet_member_that_failed_is_a_suite_in_error_in_its_place() {
        let (trust, us) = (drift_report("trust", 2, 0), drift_report("mesh", 3, 2));
        let units = [
            Ok(Section::named("(trust)", &trust)),
            Err(Failed {
                name: "eu",
                error: "error: cannot reach <eu> & co\nsecond line".into(),
            }),
            Ok(Section::named("us", &us)),
        ];
        let xml = fleet_drift(&units);
        assert!(
            xml.contains(
                r#"<testsuites name="trustplane fleet drift" tests="6" failures="2" errors="1">"#
            ),
            "{xml}"
        );
        let eu = xml.find(r#"<testsuite name="eu" tests="1" failures="0" errors="1""#);
        let (trust_at, us_at) = (xml.find(r#"name="(trust)""#), xml.find(r#"name="us""#));
        assert!(trust_at < eu && eu < us_at, "in the order given: {xml}");
        assert!(
            xml.contains(
                r#"<error type="error" message="error: cannot reach &lt;eu&gt; &amp; co">"#
            ),
            "{xml}"
        );
        let cases = cases(&xml);
        assert_eq!(cases.len(), 6);
        assert_eq!(cases.iter().filter(|(_, f)| f.is_some()).count(), 2);
    }

    #[test]
    fn a_fleet_has_a_suite_per_member() {
        let (eu, us) = (drift_report("mesh", 2, 1), drift_report("mesh", 3, 0));
        let xml = drift(&[Section::named("eu", &eu), Section::named("us", &us)]);
        assert!(xml.contains(r#"tests="5" failures="1">"#), "{xml}");
        assert!(
            xml.contains(r#"<testsuite name="eu" tests="2" failures="1""#),
            "{xml}"
        );
        assert!(
            xml.contains(r#"<testsuite name="us" tests="3" failures="0""#),
            "{xml}"
        );
        assert_eq!(cases(&xml).len(), 5);
    }
}

//! `check --junit`: JUnit XML, which GitLab, Jenkins and most CI systems show natively.

use std::fmt::Write as _;

use super::check_report::CheckReport;

/// JUnit XML: one testsuite, one testcase per target, a failure per unhealthy one.
pub(crate) fn junit(report: &CheckReport) -> String {
    let secs = |ms: u64| format!("{:.3}", ms as f64 / 1000.0);
    let stamp = crate::model::rfc3339::timestamp_seconds(report.time).trim_end_matches('Z').to_string();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let (n, failed, total) = (report.summary.targets, report.summary.failed, secs(report.duration_ms));
    let _ = writeln!(
        xml,
        "<testsuites name=\"healwatch check\" tests=\"{n}\" failures=\"{failed}\" errors=\"0\" time=\"{total}\">"
    );
    let _ = writeln!(
        xml,
        "  <testsuite name=\"healwatch check\" tests=\"{n}\" failures=\"{failed}\" errors=\"0\" skipped=\"0\" time=\"{total}\" timestamp=\"{stamp}\">"
    );
    for t in &report.targets {
        let time = secs(t.time_to_healthy_ms.unwrap_or(report.duration_ms));
        let name = escape(&t.name);
        match &t.error {
            None => {
                let _ = writeln!(xml, "    <testcase name=\"{name}\" classname=\"healwatch.check\" time=\"{time}\"/>");
            }
            Some(error) => {
                let _ = writeln!(xml, "    <testcase name=\"{name}\" classname=\"healwatch.check\" time=\"{time}\">");
                let _ = writeln!(
                    xml,
                    "      <failure type=\"unhealthy\" message=\"{}\">{} ({}) was not healthy within {} ms after {} checks: {}</failure>",
                    escape(error),
                    name,
                    escape(&t.url),
                    report.wait_ms,
                    t.checks,
                    escape(error)
                );
                let _ = writeln!(xml, "    </testcase>");
            }
        }
    }
    xml.push_str("  </testsuite>\n</testsuites>\n");
    xml
}

/// Text for XML content and attributes: markup escaped, and every character XML 1.0
/// has no place for (control characters but tab and newline, U+FFFE, U+FFFF) replaced
/// by U+FFFD, so no input can make the report one that parsers reject.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 has no place for other control characters.
            c if c.is_control() && !matches!(c, '\n' | '\t') => out.push('\u{fffd}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::check_report::fixture::report;

    #[test]
    fn junit_names_every_target_and_escapes() {
        let xml = junit(&report());
        assert!(xml.contains("<testcase name=\"web\" classname=\"healwatch.check\" time=\"1.200\"/>"), "{xml}");
        assert!(xml.contains("name=\"db&lt;1&gt;\"") && xml.contains("<failure type=\"unhealthy\""), "{xml}");
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 2000, failure_persistence: None, ..Default::default()
        })]
        /// Whatever a target's name, URL and error hold (any Unicode, from a TCP answer,
        /// an exec's output, a HEALTHCHECK's status), the report parses as XML, and what
        /// XML can hold reads back as it was.
        #[test]
        fn any_text_makes_well_formed_xml(name in ".*", url in ".*", error in "\\PC*|.*") {
            let mut report = report();
            report.targets[1].name = name.clone();
            report.targets[1].url = url;
            report.targets[1].error = Some(error);
            let xml = junit(&report);
            let doc = roxmltree::Document::parse(&xml);
            proptest::prop_assert!(doc.is_ok(), "{:?}\n{xml}", doc.err());
            let doc = doc.unwrap();
            let case = doc.descendants().filter(|n| n.has_tag_name("testcase")).nth(1).unwrap();
            // What XML keeps in an attribute as it is (tab and newline become spaces there).
            let kept = |c: char| !c.is_control() && !matches!(c, '\u{fffe}' | '\u{ffff}');
            if name.chars().all(kept) {
                proptest::prop_assert_eq!(case.attribute("name"), Some(name.as_str()));
            }
        }
    }

    #[test]
    fn characters_xml_has_no_place_for_are_replaced() {
        assert_eq!(escape("a\u{1}b\u{fffe}c\u{ffff}d\te"), "a\u{fffd}b\u{fffd}c\u{fffd}d\te");
        assert_eq!(escape("<&\"'>"), "&lt;&amp;&quot;&apos;&gt;");
    }
}

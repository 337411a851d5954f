//! GitHub Actions: `::error` workflow commands and a step-summary table for `check`.

use std::fmt::Write as _;

use super::check_report::{CheckOutcome, CheckReport};
use crate::model::{one_line, printable};

/// One `::error` workflow command per target that did not become healthy.
pub(crate) fn annotations(report: &CheckReport) -> String {
    let data = |s: &str| s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A");
    let property = |s: &str| data(s).replace(':', "%3A").replace(',', "%2C");
    let mut out = String::new();
    for t in report.targets.iter().filter(|t| t.outcome != CheckOutcome::Healthy) {
        let _ = writeln!(
            out,
            "::error title={}::{}",
            property(&format!("healwatch: {} not healthy", one_line(&t.name, 500))),
            data(&printable(&format!("{} ({}): {}", t.name, t.url, t.error.as_deref().unwrap_or("unhealthy"))))
        );
    }
    out
}

/// A Markdown summary for the job's page.
pub(crate) fn summary(report: &CheckReport) -> String {
    let cell = |s: &str| one_line(&s.replace('\n', " "), 1000).replace('|', "\\|");
    let mut md = format!(
        "### healwatch check: {} of {} healthy\n\n| target | outcome | time to healthy | error |\n| --- | --- | --- | --- |\n",
        report.summary.healthy, report.summary.targets
    );
    for t in &report.targets {
        let icon = if t.outcome == CheckOutcome::Healthy { "✅" } else { "❌" };
        let time = t.time_to_healthy_ms.map_or_else(|| "never".to_string(), |ms| format!("{ms} ms"));
        let _ = writeln!(
            md,
            "| {} | {icon} {} | {time} | {} |",
            cell(&t.name),
            t.outcome.as_str(),
            cell(t.error.as_deref().unwrap_or(""))
        );
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::check_report::fixture::report;

    #[test]
    fn github_commands_are_escaped() {
        let text = annotations(&report());
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(text.starts_with("::error title=healwatch%3A db<1> not healthy::"), "{text}");
        assert!(text.contains("a, b%0Ac"), "{text}");
        let md = summary(&report());
        assert!(md.contains("| web | ✅ healthy | 1200 ms |") && md.contains("❌ unhealthy | never |"), "{md}");
    }
}

//! The consumer verdict as a detector of copied labels (`tagtrail_bench::detector`): one run per
//! read rate, printed as the Markdown tables BENCHMARKS.md keeps.
//!
//! ```text
//! detector [--genuine N] [--copies N] [--seed S] [--rates 0.66,0.75,0.8,0.9,0.95,0.99]
//! ```

#![allow(clippy::print_stdout, clippy::print_stderr)] // A command-line driver: its report is its output.

use anyhow::Context;
use tagtrail_bench::detector::{CopyKind, Entry, Report, Settings, run};

fn main() -> anyhow::Result<()> {
    let mut genuine = 10_000;
    let mut copies = 250;
    let mut seed = 2026;
    let mut rates = vec![0.66, 0.75, 0.8, 0.9, 0.95, 0.99];
    let mut arguments = std::env::args().skip(1);
    while let Some(flag) = arguments.next() {
        let value = arguments
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--genuine" => genuine = value.parse().context("--genuine")?,
            "--copies" => copies = value.parse().context("--copies")?,
            "--seed" => seed = value.parse().context("--seed")?,
            "--rates" => {
                rates = value
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--rates")?;
            }
            other => anyhow::bail!(
                "unknown flag {other}: detector [--genuine N] [--copies N] [--seed S] [--rates R,R,...]"
            ),
        }
    }
    println!(
        "{genuine} genuine items and {copies} copies of each kind at each entry per read rate, seed {seed}\n"
    );
    let mut header = String::from("| read rate | genuine flagged |");
    let mut rule = String::from("| --- | --- |");
    for kind in CopyKind::ALL {
        header.push_str(&format!(" {} caught |", kind.name()));
        rule.push_str(" --- |");
    }
    println!("{header}\n{rule}");
    let mut reports = Vec::new();
    for read_rate in rates {
        let started = std::time::Instant::now();
        let report = run(Settings {
            genuine,
            copies,
            read_rate,
            seed,
        });
        let mut row = format!(
            "| {read_rate} | {} of {} ({:.2} %) |",
            report.genuine_flagged,
            report.genuine,
            percent(report.genuine_flagged, report.genuine)
        );
        for kind in CopyKind::ALL {
            let (seen, caught, last) = report.caught(kind);
            row.push_str(&format!(
                " {caught} of {seen} ({:.1} %); later {:.1} % |",
                percent(caught, seen),
                percent(last, seen)
            ));
        }
        println!("{row}");
        eprintln!(
            "read rate {read_rate}: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        reports.push((read_rate, report));
    }
    println!(
        "\nBy where the copy entered: caught at its second observation, of those observed twice \
         (in brackets: caught by its last observation):\n"
    );
    let mut header = String::from("| read rate | copy |");
    let mut rule = String::from("| --- | --- |");
    for entry in Entry::ALL {
        header.push_str(&format!(" {} |", entry.name()));
        rule.push_str(" --- |");
    }
    println!("{header}\n{rule}");
    for (read_rate, report) in &reports {
        for kind in CopyKind::ALL {
            let mut row = format!("| {read_rate} | {} |", kind.name());
            for entry in Entry::ALL {
                let (seen, caught, last) = report
                    .copies
                    .get(&(kind, entry))
                    .copied()
                    .unwrap_or_default();
                row.push_str(&format!(" {caught} of {seen} ({last}) |"));
            }
            println!("{row}");
        }
    }
    println!(
        "\nBy when the copy appeared: caught at its second observation, of those observed twice; \
         copies made of each kind, and how many were observed twice:\n"
    );
    println!("| read rate | copy | made | observed twice | before the sale | after the sale |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (read_rate, report) in &reports {
        for kind in CopyKind::ALL {
            let split = |after: bool| {
                let (seen, caught) = report
                    .by_sale
                    .get(&(kind, after))
                    .copied()
                    .unwrap_or_default();
                format!("{caught} of {seen} ({:.1} %)", percent(caught, seen))
            };
            println!(
                "| {read_rate} | {} | {} | {} | {} | {} |",
                kind.name(),
                report.made.get(&kind).copied().unwrap_or_default(),
                report.caught(kind).0,
                split(false),
                split(true)
            );
        }
    }
    println!("\nWhich rules flagged (a copy or an item may be flagged by several):\n");
    for (read_rate, report) in &reports {
        println!("- read rate {read_rate}: {}", rules(report));
    }
    Ok(())
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 * 100.0 / whole as f64
}

fn rules(report: &Report) -> String {
    let mut parts = Vec::new();
    for kind in CopyKind::ALL {
        let found: Vec<String> = report
            .caught_by
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, code), count)| format!("{code} {count}"))
            .collect();
        parts.push(format!("{}: {}", kind.name(), found.join(", ")));
    }
    let wrongly: Vec<String> = report
        .flagged_by
        .iter()
        .map(|(code, count)| format!("{code} {count}"))
        .collect();
    parts.push(format!(
        "genuine items: {}",
        if wrongly.is_empty() {
            "none".to_owned()
        } else {
            wrongly.join(", ")
        }
    ));
    parts.join("; ")
}

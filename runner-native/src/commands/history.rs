//! `tug history`: the operations recorded in the state directory.

use crate::cli::{HistoryAction, HistoryArgs};
use crate::exit_code::CliError;
use crate::history::{self, Record};
use crate::progress::bytes;

pub fn run(args: HistoryArgs) -> Result<(), CliError> {
    let Some(dir) = history::dir() else {
        return Err(CliError::Input(
            "no state directory: set TUG_STATE_DIR, XDG_STATE_HOME or HOME".into(),
        ));
    };
    let (records, bad) = history::read(&dir)
        .map_err(|e| CliError::Input(format!("{}: {e}", dir.join(history::FILE).display())))?;
    if bad > 0 {
        eprintln!(
            "tug: warning: {bad} unreadable line(s) in {} skipped",
            dir.join(history::FILE).display()
        );
    }
    match args.action {
        Some(HistoryAction::Show { id, json }) => show(&records, &id, json),
        None => {
            list(&records, &args);
            Ok(())
        }
    }
}

fn list(records: &[Record], args: &HistoryArgs) {
    let mut chosen: Vec<&Record> = records
        .iter()
        .filter(|r| !args.failed || r.outcome != "ok")
        .collect();
    if let Some(n) = args.n {
        let skip = chosen.len().saturating_sub(n);
        chosen.drain(..skip);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&chosen).unwrap_or_default()
        );
        return;
    }
    if chosen.is_empty() {
        eprintln!("No operations recorded.");
        return;
    }
    println!(
        "{:<14} {:<19} {:<5} {:<16} {:>8} {:>10} {:>11}  WHAT",
        "ID", "STARTED (UTC)", "OP", "RESULT", "TIME", "MOVED", "AVG"
    );
    for r in chosen {
        let result = match &r.error_class {
            Some(class) if r.outcome == "failed" => format!("failed:{class}"),
            _ => r.outcome.clone(),
        };
        println!(
            "{:<14} {:<19} {:<5} {:<16} {:>8} {:>10} {:>11}  {} -> {}",
            r.id,
            r.start.get(..19).unwrap_or(&r.start).replace('T', " "),
            r.command,
            result,
            seconds(r.duration_ms),
            bytes(r.bytes_transferred),
            format!("{}/s", bytes(r.avg_bytes_per_second as u64)),
            r.source,
            r.target
        );
    }
}

fn seconds(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

fn show(records: &[Record], id: &str, json: bool) -> Result<(), CliError> {
    let matches: Vec<&Record> = records.iter().filter(|r| r.id.starts_with(id)).collect();
    let r = match matches.as_slice() {
        [r] => *r,
        [] => {
            return Err(CliError::Input(format!(
                "no operation {id} in the history (`tug history` lists them)"
            )))
        }
        _ => match matches.iter().find(|r| r.id == id) {
            Some(r) => *r,
            None => {
                return Err(CliError::Input(format!(
                    "{id} names {} operations; give more of the id",
                    matches.len()
                )))
            }
        },
    };
    if json {
        println!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return Ok(());
    }
    println!("id:          {}", r.id);
    println!(
        "operation:   {}{}",
        r.command,
        if r.dry_run { " (dry run)" } else { "" }
    );
    println!("source:      {}", r.source);
    println!("target:      {}", r.target);
    if let Some(d) = &r.digest {
        println!("digest:      {d}");
    }
    println!("started:     {}", r.start);
    println!("ended:       {} ({})", r.end, seconds(r.duration_ms));
    match (&r.error_class, &r.error) {
        (Some(class), Some(error)) => println!(
            "result:      {} (exit {}, {class}): {error}",
            r.outcome, r.exit_code
        ),
        _ => println!("result:      {} (exit {})", r.outcome, r.exit_code),
    }
    println!(
        "blobs:       {} ({} transferred, {} skipped, {} mounted)",
        r.blobs, r.blobs_transferred, r.blobs_skipped, r.blobs_mounted
    );
    println!(
        "bytes:       {} total, {} transferred, {} skipped, {} mounted",
        bytes(r.bytes_total),
        bytes(r.bytes_transferred),
        bytes(r.bytes_skipped),
        bytes(r.bytes_mounted)
    );
    println!(
        "throughput:  {}/s average, {}/s peak",
        bytes(r.avg_bytes_per_second as u64),
        bytes(r.peak_bytes_per_second as u64)
    );
    println!("retries:     {}", r.retries);
    if !r.blob_timings.is_empty() {
        println!();
        println!(
            "  {:<19} {:>10} {:>9} {:>9} {:>8} {:<10} {:>7}",
            "BLOB", "SIZE", "START", "END", "TIME", "OUTCOME", "RETRIES"
        );
        for b in &r.blob_timings {
            let short = b.digest.get(..19).unwrap_or(&b.digest);
            let outcome = if b.resumed_from > 0 {
                format!("{} (resumed at {})", b.outcome, bytes(b.resumed_from))
            } else {
                b.outcome.clone()
            };
            println!(
                "  {:<19} {:>10} {:>9} {:>9} {:>8} {:<10} {:>7}",
                short,
                bytes(b.size),
                seconds(b.start_ms),
                seconds(b.end_ms),
                seconds(b.end_ms.saturating_sub(b.start_ms)),
                outcome,
                b.retries
            );
        }
    }
    Ok(())
}

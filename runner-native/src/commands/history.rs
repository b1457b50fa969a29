//! `tug history`: the operations recorded in the state directory.

use crate::cli::{HistoryAction, HistoryArgs};
use crate::exit_code::CliError;
use crate::history::{self, Record};
use crate::output::{errln, outln};
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
        errln!(
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
        outln!(
            "{}",
            serde_json::to_string_pretty(&chosen).unwrap_or_default()
        );
        return;
    }
    if chosen.is_empty() {
        errln!("No operations recorded.");
        return;
    }
    outln!(
        "{:<14} {:<19} {:<5} {:<16} {:>8} {:>10} {:>11}  WHAT",
        "ID",
        "STARTED (UTC)",
        "OP",
        "RESULT",
        "TIME",
        "MOVED",
        "AVG"
    );
    for r in chosen {
        let result = match &r.error_class {
            Some(class) if r.outcome == "failed" => format!("failed:{class}"),
            // A plan, not a transfer: said where the outcome is.
            _ if r.dry_run => format!("{} (dry run)", r.outcome),
            _ => r.outcome.clone(),
        };
        outln!(
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
        outln!("{}", serde_json::to_string_pretty(r).unwrap_or_default());
        return Ok(());
    }
    outln!("id:          {}", r.id);
    outln!(
        "operation:   {}{}",
        r.command,
        if r.dry_run { " (dry run)" } else { "" }
    );
    outln!("source:      {}", r.source);
    outln!("target:      {}", r.target);
    if let Some(d) = &r.digest {
        outln!("digest:      {d}");
    }
    outln!("started:     {}", r.start);
    outln!("ended:       {} ({})", r.end, seconds(r.duration_ms));
    match (&r.error_class, &r.error) {
        (Some(class), Some(error)) => outln!(
            "result:      {} (exit {}, {class}): {error}",
            r.outcome,
            r.exit_code
        ),
        _ => outln!("result:      {} (exit {})", r.outcome, r.exit_code),
    }
    outln!(
        "blobs:       {} ({} transferred, {} skipped, {} mounted)",
        r.blobs,
        r.blobs_transferred,
        r.blobs_skipped,
        r.blobs_mounted
    );
    outln!(
        "bytes:       {} total, {} transferred, {} skipped, {} mounted",
        bytes(r.bytes_total),
        bytes(r.bytes_transferred),
        bytes(r.bytes_skipped),
        bytes(r.bytes_mounted)
    );
    outln!(
        "throughput:  {}/s average, {}/s peak",
        bytes(r.avg_bytes_per_second as u64),
        bytes(r.peak_bytes_per_second as u64)
    );
    outln!("retries:     {}", r.retries);
    if !r.blob_timings.is_empty() {
        outln!();
        outln!(
            "  {:<19} {:>10} {:>9} {:>9} {:>8} {:<10} {:>7}",
            "BLOB",
            "SIZE",
            "START",
            "END",
            "TIME",
            "OUTCOME",
            "RETRIES"
        );
        for b in &r.blob_timings {
            let short = b.digest.get(..19).unwrap_or(&b.digest);
            let outcome = if b.resumed_from > 0 {
                format!("{} (resumed at {})", b.outcome, bytes(b.resumed_from))
            } else {
                b.outcome.clone()
            };
            outln!(
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
    if !r.images.is_empty() {
        outln!();
        outln!("  {:<8} {:>10}  IMAGE", "OUTCOME", "BYTES");
        for i in &r.images {
            let error = i
                .error
                .as_ref()
                .map(|e| format!(": {e}"))
                .unwrap_or_default();
            outln!(
                "  {:<8} {:>10}  {} -> {}{error}",
                i.outcome,
                bytes(i.bytes),
                i.source,
                i.target
            );
        }
    }
    Ok(())
}

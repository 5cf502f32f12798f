//! `--dry-run`: what a run would do, printed instead of done. It walks the very actions the run would dispatch
//! (`super::actions`: the replayed trace or the profile's seeded schedule), so `--schedule-csv` logs the same rows a
//! real run would, and prints the schedule's summary. It sends nothing, makes no run folder and needs no broker or site.

use super::{actions, Ending, Options};
use crate::schedule;

/// What the run would do, counted (and logged to `--schedule-csv`), nothing sent.
pub(super) fn run(opts: &Options, lamps: usize) -> anyhow::Result<Ending> {
    let head = |what: &str| {
        crate::console::out(&format!("{what}, {lamps} lamp(s), {}", humantime::format_duration(opts.params.duration)));
    };
    if opts.replay.is_some() {
        let (actions, progress) = actions(opts)?;
        let n = actions.count();
        head(&format!("Dry run of a replay: {n} actions"));
        crate::console::out(&progress.expect("a replay has progress").lock().unwrap().to_string());
        return Ok(Ending::Completed);
    }
    if opts.schedule_csv.is_some() {
        actions(opts)?.0.for_each(drop);
    }
    let summary = schedule::summary(&opts.profile, &opts.params)?;
    head(&format!("profile {} ({}), seed {}", opts.profile.name, opts.profile.origin, opts.params.seed));
    crate::console::out(&summary.to_string());
    Ok(Ending::Completed)
}

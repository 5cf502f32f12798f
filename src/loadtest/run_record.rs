//! What a run folder says of the run before it starts: `run.json`, every parameter the run was given (the seed, the
//! profile or the replayed trace, the targets, the config it came from, the SLOs) so a run can be repeated and its
//! files read without the command line; and `profile.toml`, the exact profile the schedule came from (not for a
//! replay, whose actions come from the trace). Written once at the start; the recorder writes everything else.

use super::runner::LampId;
use super::Options;
use crate::config::Settings;

/// Writes `run.json` and, for a profile run, `profile.toml` into the run folder `opts.out` (which exists).
pub(super) fn write(
    opts: &Options,
    settings: &Settings,
    lamps: &[LampId],
    start: time::OffsetDateTime,
    replay_format: Option<String>,
) -> anyhow::Result<()> {
    let p = &opts.params;
    let profile = match &opts.replay {
        Some(_) => serde_json::Value::Null,
        None => serde_json::json!({"name": opts.profile.name, "origin": opts.profile.origin}),
    };
    let replay = opts.replay.as_ref().map(|r| serde_json::json!({"path": r.path, "format": replay_format}));
    let record = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "start": start.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "profile": profile, "replay": replay, "schedule_csv": opts.schedule_csv,
        "seed": p.seed, "devices": p.lamps, "first_lamp": opts.first_lamp, "this_lamp": opts.this_lamp,
        "duration_s": p.duration.as_secs_f64(), "rate": p.rate, "speed": p.speed, "start_hour": p.start_hour,
        "ramp_up_s": p.ramp_up.as_secs_f64(), "interval_s": opts.interval.as_secs_f64(), "timeout_s": opts.timeout.as_secs_f64(),
        "responder": if opts.internal_responder { "internal" } else { "external" },
        "topic_prefix": opts.topic_prefix, "user_pattern": opts.user_pattern,
        "broker": format!("{}:{}", settings.mqtt.host, settings.mqtt.port), "web": settings.web.url.as_str(),
        "config": settings.origin, "lamps_first_device": lamps.first().map(|l| l.device_id.clone()),
        "slos": opts.slos.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
        "locust_master": opts.locust.as_ref().map(|l| l.master.to_string()),
    });
    std::fs::write(opts.out.join("run.json"), serde_json::to_string_pretty(&record)? + "\n")?;
    if opts.replay.is_some() {
        return Ok(());
    }
    std::fs::write(
        opts.out.join("profile.toml"),
        opts.profile.to_toml(&[format!("the profile of this run, as loaded from {}", opts.profile.origin)]),
    )?;
    Ok(())
}

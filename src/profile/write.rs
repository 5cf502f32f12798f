//! Writing a profile as TOML with every key explained, so a derived file is as readable as a hand-written one.
//!
//! This module owns the comments that document the schema in every written (and so every shipped) profile; the
//! numbers are rounded to what a person can read and the reader accepts back unchanged.

use super::chain::{Interface, State};
use super::quantiles::num;
use super::{format_offset, Profile};

const INTRO: &str = "\
# A LAMPI usage profile: what lamp owners do in one time-of-day window, for `lampi-agent loadtest --profile NAME`.
# `lampi-agent profile show NAME` prints it readably. Every key is explained where it appears. Hours are profile
# time (UTC + tz_offset); think times, drag intervals and offline times are wall-clock seconds, never sped up by
# `--speed` (which only runs the profile's clock faster: arrivals and churn).
";

/// The whole file; `header` lines come first as comments.
pub(super) fn to_toml(p: &Profile, header: &[String]) -> String {
    let mut out = String::new();
    for line in header {
        out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    if !header.is_empty() {
        out.push_str("#\n");
    }
    out.push_str(INTRO);
    top(p, &mut out);
    arrivals(p, &mut out);
    share(p, &mut out);
    chains(p, &mut out);
    rest(p, &mut out);
    out
}

fn top(p: &Profile, out: &mut String) {
    out.push_str("\n# Short name (letters, digits, '-', '_'): what `--profile NAME` finds.\n");
    out.push_str(&format!("name = {:?}\n", p.name));
    out.push_str("# Free text shown by `profile show`.\n");
    out.push_str(&format!("description = {:?}\n", p.description));
    out.push_str(
        "# The hours this profile covers, [start, end): end may be past midnight ([22, 2]); [0, 24] is all day.\n\
         # A run starts at `--start-hour` (default: the window's start); a run longer than the window replays it.\n",
    );
    out.push_str(&format!("window = [{}, {}]\n", p.window.start, p.window.end));
    out.push_str("# Profile time = UTC + tz_offset (\"+HH:MM\" or \"-HH:MM\").\n");
    out.push_str(&format!("tz_offset = \"{}\"\n", format_offset(p.tz_offset_minutes)));
    out.push_str("# A session is ended after this many steps whatever the chain says (a safety cap).\n");
    out.push_str(&format!("max_actions = {}\n", p.max_actions));
    if !p.slos.is_empty() {
        out.push_str("# Objectives every run of this profile is judged by (see `lampi-agent loadtest --slo`).\n");
        let list: Vec<String> = p.slos.iter().map(|s| format!("{:?}", s.text)).collect();
        out.push_str(&format!("slo = [{}]\n", list.join(", ")));
    }
}

fn arrivals(p: &Profile, out: &mut String) {
    out.push_str(
        "\n# Session arrivals: sessions per lamp per hour, one key per hour of the window (the rate holds for the whole\n\
         # hour). Each lamp's sessions arrive as a Poisson process at this rate, times `--rate`; sessions overlap\n\
         # freely (an open model: nobody waits for the previous session to finish).\n[arrivals]\n",
    );
    for (h, rate) in p.window.hours().iter().zip(&p.rates) {
        out.push_str(&format!("{h} = {}\n", num(*rate, 3)));
    }
}

fn share(p: &Profile, out: &mut String) {
    out.push_str(
        "\n# Which interface a session uses (the shares add up to 1):\n\
         #   web      the Django site: login, pages, then set_config carrying the full state (100 ms throttle)\n\
         #   app      a phone app (iOS in the analytics): set_config with only the changed field, to the broker\n\
         #   lamp_ui  the lamp's touchscreen: the lamp itself publishes lamp/changed (device-originated traffic)\n\
         [share]\n",
    );
    for i in Interface::ALL {
        out.push_str(&format!("{} = {}\n", i.key(), num(p.share[i.index()], 3)));
    }
}

fn chains(p: &Profile, out: &mut String) {
    out.push_str(
        "\n# The session model: one Markov chain per interface, rows `from = { to = probability, ... }` adding up\n\
         # to 1. States: start (where every session begins), login, root (GET /), list (GET /lampi/), detail\n\
         # (GET /lampi/device/<id>), power (a toggle), hue / saturation / brightness (a slider drag), end. Login and\n\
         # pages are web-only. Analytics do not record logins: derived web chains begin with one, as a load test must.\n",
    );
    for i in Interface::ALL {
        let Some(chain) = p.chain(i) else { continue };
        out.push_str(&format!("[chain.{}]\n", i.key()));
        for from in State::ALL {
            let row = chain.row(from);
            if row.is_empty() {
                continue;
            }
            let cells: Vec<String> = row.iter().map(|(to, pr)| format!("{to} = {}", num(*pr, 3))).collect();
            out.push_str(&format!("{from} = {{ {} }}\n", cells.join(", ")));
        }
    }
}

fn rest(p: &Profile, out: &mut String) {
    out.push_str(
        "\n# Think times: seconds a person waits before a step, as quantiles { p0 = .., p50 = .., p100 = .. },\n\
         # sampled by inverse CDF with straight lines between the points. The first step of a session happens at its\n\
         # arrival; a session ends right after its last step.\n\
         #   page     before a page view\n\
         #   control  before a power toggle or a slider drag\n[think]\n",
    );
    out.push_str(&format!("page = {}\n", p.think.page.to_toml(2)));
    out.push_str(&format!("control = {}\n", p.think.control.to_toml(2)));
    out.push_str(
        "\n# Slider drags: a drag sends `length` messages (a draw, rounded, at least 1) `interval` apart (the web\n\
         # page's throttle), the value stepping evenly from the lamp's current value to the drag's target.\n[drag]\n",
    );
    out.push_str(&format!("interval = \"{}\"\n", humantime::format_duration(p.drag.interval)));
    out.push_str(&format!("length = {}\n", p.drag.length.to_toml(2)));
    out.push_str(
        "\n# Drag targets: where a drag of each slider ends, quantiles in [0, 1] (messages carry values rounded to\n\
         # 0.01). A lamp starts a run in its first-boot state: h = 1, s = 1, brightness = 1, on.\n[values]\n",
    );
    out.push_str(&format!("hue = {}\n", p.values.hue.to_toml(3)));
    out.push_str(&format!("saturation = {}\n", p.values.saturation.to_toml(3)));
    out.push_str(&format!("brightness = {}\n", p.values.brightness.to_toml(3)));
    out.push_str(
        "\n# Connection churn: MQTT disconnects (each followed by a reconnect) per lamp per hour of profile time, a\n\
         # Poisson process; `offline` is how long the lamp stays away each time, seconds as quantiles.\n[churn]\n",
    );
    out.push_str(&format!("per_hour = {}\n", num(p.churn.per_hour, 6)));
    out.push_str(&format!("offline = {}\n", p.churn.offline.to_toml(1)));
}

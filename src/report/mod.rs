//! `lampi-agent report`: a fleet view of many lamps' runs (`merge`, through [`crate::rundir::merge`]), a run drawn as
//! one self-contained HTML page ([`plot`]), two runs compared ([`compare`]).
//!
//! Reading run folders back is [`crate::rundir`]'s; the numbers stay in [`crate::metrics`]: merged intervals are
//! [`crate::metrics::IntervalReport`]s from exactly added histograms, written with the writers a single run uses, so
//! a merged folder has the same formats (and can itself be merged, plotted or compared). Nothing here averages
//! percentiles.

pub mod compare;
pub mod dist;
pub mod draw;
pub mod extras;
pub mod plot;

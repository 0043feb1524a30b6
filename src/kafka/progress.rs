//! How far one partition's work has come in record time: a bound below which every record of
//! the partition, fetched or not, has been finished by its handler (a low watermark, as stream
//! processors call it). A consumer downstream uses it to know that nothing older is still on its
//! way — the alarm manager waits for it before deciding whether an inhibition source appeared.
//!
//! Record time is the record's Kafka timestamp. The bound relies on timestamps growing along a
//! partition (as they do when producers stamp records as they send them): records not fetched
//! yet are taken to be no older than the newest one fetched. A partition known to be fetched to
//! its end is bounded by the present instead. This module keeps the books; it never waits.

use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct Progress {
    /// Fetched but not finished: (timestamp, offset), oldest first, and the timestamp by offset.
    unfinished: BTreeSet<(i64, i64)>,
    timestamps: HashMap<i64, i64>,
    /// The newest timestamp fetched so far.
    newest_fetched: Option<i64>,
    /// Nothing was fetched since the broker said the partition had no more records.
    at_end: bool,
}

impl Progress {
    pub fn fetched(&mut self, offset: i64, timestamp_ms: i64) {
        if self.timestamps.insert(offset, timestamp_ms).is_none() {
            self.unfinished.insert((timestamp_ms, offset));
        }
        self.newest_fetched = Some(self.newest_fetched.map_or(timestamp_ms, |newest| newest.max(timestamp_ms)));
        self.at_end = false;
    }

    pub fn finished(&mut self, offset: i64) {
        if let Some(timestamp) = self.timestamps.remove(&offset) {
            self.unfinished.remove(&(timestamp, offset));
        }
    }

    /// The broker reported the end of the partition after the last record fetched.
    pub fn reached_end(&mut self) {
        self.at_end = true;
    }

    /// Every record of the partition with a timestamp below this is finished; `None` until
    /// something is known (nothing fetched and the end not reached).
    pub fn low_watermark(&self, now_ms: i64) -> Option<i64> {
        let frontier = if self.at_end { Some(now_ms) } else { self.newest_fetched };
        let oldest_unfinished = self.unfinished.first().map(|(timestamp, _)| *timestamp);
        match (frontier, oldest_unfinished) {
            (Some(frontier), Some(oldest)) => Some(frontier.min(oldest)),
            (frontier, oldest) => frontier.or(oldest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn the_watermark_is_the_oldest_unfinished_record_or_the_newest_fetched() {
        let mut progress = Progress::default();
        assert_eq!(progress.low_watermark(1_000), None, "nothing known yet");
        progress.fetched(0, 100);
        progress.fetched(1, 105);
        progress.fetched(2, 103);
        assert_eq!(progress.low_watermark(1_000), Some(100));
        progress.finished(0);
        assert_eq!(progress.low_watermark(1_000), Some(103), "the oldest unfinished, not the lowest offset");
        progress.finished(2);
        progress.finished(1);
        assert_eq!(progress.low_watermark(1_000), Some(105), "unfetched records are no older than the newest fetched");
        progress.reached_end();
        assert_eq!(progress.low_watermark(1_000), Some(1_000), "at the end, the present");
        progress.fetched(3, 990);
        assert_eq!(progress.low_watermark(2_000), Some(990), "a record after the end ends it");
        progress.finished(3);
        progress.finished(3);
        assert_eq!(progress.low_watermark(2_000), Some(990));
    }

    #[test]
    fn a_record_fetched_again_is_counted_once() {
        let mut progress = Progress::default();
        progress.fetched(7, 50);
        progress.fetched(7, 50);
        progress.finished(7);
        progress.reached_end();
        assert_eq!(progress.low_watermark(60), Some(60));
    }
}

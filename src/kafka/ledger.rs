//! Which offsets of one partition are finished, and so how far the partition may be committed.
//!
//! Records start in offset order but may finish in any order. The committable offset is the
//! lowest unfinished one, or one past the last started record when none is pending: a record
//! still queued ahead of its worker is never skipped by a commit.

use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct Ledger {
    pending: BTreeSet<i64>,
    /// One past the highest offset started.
    next: Option<i64>,
}

impl Ledger {
    pub fn begin(&mut self, offset: i64) {
        self.pending.insert(offset);
        self.next = Some(self.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    pub fn finish(&mut self, offset: i64) {
        self.pending.remove(&offset);
    }

    /// The offset to commit (Kafka's convention: the next one to read), if any record started.
    pub fn committable(&self) -> Option<i64> {
        self.pending.first().copied().or(self.next)
    }

}

#[cfg(test)]
mod tests {
    use super::Ledger;

    #[test]
    fn commits_stop_at_the_lowest_unfinished_offset() {
        let mut ledger = Ledger::default();
        assert_eq!(ledger.committable(), None, "nothing started, nothing to commit");
        for offset in [10, 11, 12, 14] {
            ledger.begin(offset);
        }
        assert_eq!(ledger.committable(), Some(10));
        ledger.finish(11);
        ledger.finish(14);
        assert_eq!(ledger.committable(), Some(10), "an early record still pending holds the commit");
        ledger.finish(10);
        assert_eq!(ledger.committable(), Some(12));
        ledger.finish(12);
        assert_eq!(ledger.committable(), Some(15), "all finished: one past the last started, over the gap at 13");
    }
}

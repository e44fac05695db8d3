//! Grouping listed entries into DeleteObjects batches.

use super::MAX_BATCH;

/// Groups items into batches of at most `size`.
#[derive(Debug)]
pub struct Batcher<T> {
    size: usize,
    buffer: Vec<T>,
}

impl<T> Batcher<T> {
    pub fn new(size: usize) -> Self {
        let size = size.clamp(1, MAX_BATCH);
        Batcher { size, buffer: Vec::with_capacity(size) }
    }

    /// Adds an item; returns a full batch when this item completed one.
    pub fn push(&mut self, item: T) -> Option<Vec<T>> {
        self.buffer.push(item);
        (self.buffer.len() >= self.size).then(|| std::mem::replace(&mut self.buffer, Vec::with_capacity(self.size)))
    }

    /// The last, partial batch.
    pub fn finish(&mut self) -> Option<Vec<T>> {
        (!self.buffer.is_empty()).then(|| std::mem::take(&mut self.buffer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_full_then_partial() {
        let mut batcher = Batcher::new(1000);
        let mut full = Vec::new();
        for i in 0..2500 {
            if let Some(batch) = batcher.push(i) {
                full.push(batch);
            }
        }
        assert_eq!(full.iter().map(Vec::len).collect::<Vec<_>>(), [1000, 1000]);
        assert_eq!(full[1][0], 1000);
        assert_eq!(batcher.finish().map(|b| b.len()), Some(500));
        assert_eq!(batcher.finish(), None);
    }

    #[test]
    fn batch_size_is_bounded_by_the_api_limit() {
        let mut batcher = Batcher::new(5000);
        let sizes: Vec<usize> = (0..2001).filter_map(|i| batcher.push(i)).map(|b| b.len()).collect();
        assert_eq!(sizes, [1000, 1000]);
        let mut tiny = Batcher::new(0);
        assert_eq!(tiny.push('a'), Some(vec!['a']));
    }
}

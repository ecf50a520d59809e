//! An ordered parallel data loader: items are fetched (decoded, augmented) and batched on N
//! worker threads, and batches come out in the same order with the same content for every N.
//!
//! Burn's multi-threaded `DataLoader` splits the data set into N contiguous parts and returns
//! batches as workers finish them, so the batch order (and with it the training) depends on
//! thread scheduling. Here batch `k` of an epoch is always made of the same items (the shuffled
//! order is the one Burn's single-threaded loader makes with the same seed): workers take
//! batch numbers from a counter, at most `2N` batches ahead of the one the consumer waits for
//! (memory stays bounded), and the consumer reorders what arrives. Per-item randomness is keyed
//! by (seed, item, epoch) and per-batch randomness (MixUp) by the batch's number, never by which
//! thread got there first.

use crate::{
    ClassificationBatch, ClassificationBatcher, ImageItem, ImageSet, MixingBatcher,
    augment::{Augmentable, Pipeline, Rng},
};
use burn::{
    data::{
        dataloader::{DataLoader, DataLoaderIterator, Progress},
        dataset::{Dataset, DatasetError, InMemDataset, transform::ShuffledDataset},
    },
    tensor::Device,
};
use rand::{SeedableRng, rngs::StdRng};
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        mpsc,
    },
    time::Instant,
};

/// Turns items into a batch; `index` numbers the batch from the loader's first epoch
/// (`epoch × batches per epoch + k`), for batch-level randomness that does not depend on threads.
pub trait IndexedBatcher<O>: Send + Sync {
    /// # Shapes
    /// as the batch type says (images `[n, c, h, w]` for classification)
    fn batch(&self, items: Vec<ImageItem>, index: u64, device: &Device) -> O;
}

impl IndexedBatcher<ClassificationBatch> for ClassificationBatcher {
    fn batch(&self, items: Vec<ImageItem>, _index: u64, device: &Device) -> ClassificationBatch {
        burn::data::dataloader::batcher::Batcher::batch(self, items, device)
    }
}

impl IndexedBatcher<ClassificationBatch> for MixingBatcher {
    fn batch(&self, items: Vec<ImageItem>, index: u64, device: &Device) -> ClassificationBatch {
        self.batch_numbered(items, index, device)
    }
}

/// How a loader batches.
#[derive(Clone, Debug, PartialEq)]
pub struct LoaderConfig {
    /// Items per batch (the last batch may be smaller).
    pub batch_size: usize,
    /// Shuffle every epoch with this seed (the order is a function of seed and epoch).
    pub shuffle: Option<u64>,
    /// Worker threads; 0 fetches and batches on the consumer's thread.
    pub workers: usize,
    /// The epoch the first `iter()` is (a resumed run continues the sequence).
    pub first_epoch: usize,
    /// Skip (and count) items that cannot be decoded instead of failing on them.
    pub skip_bad: bool,
    /// Seed of the per-item randomness.
    pub seed: u64,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        Self {
            batch_size: 64,
            shuffle: None,
            workers: 0,
            first_epoch: 0,
            skip_bad: false,
            seed: 0,
        }
    }
}

/// What a loader did so far: items fetched and skipped, and the time spent fetching and
/// batching them, summed over workers.
#[derive(Debug, Default)]
pub struct LoaderStats {
    items: AtomicUsize,
    skipped: AtomicUsize,
    busy_nanos: AtomicU64,
    skipped_files: Mutex<Vec<String>>,
}

impl LoaderStats {
    /// Items fetched into batches.
    pub fn items(&self) -> usize {
        self.items.load(Ordering::Relaxed)
    }

    /// Items skipped as undecodable (with `skip_bad`).
    pub fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    /// A few of the skipped items, with why.
    pub fn skipped_sample(&self) -> Vec<String> {
        self.skipped_files.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Seconds of work (decoding, augmenting, batching), summed over workers.
    pub fn busy_seconds(&self) -> f64 {
        self.busy_nanos.load(Ordering::Relaxed) as f64 * 1e-9
    }
}

/// The ordered parallel loader over an [`ImageSet`], with a per-item pipeline.
pub struct OrderedLoader<O> {
    set: ImageSet,
    pipeline: Arc<Pipeline>,
    batcher: Arc<dyn IndexedBatcher<O>>,
    config: LoaderConfig,
    device: Device,
    epoch: Arc<AtomicUsize>,
    shuffler: Option<Arc<Mutex<Shuffler>>>,
    stats: Arc<LoaderStats>,
}

/// The generator of the epochs' orders, and how many epochs' orders to skip before the next
/// one (a resumed run).
struct Shuffler {
    rng: StdRng,
    skip: usize,
}

impl<O> Clone for OrderedLoader<O> {
    fn clone(&self) -> Self {
        Self {
            set: self.set.clone(),
            pipeline: self.pipeline.clone(),
            batcher: self.batcher.clone(),
            config: self.config.clone(),
            device: self.device.clone(),
            epoch: self.epoch.clone(),
            shuffler: self.shuffler.clone(),
            stats: self.stats.clone(),
        }
    }
}

/// The order of `n` items in the next epoch of a shuffling loader: exactly what Burn's own data
/// loader does with `shuffle(seed)` (a `StdRng` seeded once, forked into a `ShuffledDataset` at
/// every epoch), so runs keep the orders they had with it.
fn shuffled(rng: &mut StdRng, n: usize) -> Vec<usize> {
    let shuffled = ShuffledDataset::new(InMemDataset::new((0..n).collect::<Vec<usize>>()), rng);
    (0..n)
        .map(|i| shuffled.get(i).expect("an index within the data set"))
        .collect()
}

impl<O: Send + 'static> OrderedLoader<O> {
    /// A loader of `set`'s items through `pipeline`, batched by `batcher` on `device`.
    pub fn new(
        set: ImageSet,
        pipeline: Pipeline,
        batcher: Arc<dyn IndexedBatcher<O>>,
        config: LoaderConfig,
        device: Device,
    ) -> Self {
        let epoch = Arc::new(AtomicUsize::new(config.first_epoch));
        // A resumed run continues the sequence of orders where it stopped.
        let shuffler = config.shuffle.map(|seed| {
            Arc::new(Mutex::new(Shuffler {
                rng: StdRng::seed_from_u64(seed),
                skip: config.first_epoch,
            }))
        });
        Self {
            set,
            pipeline: Arc::new(pipeline),
            batcher,
            config,
            device,
            epoch,
            shuffler,
            stats: Default::default(),
        }
    }

    /// What the loader did so far.
    pub fn stats(&self) -> Arc<LoaderStats> {
        self.stats.clone()
    }

    /// Batches per epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.set.len().div_ceil(self.config.batch_size.max(1))
    }

    /// The item indices of every batch of the next epoch, in order.
    fn plan(&self) -> Vec<Vec<usize>> {
        let n = self.set.len();
        let order: Vec<usize> = match &self.shuffler {
            Some(shuffler) => {
                let mut s = shuffler.lock().unwrap_or_else(|p| p.into_inner());
                for _ in 0..std::mem::take(&mut s.skip) {
                    shuffled(&mut s.rng, n);
                }
                shuffled(&mut s.rng, n)
            }
            None => (0..n).collect(),
        };
        order
            .chunks(self.config.batch_size.max(1))
            .map(<[usize]>::to_vec)
            .collect()
    }

    /// An iterator over the batches of the next epoch (each call is one epoch).
    pub fn epoch_iter(&self) -> OrderedIter<O> {
        let epoch = self.epoch.fetch_add(1, Ordering::SeqCst);
        let plan = self.plan();
        let first_index = (epoch * plan.len()) as u64;
        let job = Arc::new(Job {
            set: self.set.clone(),
            pipeline: self.pipeline.clone(),
            batcher: self.batcher.clone(),
            device: self.device.clone(),
            seed: self.config.seed,
            skip_bad: self.config.skip_bad,
            epoch,
            first_index,
            plan,
            stats: self.stats.clone(),
        });
        OrderedIter::start(job, self.config.workers)
    }
}

/// Everything a worker needs to make batch `k` of one epoch.
struct Job<O> {
    set: ImageSet,
    pipeline: Arc<Pipeline>,
    batcher: Arc<dyn IndexedBatcher<O>>,
    device: Device,
    seed: u64,
    skip_bad: bool,
    epoch: usize,
    first_index: u64,
    plan: Vec<Vec<usize>>,
    stats: Arc<LoaderStats>,
}

impl<O> Job<O> {
    /// Batch `k`, or `Ok(None)` when every item of it was skipped.
    fn make(&self, k: usize) -> Result<Option<(O, usize)>, DatasetError> {
        let started = Instant::now();
        let mut items = Vec::with_capacity(self.plan[k].len());
        for &i in &self.plan[k] {
            match self.set.get(i) {
                Ok(item) => {
                    let item = if self.pipeline.is_empty() {
                        item
                    } else {
                        let mut rng = Rng::for_sample(self.seed, i as u64, self.epoch as u64);
                        ImageItem::from_sample(self.pipeline.apply(item.into_sample(), &mut rng))
                    };
                    items.push(item);
                }
                Err(e) if self.skip_bad => {
                    self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                    if let Ok(mut v) = self.stats.skipped_files.lock()
                        && v.len() < 10
                    {
                        v.push(e.to_string());
                    }
                }
                Err(e) => return Err(DatasetError::new(e)),
            }
        }
        let n = items.len();
        let out = (n > 0).then(|| self.batcher.batch(items, self.first_index + k as u64, &self.device));
        self.stats.items.fetch_add(n, Ordering::Relaxed);
        self.stats
            .busy_nanos
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        Ok(out.map(|o| (o, n)))
    }
}

type Made<O> = Result<Option<(O, usize)>, DatasetError>;

/// Coordination between the consumer and the workers of one epoch.
struct Shared {
    /// The next batch number a worker may take.
    next: AtomicUsize,
    /// The batch the consumer waits for; workers stay within `window` of it.
    waiting_for: Mutex<usize>,
    moved: Condvar,
    window: usize,
    stop: AtomicBool,
}

/// The batches of one epoch, in order.
pub struct OrderedIter<O> {
    job: Arc<Job<O>>,
    shared: Arc<Shared>,
    receiver: Option<mpsc::Receiver<(usize, Made<O>)>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    pending: BTreeMap<usize, Made<O>>,
    next: usize,
    items_done: usize,
}

impl<O: Send + 'static> OrderedIter<O> {
    fn start(job: Arc<Job<O>>, workers: usize) -> Self {
        let shared = Arc::new(Shared {
            next: AtomicUsize::new(0),
            waiting_for: Mutex::new(0),
            moved: Condvar::new(),
            window: 2 * workers.max(1),
            stop: AtomicBool::new(false),
        });
        let (receiver, handles) = if workers == 0 {
            (None, Vec::new())
        } else {
            let (sender, receiver) = mpsc::channel();
            let handles = (0..workers)
                .map(|_| {
                    let (job, shared, sender) = (job.clone(), shared.clone(), sender.clone());
                    std::thread::spawn(move || work(&job, &shared, &sender))
                })
                .collect();
            (Some(receiver), handles)
        };
        Self {
            job,
            shared,
            receiver,
            workers: handles,
            pending: BTreeMap::new(),
            next: 0,
            items_done: 0,
        }
    }
}

fn work<O>(job: &Job<O>, shared: &Shared, sender: &mpsc::Sender<(usize, Made<O>)>) {
    loop {
        let k = shared.next.fetch_add(1, Ordering::SeqCst);
        if k >= job.plan.len() {
            return;
        }
        {
            let mut waiting = shared.waiting_for.lock().unwrap_or_else(|p| p.into_inner());
            while k >= *waiting + shared.window && !shared.stop.load(Ordering::SeqCst) {
                waiting = shared.moved.wait(waiting).unwrap_or_else(|p| p.into_inner());
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        // A panic while making a batch (inside Burn, say) becomes that batch's error.
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.make(k))).unwrap_or_else(|_| {
            Err(DatasetError::new(crate::DataError::Mismatch(format!(
                "a data-loader worker panicked making batch {k}"
            ))))
        });
        if sender.send((k, made)).is_err() {
            return;
        }
    }
}

impl<O: Send + 'static> Iterator for OrderedIter<O> {
    type Item = Result<O, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.next >= self.job.plan.len() {
                return None;
            }
            let k = self.next;
            let made = match &self.receiver {
                None => self.job.make(k),
                Some(receiver) => loop {
                    if let Some(m) = self.pending.remove(&k) {
                        break m;
                    }
                    match receiver.recv() {
                        Ok((j, m)) => {
                            self.pending.insert(j, m);
                        }
                        Err(_) => {
                            break Err(DatasetError::new(crate::DataError::Mismatch(
                                "the data-loader workers stopped".into(),
                            )));
                        }
                    }
                },
            };
            self.next += 1;
            *self.shared.waiting_for.lock().unwrap_or_else(|p| p.into_inner()) = self.next;
            self.shared.moved.notify_all();
            match made {
                Ok(Some((batch, n))) => {
                    self.items_done += n;
                    return Some(Ok(batch));
                }
                Ok(None) => continue,
                Err(e) => {
                    self.next = self.job.plan.len();
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<O: Send + 'static> DataLoaderIterator<O> for OrderedIter<O> {
    fn progress(&self) -> Progress {
        Progress::new(self.items_done, self.job.set.len(), None)
    }
}

impl<O> Drop for OrderedIter<O> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.moved.notify_all();
        self.receiver = None;
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

impl<O: Send + 'static> DataLoader<O> for OrderedLoader<O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        Box::new(self.epoch_iter())
    }

    fn num_items(&self) -> usize {
        self.set.len()
    }

    /// The loader on another device. As Burn's loader does, the copy shuffles with a generator
    /// forked from this one's (which advances it).
    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        let mut loader = self.clone();
        loader.device = device.clone();
        loader.epoch = Arc::new(AtomicUsize::new(self.epoch.load(Ordering::SeqCst)));
        loader.shuffler = self.shuffler.as_ref().map(|shuffler| {
            let mut s = shuffler.lock().unwrap_or_else(|p| p.into_inner());
            let rng = s.rng.fork();
            Arc::new(Mutex::new(Shuffler { rng, skip: s.skip }))
        });
        Arc::new(loader)
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        let indices: Vec<usize> = (start..end.min(self.set.len())).collect();
        Arc::new(OrderedLoader::new(
            self.set.subset(&indices),
            (*self.pipeline).clone(),
            self.batcher.clone(),
            self.config.clone(),
            self.device.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::parse;
    use kiln_core::Preprocessing;

    fn set(n: usize) -> ImageSet {
        ImageSet::memory(
            (0..n)
                .map(|i| ImageItem {
                    pixels: (0..16).map(|p| (i * 7 + p) as u8).collect(),
                    channels: 1,
                    height: 4,
                    width: 4,
                    label: i % 3,
                })
                .collect(),
        )
    }

    fn batches(workers: usize) -> Vec<(Vec<f32>, Vec<i64>)> {
        let device = kiln_core::device("flex").unwrap();
        let p = Preprocessing {
            height: 4,
            width: 4,
            ..Preprocessing::mnist()
        };
        let loader = OrderedLoader::new(
            set(37),
            parse("crop:4,pad=1;flip").unwrap().pipeline,
            Arc::new(ClassificationBatcher::new(&p)),
            LoaderConfig {
                batch_size: 5,
                shuffle: Some(7),
                workers,
                seed: 3,
                ..Default::default()
            },
            device,
        );
        (0..2)
            .flat_map(|_| loader.epoch_iter().collect::<Vec<_>>())
            .map(|b| {
                let b = b.unwrap();
                (kiln_core::floats(b.images), kiln_core::ints(b.targets))
            })
            .collect()
    }

    #[test]
    fn batches_are_the_same_for_every_worker_count() {
        let one = batches(0);
        assert_eq!(one.len(), 16, "8 batches per epoch, 2 epochs");
        assert_ne!(one[0], one[8], "epochs are shuffled differently");
        assert_eq!(batches(1), one);
        assert_eq!(batches(3), one);
    }
}

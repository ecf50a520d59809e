//! The shipped MNIST files: checksums, counts, and the errors of a bad data directory.

use kiln_data::{
    fetch::{MNIST_FILES, verify},
    mnist::{self, MnistKind},
};

#[test]
fn shipped_mnist_matches_its_checksums_and_official_counts() {
    let dir = super::common::root().join("datasets/mnist");
    verify(&dir, &MNIST_FILES).unwrap();
    let data = mnist::load(&dir, MnistKind::Mnist).unwrap();
    assert_eq!((data.train.len(), data.test.len()), (60_000, 10_000));
    let mut counts = [0usize; 10];
    data.train.labels().into_iter().for_each(|l| counts[l] += 1);
    // Per-class counts of the official training set.
    assert_eq!(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    let first: Vec<usize> = data.test.labels()[..5].to_vec();
    assert_eq!(first, [7, 2, 1, 0, 4]);
}

#[test]
fn missing_data_set_says_where_it_looked_and_how_to_get_it() {
    let empty = tempfile::tempdir().unwrap();
    let msg = kiln::tasks::load_dataset("fashion-mnist", &[empty.path().to_path_buf()])
        .unwrap_err()
        .to_string();
    assert!(msg.contains("cargo xtask data fashion-mnist"), "{msg}");
    assert!(msg.contains(&empty.path().display().to_string()), "{msg}");
    let msg = kiln::tasks::load_dataset("cifar-1000", &[]).unwrap_err().to_string();
    assert!(msg.contains("unknown data set") && msg.contains("mnist"), "{msg}");
}

#[test]
fn images_and_labels_that_disagree_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = super::common::root().join("datasets/mnist");
    for f in [
        "train-images-idx3-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    // Labels of the test split standing in for the training labels: 10,000 vs 60,000.
    std::fs::copy(
        src.join("t10k-labels-idx1-ubyte.gz"),
        dir.path().join("train-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let msg = mnist::load(dir.path(), MnistKind::Mnist).unwrap_err().to_string();
    assert!(
        msg.contains("60000 images but") && msg.contains("10000 labels"),
        "{msg}"
    );
}

//! Metrics of dense tasks, accumulated over a data set.

/// A confusion matrix of per-pixel classes: pixel accuracy and (mean) intersection over union.
#[derive(Clone, Debug, PartialEq)]
pub struct SegMetrics {
    /// Classes.
    pub classes: usize,
    /// `confusion[truth * classes + predicted]` pixel counts.
    pub confusion: Vec<u64>,
}

impl SegMetrics {
    /// An empty matrix.
    pub fn new(classes: usize) -> Self {
        Self {
            classes,
            confusion: vec![0; classes * classes],
        }
    }

    /// Adds a batch of (truth, predicted) class maps, same length.
    pub fn update(&mut self, truth: &[i64], predicted: &[i64]) {
        for (&t, &p) in truth.iter().zip(predicted) {
            let (t, p) = (t as usize, p as usize);
            if t < self.classes && p < self.classes {
                self.confusion[t * self.classes + p] += 1;
            }
        }
    }

    /// Correct pixels / pixels.
    pub fn pixel_accuracy(&self) -> f64 {
        let correct: u64 = (0..self.classes).map(|c| self.confusion[c * self.classes + c]).sum();
        correct as f64 / self.confusion.iter().sum::<u64>().max(1) as f64
    }

    /// IoU of each class: `TP / (TP + FP + FN)`; `None` for a class neither present nor
    /// predicted.
    pub fn iou_per_class(&self) -> Vec<Option<f64>> {
        let n = self.classes;
        (0..n)
            .map(|c| {
                let tp = self.confusion[c * n + c];
                let truth: u64 = (0..n).map(|p| self.confusion[c * n + p]).sum();
                let predicted: u64 = (0..n).map(|t| self.confusion[t * n + c]).sum();
                let union = truth + predicted - tp;
                (union > 0).then(|| tp as f64 / union as f64)
            })
            .collect()
    }

    /// Mean IoU over the classes that occur (in the truth or the prediction), background
    /// included, as in Pascal VOC.
    pub fn mean_iou(&self) -> f64 {
        let ious: Vec<f64> = self.iou_per_class().into_iter().flatten().collect();
        ious.iter().sum::<f64>() / ious.len().max(1) as f64
    }
}

/// Classification + localization metrics over a data set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BoxMetrics {
    /// Samples seen.
    pub count: usize,
    /// Sum of IoUs.
    pub iou_sum: f64,
    /// Samples whose predicted box has IoU ≥ 0.5 with the true one.
    pub localized: usize,
    /// Samples whose class is right.
    pub classified: usize,
    /// Samples whose class is right **and** box IoU ≥ 0.5 (the ILSVRC localization criterion).
    pub both: usize,
}

impl BoxMetrics {
    /// Adds one sample.
    pub fn update(&mut self, iou: f64, class_correct: bool) {
        self.count += 1;
        self.iou_sum += iou;
        let hit = iou >= 0.5;
        self.localized += hit as usize;
        self.classified += class_correct as usize;
        self.both += (hit && class_correct) as usize;
    }

    fn rate(&self, n: usize) -> f64 {
        n as f64 / self.count.max(1) as f64
    }

    /// Mean IoU.
    pub fn mean_iou(&self) -> f64 {
        self.iou_sum / self.count.max(1) as f64
    }

    /// Fraction with IoU ≥ 0.5.
    pub fn acc_iou50(&self) -> f64 {
        self.rate(self.localized)
    }

    /// Classification accuracy.
    pub fn class_accuracy(&self) -> f64 {
        self.rate(self.classified)
    }

    /// Fraction with the right class and IoU ≥ 0.5.
    pub fn joint_accuracy(&self) -> f64 {
        self.rate(self.both)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_from_a_hand_made_confusion() {
        let mut m = SegMetrics::new(3);
        // truth:     0 0 1 1 2 2
        // predicted: 0 1 1 1 2 0
        m.update(&[0, 0, 1, 1, 2, 2], &[0, 1, 1, 1, 2, 0]);
        assert!((m.pixel_accuracy() - 4.0 / 6.0).abs() < 1e-12);
        let iou = m.iou_per_class();
        // class 0: tp 1, truth 2, predicted 2 → 1/3; class 1: tp 2, truth 2, pred 3 → 2/3;
        // class 2: tp 1, truth 2, pred 1 → 1/2.
        let expected = [1.0 / 3.0, 2.0 / 3.0, 0.5];
        for (a, e) in iou.iter().zip(expected) {
            assert!((a.unwrap() - e).abs() < 1e-12, "{iou:?}");
        }
        assert!((m.mean_iou() - 0.5).abs() < 1e-12);
    }

    #[test]
    fn absent_classes_do_not_count() {
        let mut m = SegMetrics::new(4);
        m.update(&[0, 1], &[0, 1]);
        assert_eq!(m.mean_iou(), 1.0);
    }

    #[test]
    fn box_rates() {
        let mut m = BoxMetrics::default();
        m.update(0.7, true);
        m.update(0.4, true);
        m.update(0.9, false);
        m.update(0.5, true);
        assert_eq!((m.localized, m.classified, m.both), (3, 3, 2));
        assert!((m.joint_accuracy() - 0.5).abs() < 1e-12);
    }
}

//! Box arithmetic on tensors: format conversion, IoU, losses.

use burn::tensor::Tensor;

/// `[cx, cy, w, h]` → `[x0, y0, x1, y1]`.
///
/// # Shapes
/// `[n, 4]` → `[n, 4]`
pub fn cxcywh_to_xyxy(b: Tensor<2>) -> Tensor<2> {
    let c = b.clone().narrow(1, 0, 2);
    let half = b.narrow(1, 2, 2) / 2.0;
    Tensor::cat(vec![c.clone() - half.clone(), c + half], 1)
}

/// Intersection over union of matching rows of two sets of `[x0, y0, x1, y1]` boxes (0 when
/// both are empty).
///
/// # Shapes
/// `[n, 4]`, `[n, 4]` → `[n]`
pub fn box_iou(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let (inter, union) = inter_union(a, b);
    let n = inter.dims()[0];
    (inter / union.clamp_min(1e-9)).reshape([n])
}

fn area(b: Tensor<2>) -> Tensor<2> {
    let wh = (b.clone().narrow(1, 2, 2) - b.narrow(1, 0, 2)).clamp_min(0.0);
    wh.clone().narrow(1, 0, 1) * wh.narrow(1, 1, 1)
}

fn inter_union(a: Tensor<2>, b: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let lo = a.clone().narrow(1, 0, 2).max_pair(b.clone().narrow(1, 0, 2));
    let hi = a.clone().narrow(1, 2, 2).min_pair(b.clone().narrow(1, 2, 2));
    let wh = (hi - lo).clamp_min(0.0);
    let inter = wh.clone().narrow(1, 0, 1) * wh.narrow(1, 1, 1);
    let union = area(a) + area(b) - inter.clone();
    (inter, union)
}

/// Generalised IoU loss (Rezatofighi et al. 2019), `1 - GIoU`, averaged over the rows; unlike
/// `1 - IoU` it still has a gradient when the boxes do not overlap.
///
/// # Shapes
/// `[n, 4]`, `[n, 4]` (xyxy) → `[1]`
pub fn giou_loss(pred: Tensor<2>, target: Tensor<2>) -> Tensor<1> {
    let (inter, union) = inter_union(pred.clone(), target.clone());
    let lo = pred.clone().narrow(1, 0, 2).min_pair(target.clone().narrow(1, 0, 2));
    let hi = pred.narrow(1, 2, 2).max_pair(target.narrow(1, 2, 2));
    let wh = (hi - lo).clamp_min(0.0);
    let hull = (wh.clone().narrow(1, 0, 1) * wh.narrow(1, 1, 1)).clamp_min(1e-9);
    let union = union.clamp_min(1e-9);
    let giou = inter / union.clone() - (hull.clone() - union) / hull;
    (giou.neg() + 1.0).mean()
}

/// Smooth L1 (Huber with δ = `beta`), averaged over every element (Fast R-CNN's box loss).
///
/// # Shapes
/// `[n, k]`, `[n, k]` → `[1]`
pub fn smooth_l1(pred: Tensor<2>, target: Tensor<2>, beta: f32) -> Tensor<1> {
    let d = (pred - target).abs();
    let small = d.clone().lower_elem(beta);
    let quadratic = d.clone().powf_scalar(2.0) * (0.5 / beta);
    let linear = d - 0.5 * beta;
    linear.mask_where(small, quadratic).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t(v: Vec<f32>, n: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [n, 4]), &Device::flex())
    }

    #[test]
    fn iou_of_known_boxes() {
        let a = t(vec![0., 0., 2., 2., 0., 0., 1., 1., 0., 0., 1., 1.], 3);
        let b = t(vec![1., 1., 3., 3., 0., 0., 1., 1., 2., 2., 3., 3.], 3);
        let iou = box_iou(a, b).to_data().try_to_vec::<f32>().unwrap();
        assert!((iou[0] - 1.0 / 7.0).abs() < 1e-6, "{iou:?}");
        assert!((iou[1] - 1.0).abs() < 1e-6);
        assert_eq!(iou[2], 0.0);
    }

    #[test]
    fn giou_penalises_distance_between_disjoint_boxes() {
        let target = t(vec![0., 0., 1., 1., 0., 0., 1., 1.], 2);
        let near = giou_loss(t(vec![1.5, 0., 2.5, 1., 1.5, 0., 2.5, 1.], 2), target.clone()).into_scalar::<f32>();
        let far = giou_loss(t(vec![3., 0., 4., 1., 3., 0., 4., 1.], 2), target.clone()).into_scalar::<f32>();
        let same = giou_loss(target.clone(), target).into_scalar::<f32>();
        assert!(same.abs() < 1e-6 && near > 1.0 && far > near, "{same} {near} {far}");
    }

    #[test]
    fn smooth_l1_is_quadratic_then_linear() {
        let z = t(vec![0.; 4], 1);
        let v = smooth_l1(t(vec![0.5, 2.0, 0.0, 0.0], 1), z, 1.0).into_scalar::<f32>();
        // 0.5·0.25 + (2 - 0.5) = 1.625, over 4 elements.
        assert!((v - 1.625 / 4.0).abs() < 1e-6, "{v}");
    }

    #[test]
    fn cxcywh_converts() {
        let b = cxcywh_to_xyxy(t(vec![0.5, 0.5, 0.2, 0.4], 1))
            .to_data()
            .try_to_vec::<f32>()
            .unwrap();
        let e = [0.4, 0.3, 0.6, 0.7];
        assert!(b.iter().zip(e).all(|(a, e)| (a - e).abs() < 1e-6), "{b:?}");
    }
}
